"""Benchmark: CSV imports of hostile numbers, and how long they stall the event loop.

A ticker task on the same event loop as the import records the longest gap between its ticks
(every 10 ms): the longest time webhooks and API requests would have waited. Runs on the
embedded nx-27017.

Run: .venv/bin/python -m bench.import_stall [--rows N] [--skip-single]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path

from chatcrm.app import freeze_long_lived
from chatcrm.embedded import EmbeddedMongo
from chatcrm.imports import run_import
from chatcrm.secrets_box import SecretBox
from chatcrm.store import Store

TICK = 0.01
HOSTILE = [
    ("amount", "1e999990"),
    ("amount", "9" * 5000),
    ("amount", "1E+999999"),
    ("amount", "-1e-999999"),
    ("amount", "NaN"),
    ("amount", "1_000"),
    ("amount", "²"),
    ("items", "x:" + "9" * 5000 + ":10"),
    ("items", "x:²:10"),
    ("items", "x:1:1e999990"),
    ("paid_at", "9999-12-31T23:59:59-14:00"),
]
"""(column, value) pairs cycled through the rows."""


def orders_file(rows: int) -> bytes:
    """`rows` order rows, each with one hostile value from HOSTILE."""
    lines = ["order_id,customer_channel,customer_platform_user_id,amount,status,paid_at,items"]
    for i in range(rows):
        cells = {"amount": "10.00", "paid_at": "2026-11-20T10:15:00+07:00", "items": ""}
        column, value = HOSTILE[i % len(HOSTILE)]
        cells[column] = value
        lines.append(
            f"H-{i},line,U{i % 100},{cells['amount']},paid,{cells['paid_at']},{cells['items']}"
        )
    return "\n".join(lines).encode()


async def measure(work: Awaitable[object]) -> tuple[float, float, str]:
    """(seconds, longest event-loop stall in seconds, outcome) of awaiting `work`."""
    longest = 0.0
    running = True

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while running:
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            longest = max(longest, now - last - TICK)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(TICK * 2)
    start = time.perf_counter()
    try:
        result = await work
        outcome = (
            f"rows={result.rows} created={result.created} "  # type: ignore[attr-defined]
            f"rejected={result.rejected}"  # type: ignore[attr-defined]
        )
    except Exception as err:  # the figure to report is what a client would get
        outcome = f"failed: {type(err).__name__}: {str(err)[:80]}"
    took = time.perf_counter() - start
    running = False
    await tick
    return took, longest, outcome


async def main(uri: str, rows: int, single: bool, freeze: bool) -> None:
    """Import one catastrophic row (unless not `single`), then `rows` hostile rows."""
    store = Store.connect(uri, "bench_stall", SecretBox(SecretBox.generate_key()))
    await store.ensure_indexes()
    if freeze:
        freeze_long_lived()  # as the service does once started
    shop = store.for_shop((await store.shops.create("bench")).id)
    cases = [("1 row, amount 1e999990", orders_file(1))] if single else []
    cases.append((f"{rows} hostile rows", orders_file(rows)))
    for label, data in cases:
        work = run_import(shop, "orders", data, "THB", "bench", "bench")
        took, stall, outcome = await measure(work)
        print(f"{label:26} {took:8.2f} s   longest stall {stall * 1000:9.0f} ms   {outcome}")
    await store.client.drop_database("bench_stall")
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows of the hostile file")
    parser.add_argument("--skip-single", action="store_true", help="skip the one-row 1e999990 file")
    parser.add_argument(
        "--no-freeze", action="store_true", help="leave the heap unfrozen (before the service did)"
    )
    args = parser.parse_args()
    server = EmbeddedMongo(Path(tempfile.mkdtemp()))
    try:
        asyncio.run(main(server.start(), args.rows, not args.skip_single, not args.no_freeze))
    finally:
        server.stop()
