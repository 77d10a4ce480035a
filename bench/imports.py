"""Benchmark: CSV imports of customers and orders on the embedded nx-27017, and a re-import.

Run: .venv/bin/python -m bench.imports [ROWS]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from chatcrm.embedded import EmbeddedMongo
from chatcrm.imports import run_import
from chatcrm.secrets_box import SecretBox
from chatcrm.store import Store


def files(n: int) -> tuple[bytes, bytes]:
    customers = ["channel,platform_user_id,name,phone,province,tags"]
    orders = ["order_id,customer_channel,customer_platform_user_id,amount,status,paid_at"]
    for i in range(n):
        customers.append(f"line,U{i:08d},ลูกค้า {i},08{i:08d},กรุงเทพมหานคร,VIP;ลูกค้าประจำ")
        orders.append(f"B-{i},line,U{i:08d},{100 + i % 900}.50,paid,2026-11-20T10:15:00+07:00")
    return "\n".join(customers).encode(), "\n".join(orders).encode()


async def main(uri: str, n: int) -> None:
    store = Store.connect(uri, "bench", SecretBox(SecretBox.generate_key()))
    await store.ensure_indexes()
    shop = await store.shops.create("bench")
    scoped = store.for_shop(shop.id)
    customers, orders = files(n)
    for label, kind, data in (
        ("customers", "customers", customers),
        ("customers again", "customers", customers),
        ("orders", "orders", orders),
        ("orders again", "orders", orders),
    ):
        start = time.perf_counter()
        report = await run_import(scoped, kind, data, "THB", "bench", "bench")
        took = time.perf_counter() - start
        print(
            f"{label:16} {n} rows  {took:6.2f} s  {n / took:7.0f} rows/s  "
            f"created={report.created} updated={report.updated} unchanged={report.unchanged}"
        )
    await store.client.drop_database("bench")
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", type=int, nargs="?", default=2000, help="rows per file (2000)")
    count = parser.parse_args().rows
    server = EmbeddedMongo(Path(tempfile.mkdtemp()))
    try:
        asyncio.run(main(server.start(), count))
    finally:
        server.stop()
