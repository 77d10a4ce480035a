"""Experiment for docs/search-design.md: a side collection of search terms on nx-27017.

Loads the search terms of two shops of N customers each (default 20,000, about 200,000 rows
per shop; bench/seed.py's customers) into a side collection, one row per (customer, term),
with the customer's sort key copied: whole terms (each name word lower-cased, the phone, its
reversed digits, the e-mail address, the platform id) and the 2-4 character starts of each
name word (`short` rows). Then prints p50/p95 through the driver (no HTTP) of the forms the
design weighs, for a wide start (`สม`, about 40 % of the customers) and narrow ones:

- a prefix range on whole terms, in `paid_total` order, first 51 rows (SQLite must sort every
  match) and its count;
- an equality on a short start, in `paid_total` order (the index order), and its count;
- the ids of a range's matches, read as documents;
- one customer's terms rewritten (delete + insert) and its sort key copied (`update_many`),
  the cost a customer write would pay.

    .venv/bin/python -u bench/search_terms.py [--customers 20000] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.seed import BATCH, embedded_database, make_customers, sampled  # noqa: E402
from chatcrm.domain import phone_key  # noqa: E402
from chatcrm.secrets_box import SecretBox  # noqa: E402
from chatcrm.store import Store  # noqa: E402
from chatcrm.store.base import index  # noqa: E402
from chatcrm.store.customer_query import prefix_range  # noqa: E402

Doc = dict[str, Any]
SHORT = (2, 3, 4)
"""Lengths of the word starts kept as `short` rows."""


def terms_of(doc: Doc) -> list[Doc]:
    """The search-term rows of one customer document."""
    whole: set[str] = set()
    short: set[str] = set()
    for word in (doc.get("name") or "").lower().split():
        whole.add(word)
        short.update(word[:n] for n in SHORT if len(word) > n)
    if doc.get("phone"):
        whole.update((doc["phone"], "~" + str(phone_key(doc["phone"]))))
    if doc.get("email"):
        whole.add(doc["email"])
    whole.add(doc["platform_user_id"])
    base = {"shop_id": doc["shop_id"], "person": doc["_id"], "paid_total": doc["paid_total"]}
    rows = [{**base, "term": t, "short": False} for t in sorted(whole)]
    rows += [{**base, "term": t, "short": True} for t in sorted(short - whole)]
    for row in rows:
        row["_id"] = f"{doc['_id']}|{int(row['short'])}|{row['term']}"
        row["_key"] = row["_id"]
    return rows


async def load(store: Store, customers: int) -> tuple[str, list[Doc]]:
    """Load both shops' terms; the first shop's id and its first customers' term rows."""
    coll = store.db.search_terms
    await coll.create_indexes(
        [index("shop_id", "term", "paid_total", "_key"), index("shop_id", "person")]
    )
    first: list[Doc] = []
    shop_ids = []
    for number in (1, 2):
        shop_id = f"shop_terms{number}"
        shop_ids.append(shop_id)
        for offset in range(0, customers, BATCH):
            docs = make_customers(shop_id, min(BATCH, customers - offset), seed=offset)
            rows = []
            for j, doc in enumerate(docs):
                doc["_id"] = f"cus_{number}_{offset + j:07d}"
                rows += terms_of(doc)
            first = first or rows
            await coll.insert_many(rows, ordered=False)
    return shop_ids[0], first


async def run(uri: str, args: argparse.Namespace) -> None:
    store = Store.connect(uri, "bench", SecretBox(SecretBox.generate_key()), timeout_ms=600000)
    start = time.perf_counter()
    shop_id, sample_rows = await load(store, args.customers)
    coll = store.db.search_terms
    rows = await coll.count_documents({"shop_id": shop_id})
    took = time.perf_counter() - start
    print(f"loaded 2 x {rows:,} term rows ({args.customers:,} customers each) in {took:.0f} s\n")
    shop = {"shop_id": {"$eq": shop_id}}
    order = [("paid_total", 1), ("_key", 1)]

    def whole(prefix: str) -> Doc:
        return {**shop, "term": prefix_range(prefix), "short": {"$eq": False}}

    def short(start: str) -> Doc:
        return {**shop, "term": {"$eq": start}, "short": {"$eq": True}}

    async def page(query: Doc) -> list[Doc]:
        return await coll.find(query, {"person": 1}).sort(order).limit(51).to_list(None)

    async def count(query: Doc) -> int:
        found = await (await coll.aggregate([{"$match": query}, {"$count": "n"}])).to_list(None)
        return int(found[0]["n"]) if found else 0

    async def ids(query: Doc) -> list[Doc]:
        return await coll.find(query, {"person": 1}).to_list(None)

    cases = [
        ("range 'สม' (whole terms), page by paid_total", page, whole("สม")),
        ("range 'สม', count", count, whole("สม")),
        ("equality 'สม' (short), page by paid_total", page, short("สม")),
        ("equality 'สม' (short), count", count, short("สม")),
        ("range 'sae', page by paid_total", page, whole("sae")),
        ("equality 'sae' (short), page by paid_total", page, short("sae")),
        ("range 'สมชาย', page by paid_total", page, whole("สมชาย")),
        ("range 'สมชาย', count", count, whole("สมชาย")),
        ("range '0812' (phone start), page", page, whole("0812")),
        ("range '~8765' (phone end, reversed), page", page, whole("~8765")),
        ("range 'user1' (e-mail start), page", page, whole("user1")),
        ("ids of range 'สมชาย' read as documents", ids, whole("สมชาย")),
        ("ids of equality 'สม' read as documents", ids, short("สม")),
    ]
    print(f"{'query (one shop of 2)':46} {'matches':>8} {'p50 ms':>8} {'p95 ms':>8} {'n':>3}")
    for label, fn, query in cases:
        found = await count(query)

        async def call(fn: Any = fn, query: Doc = query) -> None:
            await fn(query)

        p50, p95, n = await sampled(call, args.runs, args.budget)
        print(f"{label:46} {found:>8,} {p50:>8.1f} {p95:>8.1f} {n:>3}")

    person = sample_rows[0]["person"]
    mine = [r for r in sample_rows if r["person"] == person]

    async def rewrite() -> None:
        await coll.delete_many({**shop, "person": {"$eq": person}})
        await coll.insert_many([dict(r) for r in mine])

    async def copy_sort_key() -> None:
        await coll.update_many({**shop, "person": {"$eq": person}}, {"$inc": {"paid_total": 1}})

    for label, fn in (
        (f"write: rewrite one customer's {len(mine)} rows", rewrite),
        (f"write: update_many the sort key of {len(mine)} rows", copy_sort_key),
    ):
        p50, p95, n = await sampled(fn, args.runs, args.budget)
        print(f"{label:46} {'':>8} {p50:>8.1f} {p95:>8.1f} {n:>3}")
    await store.close()


async def main(args: argparse.Namespace) -> None:
    with embedded_database() as (uri, _):
        await run(uri, args)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000, help="customers per shop")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query")
    parser.add_argument("--budget", type=float, default=30, help="seconds per query, then fewer")
    asyncio.run(main(parser.parse_args()))
