"""Benchmark of merge suggestions and of the report once customers are merged, on nx-27017.

Loads two shops of N customers each (default 200,000; the report bench's distributions):
the *baseline* shop as it is, and the *merged* shop where 10 % of the customers are merged
into another one (tombstones, persons with two channels) and a further 5 % share a phone
number with another customer (suggestions, spread over the phone order as in a real shop; the
baseline shop has next to none, the worst case for suggestions: every number is read). Then
prints, through the HTTP API of the real service (in this process), p50/p95 of the report's
first page, the same filtered by channel, the summary, and the first page of merge
suggestions, for both shops side by side.

    .venv/bin/python bench/merges.py [--customers 200000] [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import BATCH, embedded_database, make_customers, timed  # noqa: E402
from chatcrm.app import create_app  # noqa: E402
from chatcrm.config import Settings  # noqa: E402
from chatcrm.secrets_box import SecretBox  # noqa: E402
from chatcrm.store import Store  # noqa: E402

MERGED_SHARE = 10
"""Every MERGED_SHARE-th customer of the merged shop is merged into the one before it."""
SHARED_PHONE = 20
"""Every SHARED_PHONE-th customer (not merged) shares the phone of the one before it."""


def merged_shape(docs: list[dict[str, Any]]) -> None:
    """Turn every `MERGED_SHARE`-th customer into a tombstone of the one before it (its person
    gains the channel) and give every `SHARED_PHONE`-th (+1) the phone of the one before."""
    for i in range(1, len(docs)):
        doc, before = docs[i], docs[i - 1]
        if i % MERGED_SHARE == 0 and not before.get("merged"):
            doc.update(merged=True, merged_into=before["_id"])
            before["channels"] = list(dict.fromkeys([before["channel"], doc["channel"]]))
            before["identity_channels"] = [before["channel"], doc["channel"]]
            before["platform_user_ids"] = [before["platform_user_id"], doc["platform_user_id"]]
            before["merged_ids"] = [doc["_id"]]
        elif i % SHARED_PHONE == 1:  # spread over the phone order, as in a real shop
            before["phone"] = doc["phone"] = before["phone"] or doc["phone"] or f"08{i:08d}"


async def load(
    store: Store, customers: int, kinds: tuple[bool, ...] = (False, True)
) -> list[tuple[str, str]]:
    """(shop id, owner token) of the baseline shop and the merged one (`kinds`: which of them,
    merged or not, in order). `insert_new` writes their search terms too."""
    shops = []
    for number, merged in enumerate(kinds):
        number = int(merged)  # the same customer ids whichever shops are loaded
        shop = await store.shops.create(f"Bench {'merged' if merged else 'baseline'}")
        scoped = store.for_shop(shop.id).customers
        for offset in range(0, customers, BATCH):
            docs = make_customers(shop.id, min(BATCH, customers - offset), seed=offset)
            for j, doc in enumerate(docs):
                doc["_id"] = doc["_key"] = f"cus_{number}_{offset + j:07d}"
            if merged:
                merged_shape(docs)
            await scoped.insert_new(docs)
        shops.append((shop.id, await store.tokens.create(shop.id, "owner", "bench")))
    return shops


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def serve_api(uri: str, data_dir: Path, key: str) -> tuple[web.AppRunner, str]:
    """The real application on database ``bench`` at `uri`, served in this process on a free
    local port (no inbox workers): its runner (to clean up) and its base URL."""
    settings = Settings(
        mongodb_uri=uri, mongodb_db="bench", data_dir=data_dir, secret_key=key, inbox_workers=0
    )
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def run(uri: str, data_dir: Path, args: argparse.Namespace) -> None:
    key = SecretBox.generate_key()
    store = Store.connect(uri, "bench", SecretBox(key), timeout_ms=600000)
    await store.ensure_indexes()
    shops = await load(store, args.customers)
    print(f"loaded 2 x {args.customers:,} customers (10 % of the second shop merged)\n")
    runner, base = await serve_api(uri, data_dir, key)
    cases = [
        ("report page + total (paid_total)", "/api/v1/customers", {}),
        ("report page + total, channel=telegram", "/api/v1/customers", {"channel": "telegram"}),
        ("summary", "/api/v1/report/summary", {}),
        ("merge suggestions, first page", "/api/v1/merge-suggestions", {}),
    ]
    print(f"{'query':<42}{'baseline p50/p95 ms':>22}{'merged p50/p95 ms':>22}")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
            for label, path, params in cases:
                cells = []
                for _, token in shops:
                    headers = {"Authorization": f"Bearer {token}"}

                    async def call(path=path, params=params, headers=headers) -> None:  # type: ignore[no-untyped-def]
                        async with session.get(base + path, params=params, headers=headers) as r:
                            assert r.status == 200, await r.text()
                            await r.read()

                    p50, p95 = await timed(call, args.runs)
                    cells.append(f"{p50:.0f} / {p95:.0f}")
                print(f"{label:<42}{cells[0]:>22}{cells[1]:>22}")
    finally:
        await runner.cleanup()
        await store.close()


async def main(args: argparse.Namespace) -> None:
    with embedded_database() as (uri, tmp):
        await run(uri, tmp / "var", args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000, help="customers per shop")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per query")
    asyncio.run(main(parser.parse_args()))
