"""Totals of combined term filters on nx-27017: the term path's count (the rarest term's persons
checked by `_id` lookups) against one aggregation (``$match`` term ``$in`` → ``$group`` by
person → ``$match`` on the group's size → ``$count``), on a database `bench/report.py` loaded.

    .venv/bin/python -u bench/terms_combos.py --data-dir DIR [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatcrm.domain import CustomerFilters  # noqa: E402
from chatcrm.embedded import EmbeddedMongo  # noqa: E402
from chatcrm.secrets_box import SecretBox  # noqa: E402
from chatcrm.store import Store  # noqa: E402
from chatcrm.store.terms import TERMS, tag_term  # noqa: E402

CASES = [
    ("q=สมชาย", CustomerFilters(q="สมชาย")),
    ("tag=VIP", CustomerFilters(tags=("VIP",))),
    ("tag=VIP + q=สมชาย", CustomerFilters(q="สมชาย", tags=("VIP",))),
    ("tag=VIP,COD all", CustomerFilters(tags=("VIP", "COD"), tag_mode="all")),
    ("tag=VIP,COD any", CustomerFilters(tags=("VIP", "COD"))),
    ("q=สมชาย + province=Bangkok", CustomerFilters(q="สมชาย", provinces=("Bangkok",))),
]


async def timed(fn: Any, runs: int) -> tuple[Any, float, float]:
    took = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = await fn()
        took.append((time.perf_counter() - start) * 1000)
    return result, statistics.median(took), max(took)


async def run(uri: str, runs: int) -> None:
    store = Store.connect(uri, "bench", SecretBox(SecretBox.generate_key()), timeout_ms=600000)
    shops = {s.name: s.id for s in await store.shops.list()}
    shop_id = shops["Bench merged"]
    customers = store.for_shop(shop_id).customers
    print(f"{'total of':32} {'count':>8} {'p50 ms':>9} {'max ms':>9}")
    for label, filters in CASES:
        n, p50, worst = await timed(lambda f=filters: customers.count_matching(f), runs)
        print(f"{label:32} {n:>8,} {p50:>9.1f} {worst:>9.1f}")
    terms = ["สมชาย", tag_term("VIP")]
    pipeline = [
        {"$match": {"shop_id": {"$eq": shop_id}, "term": {"$in": terms}}},
        {"$group": {"_id": "$person", "n": {"$sum": 1}}},
        {"$match": {"n": {"$eq": len(terms)}}},
        {"$count": "n"},
    ]

    async def aggregate() -> int:
        found = await (await store.db[TERMS].aggregate(pipeline)).to_list(None)
        return int(found[0]["n"]) if found else 0

    n, p50, worst = await timed(aggregate, max(1, runs // 5))
    print(f"{'aggregate $in/$group: VIP+สมชาย':32} {n:>8,} {p50:>9.1f} {worst:>9.1f}")
    await store.close()


async def main(args: argparse.Namespace) -> None:
    server = EmbeddedMongo(args.data_dir)
    uri = server.start()
    try:
        await run(uri, args.runs)
    finally:
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="bench/report.py's DIR")
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args()))
