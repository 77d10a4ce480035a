"""Chat history benchmark: a long chat read page by page through the API on nx-27017.

Serves the app in this process on the embedded default (nx-27017 in a temporary data dir),
seeds a shop with --customers customers of a few messages each plus one customer with
--messages messages (three to a second, milliseconds apart), then measures through
``GET /api/v1/customers/{id}/messages``: the first page (the newest 50), a page --depth pages
back through the cursor, and scrolling the whole chat in pages of 200 (counting messages
repeated or skipped: there must be none). Beside each, the baseline: the same page's query
sent by PyMongo directly in this process (the store's reads on the history index), the
database's share of the time.

    .venv/bin/python bench/history.py [--messages 20000] [--customers 2000] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatcrm.app import create_app  # noqa: E402
from chatcrm.config import Settings  # noqa: E402
from chatcrm.keys import DATABASE  # noqa: E402
from chatcrm.secrets_box import SecretBox  # noqa: E402
from chatcrm.store import ShopStore, Store  # noqa: E402
from chatcrm.store.base import new_id  # noqa: E402

START = datetime(2026, 11, 1, 9, tzinfo=UTC)
BATCH = 2000


def message(shop_id: str, customer_id: str, n: int, at: datetime) -> dict[str, Any]:
    """A stored message document as the ingest writes one."""
    return {
        "_id": new_id("msg"),  # random, as every message's: not in time order
        "shop_id": shop_id,
        "customer_id": customer_id,
        "channel": "line",
        "channel_id": "ch_bench",
        "direction": "in" if n % 2 else "out",
        "type": "text",
        "text": f"ข้อความที่ {n} สวัสดีค่ะ สนใจสินค้าชิ้นนี้",
        "platform_message_id": f"{customer_id}-{n}",
        "sent_at": at,
        "meta": {},
    }


async def seed(store: Store, messages: int, customers: int) -> tuple[str, str, str]:
    """The shop, an owner token, and the id of the customer with the long chat."""
    shop = await store.shops.create("Bench Shop", timezone="Asia/Bangkok")
    token = await store.tokens.create(shop.id, "owner", "bench")
    scoped = store.for_shop(shop.id)
    chatty = await scoped.customers.upsert_contact("line", "Ubench", channel_id=None, at=START)
    docs = [
        message(shop.id, chatty["_id"], n, START + timedelta(seconds=n // 3, milliseconds=n % 3))
        for n in range(messages)
    ]
    for c in range(customers):  # the rest of the shop: a few messages each
        docs += [
            message(shop.id, f"cus_other{c}", n, START + timedelta(minutes=n)) for n in range(8)
        ]
    for start in range(0, len(docs), BATCH):
        await scoped.messages.insert_new(docs[start : start + BATCH])
    return shop.id, token, chatty["_id"]


async def direct_page(scoped: ShopStore, customer_id: str, limit: int, cursor: str | None) -> None:
    """The baseline: the page's query, sent by PyMongo directly."""
    await scoped.messages.page_for_customer(customer_id, limit=limit, cursor=cursor)


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """p50 and p95 of `call` in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


class Api:
    """The history route over HTTP, as the dashboard calls it."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str, customer: str):
        self.session = session
        self.url = f"{base}/api/v1/customers/{customer}/messages"
        self.headers = {"Authorization": f"Bearer {token}"}

    async def page(self, limit: int, cursor: str | None = None) -> dict[str, Any]:
        params = {"limit": str(limit), **({"cursor": cursor} if cursor else {})}
        async with self.session.get(self.url, params=params, headers=self.headers) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def cursor_at(self, depth: int, limit: int) -> str | None:
        cursor = None
        for _ in range(depth):
            cursor = (await self.page(limit, cursor))["next_cursor"]
        return cursor

    async def scroll(self) -> tuple[int, int, int]:
        """Read the whole chat in pages of 200: (pages, messages shown, distinct messages)."""
        seen: set[str] = set()
        pages = shown = 0
        cursor = None
        while True:
            page = await self.page(200, cursor)
            pages += 1
            shown += len(page["items"])
            seen.update(m["id"] for m in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return pages, shown, len(seen)


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="chatcrm-history-") as tmp:
        settings = Settings(
            data_dir=Path(tmp), secret_key=SecretBox.generate_key(), inbox_workers=0
        )
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            store = runner.app[DATABASE].store
            started = time.perf_counter()
            shop_id, token, customer = await seed(store, args.messages, args.customers)
            total = args.messages + 8 * args.customers
            print(f"seeded {total} messages in {time.perf_counter() - started:.1f} s")
            scoped = store.for_shop(shop_id)
            async with aiohttp.ClientSession() as session:
                api = Api(session, base, token, customer)
                deep = await api.cursor_at(args.depth, 50)
                rows = [
                    (
                        "first page (newest 50)",
                        await timed(args.runs, lambda: api.page(50)),
                        await timed(args.runs, lambda: direct_page(scoped, customer, 50, None)),
                    ),
                    (
                        f"page {args.depth + 1} (50, through the cursor)",
                        await timed(args.runs, lambda: api.page(50, deep)),
                        await timed(args.runs, lambda: direct_page(scoped, customer, 50, deep)),
                    ),
                ]
                started = time.perf_counter()
                pages, shown, seen = await api.scroll()
                scroll_s = time.perf_counter() - started
        finally:
            await runner.cleanup()
    print(f"\n{'read':<36}{'API p50 ms':>12}{'p95':>8}{'direct p50 ms':>15}{'p95':>8}")
    for name, (p50, p95), (d50, d95) in rows:
        print(f"{name:<36}{p50:>12.1f}{p95:>8.1f}{d50:>15.1f}{d95:>8.1f}")
    print(
        f"scrolled the whole chat in {pages} pages of 200: {scroll_s:.2f} s "
        f"({scroll_s / pages * 1000:.1f} ms a page); {seen} of {args.messages} messages shown, "
        f"{shown - seen} repeated, {args.messages - seen} skipped"
    )
    return 0 if shown == seen == args.messages else 1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000, help="the long chat's messages")
    parser.add_argument("--customers", type=int, default=2_000, help="other customers (8 each)")
    parser.add_argument("--depth", type=int, default=100, help="pages back for the deep page")
    parser.add_argument("--runs", type=int, default=20, help="timed runs of each read")
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
