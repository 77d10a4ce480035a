"""Benchmark of the customer report's queries through the HTTP API, on nx-27017.

Loads two shops of N customers each (default 200,000) with bench/merges.py's set-up: the
*measured* shop, where 10 % of the customers are merged into another one and 5 % share a phone
number, and the *baseline* shop, the same customers unmerged. Then serves the real application
in this process and prints, for every query of issue 12 (filters, `q` searches, tags, a closed
date range, combinations, page 200 through the cursor, the summary and merge suggestions), p50
and p95 of `GET /api/v1/customers` (the first page of 50 and its total, as one request), of
`GET /api/v1/report/summary` and of `GET /api/v1/merge-suggestions`, measured shop beside
baseline shop; then the index each query uses: the SQL nx-27017 runs for the measured shop's
page and total and SQLite's plan for it.

    .venv/bin/python -u bench/report.py [--customers 200000] [--runs 20] [--budget 60] [--shops 1]

`--shops 1` loads the measured shop alone (a 1,000,000-customer run).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.merges import load as load_shops  # noqa: E402
from bench.merges import serve_api  # noqa: E402
from bench.seed import NOW, TZ, sampled  # noqa: E402
from chatcrm.embedded import EmbeddedMongo  # noqa: E402
from chatcrm.report_query import PAGE_NAMES, parse_filters, parse_sort  # noqa: E402
from chatcrm.secrets_box import SecretBox  # noqa: E402
from chatcrm.store import Store  # noqa: E402
from chatcrm.store import counts as counters  # noqa: E402
from chatcrm.store.customer_query import sort_spec  # noqa: E402
from chatcrm.store.customers import LIVE, MERGED  # noqa: E402
from chatcrm.store.term_search import TermSearch, term_plan  # noqa: E402
from chatcrm.store.terms import TERMS  # noqa: E402

Doc = dict[str, Any]
Case = tuple[str, str, dict[str, Any]]
"""(label, API path, query parameters)."""
SHOP_NAMES = ("Bench baseline", "Bench merged")
"""bench/merges.py's shops: the baseline (no merges) and the measured one (10 % merged)."""
CUSTOMERS = "/api/v1/customers"
SUMMARY = "/api/v1/report/summary"


def cases(probe: dict[str, str]) -> list[Case]:
    """Every query of issue 12; `probe` holds a phone, an e-mail address and a merged
    identity's platform id of the measured shop (`probe_values`)."""
    phone = probe["phone"]
    day = (NOW - timedelta(days=30)).date()
    closed = {"updated_from": (day - timedelta(days=60)).isoformat(), "updated_to": str(day)}
    return [
        ("no filter (paid_total asc)", CUSTOMERS, {}),
        ("channel=line", CUSTOMERS, {"channel": "line"}),
        ("province=Bangkok", CUSTOMERS, {"province": "Bangkok"}),
        ("postal_code=10*", CUSTOMERS, {"postal_code": "10*"}),
        ("q=สมชาย (Thai name)", CUSTOMERS, {"q": "สมชาย"}),
        ("q=Ploy (Latin name)", CUSTOMERS, {"q": "Ploy"}),
        ("q=Sae (word start)", CUSTOMERS, {"q": "Sae"}),
        ("q=ศรี (word start, Thai)", CUSTOMERS, {"q": "ศรี"}),
        ("q=0812 (phone start)", CUSTOMERS, {"q": "0812"}),
        ("q=+66 … (whole phone, +66 form)", CUSTOMERS, {"q": "+66 " + phone[1:]}),
        ("q=last 4 phone digits", CUSTOMERS, {"q": phone[-4:]}),
        ("q=e-mail address", CUSTOMERS, {"q": probe["email"]}),
        ("q=platform id (merged identity)", CUSTOMERS, {"q": probe["platform_id"]}),
        ("tag=VIP", CUSTOMERS, {"tag": "VIP"}),
        ("tag=VIP,COD tag_mode=all", CUSTOMERS, {"tag": "VIP,COD", "tag_mode": "all"}),
        ("updated_from+updated_to (60 days)", CUSTOMERS, closed),
        ("channel=line + province=Bangkok", CUSTOMERS, {"channel": "line", "province": "Bangkok"}),
        ("tag=VIP + q=สมชาย", CUSTOMERS, {"tag": "VIP", "q": "สมชาย"}),
        ("summary, no filter", SUMMARY, {}),
        ("summary, tag=VIP", SUMMARY, {"tag": "VIP"}),
        ("merge suggestions, first page", "/api/v1/merge-suggestions", {}),
    ]


async def probe_values(store: Store, shop_id: str) -> dict[str, str]:
    """A phone, an e-mail address and a tombstone's platform id found in shop `shop_id`."""
    coll = store.db.customers
    shop = {"shop_id": {"$eq": shop_id}, **LIVE}  # a tombstone's phone finds its person
    phone = await coll.find_one({**shop, "phone": {"$gt": "0812"}}, {"phone": 1})
    email = await coll.find_one({**shop, "email": {"$gt": "user1"}}, {"email": 1})
    dead = {"shop_id": {"$eq": shop_id}, "merged_into": MERGED}
    tomb = await coll.find_one(dead, {"platform_user_id": 1})
    if not (phone and email and tomb):
        raise SystemExit("the measured shop lacks a phone, an e-mail or a merged customer")
    return {
        "phone": phone["phone"],
        "email": email["email"],
        "platform_id": tomb["platform_user_id"],
    }


async def main(args: argparse.Namespace) -> None:
    """Start nx-27017 (in `--data-dir` or a temporary directory), run, stop it."""
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
    try:
        await run(uri, data_dir, args)
    finally:
        server.stop()


async def shops_of(
    store: Store, customers: int, reuse: bool, count: int = 2
) -> list[tuple[str, str]]:
    """(shop id, owner token) of the baseline (`count` 2) and the measured shop: loaded now
    with their search terms, or with `reuse` found in the database when it holds them at this
    size."""
    names = SHOP_NAMES[2 - count :]
    if reuse:
        found = {s.name: s.id for s in await store.shops.list() if s.name in names}
        ids = [found.get(name) for name in names]
        counts = [await store.db.customers.count_documents({"shop_id": i}) for i in ids if i]
        if counts == [customers] * count:
            print(f"reusing {count} x {customers:,} customers loaded earlier\n")
            return [(i, await store.tokens.create(i, "owner", "bench")) for i in ids if i]
        for coll in ("customers", "shops", TERMS):
            await store.db[coll].delete_many({})
    start = time.perf_counter()
    shops = await load_shops(store, customers, (False, True)[2 - count :])
    took = time.perf_counter() - start
    rows = await store.db[TERMS].estimated_document_count()
    print(
        f"loaded {count} x {customers:,} customers (10 % of the measured shop merged) and their"
        f" {rows:,} search-term rows in {took:.1f} s\n"
    )
    return shops


async def run(uri: str, data_dir: Path, args: argparse.Namespace) -> None:
    """The benchmark proper, on the server at `uri`."""
    key = SecretBox.generate_key()
    store = Store.connect(uri, "bench", SecretBox(key), timeout_ms=600000)
    await store.ensure_indexes()
    loaded = await shops_of(store, args.customers, args.reuse, args.shops)
    if args.load_only:
        await store.close()
        return
    shops = loaded[::-1]  # the measured shop first
    measured = shops[0][0]
    queries = cases(await probe_values(store, measured))
    runner, base = await serve_api(uri, data_dir / "var", key)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=900)) as session:
            api = Api(session, base)
            rows = [await measure(api, shops, case, args) for case in queries]
            depth, cursors = await deep_cursors(api, shops, args.walk_budget)
            deep = (f"page {depth} via the cursor (default sort)", CUSTOMERS, {})
            rows.append(await measure(api, shops, deep, args, cursors))
    finally:
        await runner.cleanup()
    print_table(rows, args)
    print("\nSQLite plan per query of the measured shop (the SQL nx-27017 runs, EXPLAIN QUERY")
    print("PLAN on the data; a `q`, a tag or a merged shop's channel takes the term path: the")
    print("rows of its rarest term, their count, lookups of other terms, the customers by _id):")
    db_file = data_dir / "db" / "bench.db"
    for label, path, params in queries:
        for what, plan in await query_plans(store, measured, db_file, path, params):
            print(f"  {label}{what}")
            for sql, steps in plan:
                if args.sql:
                    print(f"      {sql[:150]}{'...' if len(sql) > 150 else ''}")
                print(f"        -> {'; '.join(steps)}")
    await store.close()


class Api:
    """GET requests to the service with one shop's token."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session, self.base = session, base

    async def get(self, token: str, path: str, params: dict[str, Any]) -> Doc:
        headers = {"Authorization": f"Bearer {token}"}
        async with self.session.get(self.base + path, params=params, headers=headers) as r:
            assert r.status == 200, await r.text()
            return dict(await r.json())


def matches(path: str, body: Doc) -> str:
    """What a reply counts: the report's total, the summary's customers, suggestions shown."""
    if path == CUSTOMERS:
        return f"{body['total']:,}"
    if path == SUMMARY:
        return f"{body['customers']:,}"
    return f"{len(body.get('items', []))} shown"


async def measure(
    api: Api,
    shops: list[tuple[str, str]],
    case: Case,
    args: argparse.Namespace,
    cursors: list[str | None] | None = None,
) -> tuple[str, str, list[tuple[float, float, int]]]:
    """(label, matches in the measured shop, (p50, p95, runs) per shop) of one query."""
    label, path, params = case
    figures = []
    found = ""
    for number, (_, token) in enumerate(shops):
        asked = dict(params)
        if cursors and cursors[number]:
            asked["cursor"] = cursors[number]

        async def call(token: str = token, asked: Doc = asked) -> None:
            await api.get(token, path, asked)

        figures.append(await sampled(call, args.runs, args.budget))
        found = found or matches(path, await api.get(token, path, asked))
    print(f"  measured {label}", file=sys.stderr)
    return label, found, figures


async def deep_cursors(
    api: Api, shops: list[tuple[str, str]], walk_budget: float
) -> tuple[int, list[str | None]]:
    """Walk pages 1-199 of each shop once through `next_cursor` (within `walk_budget`
    seconds): the page reached and each shop's cursor to it."""
    cursors: list[str | None] = []
    depth = 200
    for _, token in shops:
        start, cursor, page = time.perf_counter(), None, 1
        while page < depth and time.perf_counter() - start < walk_budget:
            body = await api.get(token, CUSTOMERS, {"cursor": cursor} if cursor else {})
            if body["next_cursor"] is None:
                break
            cursor, page = body["next_cursor"], page + 1
        depth = min(depth, page)
        cursors.append(cursor)
    return depth, cursors


def print_table(rows: list[tuple[str, str, list[tuple[float, float, int]]]], args: Any) -> None:
    """The figures: measured shop beside the baseline shop (when loaded), milliseconds."""
    print(f"{'query (HTTP API, first page of 50 + total)':44} {'matches':>9}", end="")
    print(f" {'merged p50':>11} {'p95':>8} {'n':>3}", end="")
    print(f"  {'baseline p50':>12} {'p95':>8} {'n':>3}" if args.shops == 2 else "")
    for label, found, figures in rows:
        cells = [f"{label:44} {found:>9}"]
        for width, (p50, p95, n) in zip((11, 12), figures, strict=False):
            cells.append(f"{p50:>{width}.1f} {p95:>8.1f} {n:>3}")
        print(" ".join(cells[:1]) + " " + "  ".join(cells[1:]))
    print(f"\nms; runs per query: {args.runs} after a warm-up, fewer past {args.budget:.0f} s (n)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


async def query_plans(
    store: Store, shop_id: str, db_file: Path, path: str, params: Doc
) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """(what, SQLite plans) of the measured shop's queries for one report or summary call:
    the page and the total (live customers only, as the service counts them); or the summary's
    counters or groups. (A closed date range wider than `WIDE_RANGE` is read by the service as
    a walk of the sort's index, `ShopCustomers._walk`; the plan shown is the plain page's.)"""
    if path not in (CUSTOMERS, SUMMARY):
        return []  # suggestions: windows of the phone and e-mail indexes (bench/merges.py)
    customers = store.for_shop(shop_id).customers
    filters = parse_filters({k: v for k, v in params.items() if k not in PAGE_NAMES}, TZ)
    match = customers.where(await customers.report_filter(filters))
    if path == SUMMARY and (dimension := counters.dimension(filters)) is not None:
        rows = {"shop_id": {"$eq": shop_id}, "dim": {"$eq": dimension}}
        return [(": counters", sqlite_plans(db_file, rows, None, None, counters.COUNTS))]
    if path == SUMMARY:
        fields = ("currency", "channels", "tags", "province_key")
        return [
            (f": group on {field}", sqlite_plans(db_file, match, None, group(match, field)))
            for field in fields
        ]
    sort = parse_sort(params)
    plan = term_plan(filters, await customers.has_merges())
    if plan is not None:  # the term path (chatcrm.store.term_search)
        found = await TermSearch(customers, plan).queries(sort)
        return [
            (f"  ({what})", sqlite_plans(db_file, query, order, pipeline, coll))
            for what, coll, query, order, pipeline in found
        ]
    page = customers.where(await customers.report_filter(filters, sorted_page=True))
    return [
        ("", sqlite_plans(db_file, page, sort_spec(sort), None)),
        ("  (total)", sqlite_plans(db_file, match, None, [{"$match": match}, {"$count": "n"}])),
    ]


def group(match: Doc, field: str) -> list[Doc]:
    """The summary's pipeline for one breakdown (`ShopCustomers._group`)."""
    return [{"$match": match}, {"$group": {"_id": f"${field}", "customers": {"$sum": 1}}}]


def sqlite_plans(
    db_file: Path,
    query: Doc,
    sort: list[tuple[str, int]] | None,
    pipeline: list[Doc] | str | None,
    collection: str = "customers",
) -> list[tuple[str, list[str]]]:
    """The SQL neosqlite (nx-27017's engine) runs for a find or an aggregate, with its plan.

    The SQL is captured from neosqlite on an empty in-memory copy of the schema (the same
    indexes), then explained on the benchmark's database file, opened read-only.
    """
    import sqlite3

    from neosqlite import Connection

    from chatcrm.store.customers import INDEXES
    from chatcrm.store.terms import INDEXES as TERM_INDEXES

    memory = Connection(":memory:")
    coll = memory[collection]
    for model in {**INDEXES, **TERM_INDEXES, **counters.INDEXES}[collection]:
        spec = model.document
        coll.create_index(list(spec["key"].items()), unique=spec.get("unique", False))
    coll.insert_one({"_id": "x", "shop_id": "x"})  # a non-empty table takes the usual path
    statements: list[str] = []
    memory.db.set_trace_callback(statements.append)
    if pipeline == "count":  # the count command (chatcrm.store.term_search.count_term)
        coll.count_documents(query)
    elif pipeline is not None:
        list(coll.aggregate(pipeline))
    else:
        cursor = coll.find(query)
        if sort is not None:
            cursor = cursor.sort(sort).limit(51)
        list(cursor)
    memory.db.set_trace_callback(None)
    disk = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    disk.create_function("regexp", 2, lambda pattern, value: False)
    found = []
    for sql in statements:
        text = " ".join(sql.split())
        if collection not in text or "sqlite_master" in text or "neosqlite_" in text:
            continue
        if "pragma_table_info" in text or text.startswith("--"):
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
    parser.add_argument("--runs", type=int, default=20, help="timed runs per query and shop")
    parser.add_argument(
        "--budget", type=float, default=60, help="seconds per query and shop, then fewer runs"
    )
    parser.add_argument("--walk-budget", type=float, default=60, help="seconds for the deep walk")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the database here (default: a temp dir)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="with --data-dir: reuse customers loaded earlier"
    )
    parser.add_argument("--load-only", action="store_true", help="load, then stop")
    parser.add_argument(
        "--shops",
        type=int,
        choices=(1, 2),
        default=2,
        help="1: the measured shop only (for a 1,000,000-customer run)",
    )
    parser.add_argument("--sql", action="store_true", help="print the SQL beside each plan")
    asyncio.run(main(parser.parse_args()))
