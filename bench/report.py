"""Benchmark of the customer report on the embedded default (nx-27017).

Loads two shops of N customers each (default 200,000), then prints p50/p95 of the report's
first page for six filter/sort combinations (the page and its total, as the API computes
them), a page 200 deep through the cursor, and the summary; then the index each query uses
where the server's explain names one.

    .venv/bin/python bench/report.py [--customers 200000] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Doc = dict[str, Any]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatcrm.domain import new_customer_fields  # noqa: E402
from chatcrm.embedded import EmbeddedMongo  # noqa: E402
from chatcrm.provinces import all_provinces, province_key  # noqa: E402
from chatcrm.report_query import (  # noqa: E402
    Sort,  # noqa: E402
    parse_filters,
    parse_sort,
)
from chatcrm.secrets_box import SecretBox  # noqa: E402
from chatcrm.store import Store  # noqa: E402
from chatcrm.store.customer_query import (  # noqa: E402
    after_cursor,
    combine,
    filters_query,
    sort_spec,
)

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
BATCH = 5000
TZ = "Asia/Bangkok"
FIRST = ("สมชาย", "สมหญิง", "สุภาพร", "ณัฐพล", "ธนากร", "Nok", "Ploy", "Bee", "Mint", "Tong")
LAST = ("ใจดี", "ศรีสุข", "วงศ์ไทย", "Saetang", "Srisuk", "")
CHANNELS = (("line", 52), ("telegram", 28), ("messenger", 15), ("instagram", 5))
TAGS = (("VIP", 0.08), ("COD", 0.08), ("ส่งฟรี", 0.06), ("ลูกค้าประจำ", 0.05), ("รอโอน", 0.04))
BIG = {"Bangkok": 30, "Nonthaburi": 6, "Samut Prakan": 5, "Chiang Mai": 5, "Chon Buri": 4}


def make_customers(shop_id: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` customer documents with chat-commerce-like distributions."""
    rng = random.Random(seed)
    provinces = all_provinces()
    weights = [BIG.get(p.name_en, 1) for p in provinces]
    channels, channel_weights = zip(*CHANNELS, strict=True)
    docs = []
    for i in range(n):
        cid = f"cus_{shop_id[-4:]}_{i:07d}"
        channel = rng.choices(channels, channel_weights)[0]
        orders = rng.choices((0, 1, 2, 3, 5, 8, 15), (35, 25, 15, 10, 8, 5, 2))[0]
        paid = sum(rng.randint(150, 4000) * 100 for _ in range(orders))
        first_seen = NOW - timedelta(seconds=int(548 * 86400 * rng.random() ** 1.8))
        updated = first_seen + (NOW - first_seen) * rng.random() ** 0.5
        province = postal = None
        roll = rng.random()
        if roll < 0.85:
            p = rng.choices(provinces, weights)[0]
            postal = (rng.choice(p.postal_prefixes) + "00000")[:3] + f"{rng.randrange(100):02d}"
            province = p.name_th if roll < 0.45 else (p.name_en if roll < 0.65 else None)
        tags = [t for t, share in TAGS if rng.random() < share]
        if paid >= 1_000_000 and "VIP" not in tags and rng.random() < 0.7:
            tags.append("VIP")
        known = rng.random() < 0.4  # most chat contacts give no phone or e-mail
        doc = {
            **new_customer_fields(),
            "_id": cid,
            "_key": cid,
            "shop_id": shop_id,
            "channel": channel,
            "channel_id": f"ch_{channel}",
            "platform_user_id": f"U{rng.getrandbits(128):032x}",
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}".strip()
            if rng.random() < 0.9
            else None,
            "phone": f"08{rng.randrange(10**8):08d}" if known else None,
            "email": f"user{i}@example.com" if known and rng.random() < 0.4 else None,
            "province": province,
            "postal_code": postal,
            "tags": tags,
            "status": rng.choices(("following", "unfollowed", "blocked"), (88, 8, 4))[0],
            "paid_total": paid,
            "order_count": orders,
            "unpaid_total": rng.choice((0, 0, 0, 0, 49000)),
            "last_order_at": (updated - timedelta(hours=rng.randint(0, 500))) if orders else None,
            "first_seen_at": first_seen,
            "last_contact_at": updated,
            "updated_at": updated.replace(microsecond=updated.microsecond // 1000 * 1000),
        }
        doc["province_key"] = province_key(province, postal)
        docs.append(doc)
    return docs


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of `runs` calls (after one warm-up)."""
    await fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


async def main(args: argparse.Namespace) -> None:
    """Load, measure, print."""
    if args.data_dir is not None:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        await serve_and_run(args.data_dir, args)
        return
    with tempfile.TemporaryDirectory(prefix="chatcrm-bench-") as tmp:
        await serve_and_run(Path(tmp), args)


async def serve_and_run(data_dir: Path, args: argparse.Namespace) -> None:
    """Start the embedded server on `data_dir`, run the benchmark, stop the server."""
    server = EmbeddedMongo(data_dir)
    uri = server.start()
    args.db_file = data_dir / "db" / "bench.db"
    try:
        await run(uri, args)
    finally:
        server.stop()


async def load(store: Store, customers: int, reuse: bool) -> list[str]:
    """The two bench shops' ids, loading N customers into each unless `reuse` finds them."""
    if reuse:
        shops = sorted(
            (s for s in await store.shops.list() if s.name.startswith("Bench shop ")),
            key=lambda s: s.name,
        )
        if len(shops) == 2:
            counts = [await store.db.customers.count_documents({"shop_id": s.id}) for s in shops]
            if counts == [customers, customers]:
                print(f"reusing 2 x {customers:,} customers loaded earlier\n")
                return [s.id for s in shops]
        await store.db.customers.delete_many({})
        await store.db.shops.delete_many({})
    shops = [await store.shops.create(f"Bench shop {i}") for i in (1, 2)]
    start = time.perf_counter()
    generated = 0.0
    for number, shop in enumerate(shops):
        scoped = store.for_shop(shop.id).customers
        for offset in range(0, customers, BATCH):
            t0 = time.perf_counter()
            docs = make_customers(
                shop.id, min(BATCH, customers - offset), seed=number * 10**7 + offset
            )
            for j, doc in enumerate(docs):
                doc["_id"] = doc["_key"] = f"cus_{number}_{offset + j:07d}"
            generated += time.perf_counter() - t0
            await scoped.insert_new(docs)
    took = time.perf_counter() - start
    print(
        f"loaded 2 x {customers:,} customers in {took:.1f} s "
        f"({2 * customers / (took - generated):,.0f} docs/s inserting, "
        f"{generated:.1f} s generating)\n"
    )
    return [s.id for s in shops]


async def run(uri: str, args: argparse.Namespace) -> None:
    """The benchmark proper, on the server at `uri`."""
    customers, runs, count_runs, walk_budget = (
        args.customers,
        args.runs,
        args.count_runs,
        args.walk_budget,
    )
    store = Store.connect(uri, "bench", SecretBox(SecretBox.generate_key()), timeout_ms=600000)
    await store.ensure_indexes()
    shop_ids = await load(store, customers, args.reuse)
    if args.load_only:
        await store.close()
        return
    shop = store.for_shop(shop_ids[0]).customers
    since = (NOW - timedelta(days=30)).date().isoformat()
    cases = [
        ("default (paid_total asc)", {}),
        (
            "channel=line, paid_total desc",
            {"channel": "line", "sort": "paid_total", "order": "desc"},
        ),
        ("province=Bangkok", {"province": "Bangkok"}),
        ("postal_code=10*", {"postal_code": "10*"}),
        ("tag=VIP", {"tag": "VIP"}),
        (
            "updated last 30 days, updated_at desc",
            {"updated_from": since, "sort": "updated_at", "order": "desc"},
        ),
    ]
    rows = []
    plans: list[tuple[str, Doc, Sort | None, list[Doc] | None]] = []
    for label, params in cases:
        filters = parse_filters({k: v for k, v in params.items() if k not in ("sort", "order")}, TZ)
        sort = parse_sort(params)

        async def page(filters=filters, sort=sort) -> None:  # type: ignore[no-untyped-def]
            await shop.search(filters, sort, limit=50)

        async def count(filters=filters) -> None:  # type: ignore[no-untyped-def]
            await shop.count_matching(filters)

        total = await shop.count_matching(filters)
        p_page = await timed(page, runs)
        p_count = await timed(count, count_runs)
        rows.append((label, total, p_page, p_count))
        match = shop.where(filters_query(filters))
        page_match = shop.where(filters_query(filters, sorted_page=True))
        plans.append((label, page_match, sort, None))
        pipeline = [{"$match": match}, {"$count": "n"}]
        plans.append((f"  total of {label}", match, None, pipeline))

    # a page 200 deep: walk pages 1-199 of 50 through the cursor once, then time page 200
    filters, sort = parse_filters({}, TZ), Sort()
    t0 = time.perf_counter()
    cursor = None
    depth = 1
    while depth < 200 and time.perf_counter() - t0 < walk_budget:
        _, next_cursor = await shop.search(filters, sort, limit=50, cursor=cursor)
        if next_cursor is None:
            break
        cursor = next_cursor
        depth += 1
    walk = time.perf_counter() - t0

    async def deep(cursor=cursor) -> None:  # type: ignore[no-untyped-def]
        await shop.search(filters, sort, limit=50, cursor=cursor)

    deep_times = await timed(deep, runs)
    if cursor:
        for n, extra in enumerate(after_cursor(sort, cursor), 1):
            query = shop.where(combine(filters_query(filters, sorted_page=True), extra))
            plans.append((f"page {depth}, range {n}", query, sort, None))

    async def summary() -> None:
        await shop.summary(parse_filters({}, TZ))

    summary_times = await timed(summary, count_runs)

    async def summary_vip() -> None:
        await shop.summary(parse_filters({"tag": "VIP"}, TZ))

    summary_vip_times = await timed(summary_vip, count_runs)
    match = shop.where({})
    for field in ("currency", "channel", "tags", "province_key"):
        group = [{"$match": match}, {"$group": {"_id": f"${field}", "customers": {"$sum": 1}}}]
        plans.append((f"summary: group on {field}", match, None, group))

    def line(label: str, matches: Any, page: Any = None, total: Any = None) -> None:
        cells = [f"{label:42} {matches:>8}"]
        cells.append(f"{page[0]:>9.1f} {page[1]:>7.1f}" if page else f"{'':>9} {'':>7}")
        cells.append(f"{total[0]:>10.1f} {total[1]:>7.1f}" if total else "")
        print(" ".join(cells))

    header = "query (shop 1 of 2, first page of 50)"
    print(f"{header:42} {'matches':>8} {'page p50':>9} {'p95':>7} {'total p50':>10} {'p95':>7}")
    for label, total, page_times, count_times in rows:
        line(label, f"{total:,}", page_times, count_times)
    line(f"page {depth} via the cursor (default sort)", "", deep_times)
    line("summary (no filter)", f"{customers:,}", summary_times)
    line("summary (tag=VIP)", "", summary_vip_times)
    print(f"\nms; walking pages 1-{depth - 1} took {walk:.1f} s")
    print(f"runs per page figure: {runs}; per total/summary figure: {count_runs}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    db_file = getattr(args, "db_file", None)
    if db_file is not None:
        print("\nSQLite plan per query (the SQL nx-27017 runs, EXPLAIN QUERY PLAN on the data):")
        for label, query, query_sort, pipeline in plans:
            print(f"  {label}")
            for sql, plan in sqlite_plans(db_file, query, query_sort, pipeline):
                print(f"      {sql[:150]}{'...' if len(sql) > 150 else ''}")
                print(f"        -> {'; '.join(plan)}")
    await store.close()


def sqlite_plans(
    db_file: Path, query: Doc, sort: Sort | None, pipeline: list[Doc] | None
) -> list[tuple[str, list[str]]]:
    """The SQL neosqlite (nx-27017's engine) runs for a find or an aggregate, with its plan.

    The SQL is captured from neosqlite on an empty in-memory copy of the schema (the same
    indexes), then explained on the benchmark's database file, opened read-only.
    """
    import sqlite3

    from neosqlite import Connection

    from chatcrm.store.customers import INDEXES

    memory = Connection(":memory:")
    coll = memory["customers"]
    for model in INDEXES["customers"]:
        spec = model.document
        coll.create_index(list(spec["key"].items()), unique=spec.get("unique", False))
    coll.insert_one({"_id": "x", "shop_id": "x"})  # a non-empty table takes the usual path
    statements: list[str] = []
    memory.db.set_trace_callback(statements.append)
    if pipeline is not None:
        list(coll.aggregate(pipeline))
    else:
        cursor = coll.find(query)
        if sort is not None:
            cursor = cursor.sort(sort_spec(sort)).limit(51)
        list(cursor)
    memory.db.set_trace_callback(None)
    disk = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    disk.create_function("regexp", 2, lambda pattern, value: False)
    found = []
    for sql in statements:
        text = " ".join(sql.split())
        if "customers" not in text or "sqlite_master" in text or "neosqlite_" in text:
            continue
        if text.startswith("SELECT COUNT(1) FROM"):
            continue
        if not text.startswith(("SELECT", "WITH")):
            found.append((text, ["(not a query: " + text.split(" AS ")[0][:60] + ")"]))
            continue
        try:
            plan = [row[-1] for row in disk.execute("EXPLAIN QUERY PLAN " + text)]
        except sqlite3.Error as err:
            plan = [f"(not explained: {err})"]
        found.append((text, plan))
    disk.close()
    memory.close()
    return found


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000, help="customers per shop")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query")
    parser.add_argument("--count-runs", type=int, default=3, help="timed runs per total/summary")
    parser.add_argument("--walk-budget", type=float, default=60, help="seconds for the deep walk")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the database here (default: a temp dir)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="with --data-dir: reuse customers loaded earlier"
    )
    parser.add_argument("--load-only", action="store_true", help="load, then stop")
    args = parser.parse_args()
    asyncio.run(main(args))
