"""The demo shop: realistic customers, orders and chats so a new user sees a populated service."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from chatcrm.auth import demo_link, link_url
from chatcrm.config import local_base_url
from chatcrm.demo_data import generate
from chatcrm.domain import ConflictError, DomainError
from chatcrm.keys import DATABASE, REPORT_SCHEDULER, SETTINGS
from chatcrm.provinces import province_key
from chatcrm.schedules import parse_schedule
from chatcrm.segments import parse_segment
from chatcrm.store import ShopStore, Store
from chatcrm.store.base import utcnow
from chatcrm.store.schedules import ms_of

log = logging.getLogger(__name__)

DEMO_SHOP_ID = "shop_demo"
DEMO_OWNER_EMAIL = "demo@example.com"
"""The demo shop's owner: no password; the demo's sign-in link signs them in."""
DEMO_SEGMENT_ID = "seg_demo_vip"
DEMO_SCHEDULE_ID = "sch_demo_weekly"
DEMO_SECRETS: dict[str, dict[str, str | None]] = {
    "line": {"channel_secret": "demo-line-channel-secret", "access_token": "demo-line-token"},
    "telegram": {"bot_token": "123456:demo-telegram-token", "secret_token": "demo-secret-token"},
    "messenger": {
        "page_access_token": "demo-page-token",
        "app_secret": "demo-app-secret",
        "verify_token": "demo-verify-token",
    },
}


SEED_BATCH = 1000
"""Documents per insert when seeding: one insert of 20,000 messages could outlast PyMongo's
socket timeout on a busy machine."""


async def seed_demo(store: Store, customers: int = 5000) -> dict[str, Any]:
    """Create the demo shop and its data once; a second run adds nothing. Returns a summary."""
    shop = await store.shops.create(
        "ร้านน้องมายด์ Demo Shop",
        timezone="Asia/Bangkok",
        currency="THB",
        locale="th",
        shop_id=DEMO_SHOP_ID,
    )
    scoped = store.for_shop(shop.id)
    channel_ids = {}
    for platform, secrets in DEMO_SECRETS.items():
        channel = await scoped.channels.add(
            platform, secrets, name=f"Demo {platform}", channel_id=f"ch_demo_{platform}"
        )
        channel_ids[platform] = channel.id
    existing = await scoped.customers.count()
    inserted = {"customers": 0, "orders": 0, "messages": 0}
    if existing < customers:
        data = generate(shop.id, channel_ids, customers=customers, now=utcnow())
        for doc in data.customers:
            doc["province_key"] = province_key(doc["province"], doc["postal_code"])
            doc["_key"] = doc["_id"]
        for name, docs in (
            ("customers", data.customers),
            ("orders", data.orders),
            ("messages", data.messages),
        ):
            collection = getattr(scoped, name)
            for start in range(0, len(docs), SEED_BATCH):  # each well within a socket timeout
                inserted[name] += await collection.insert_new(docs[start : start + SEED_BATCH])
    schedule = await _sample_schedule(scoped, shop.timezone)
    # the same token on every run (derived from the secret key): a restart keeps links working
    secret = store.box.derive(f"demo-token:{shop.id}")
    token = await store.tokens.install(shop.id, "owner", "demo", secret)
    return {
        "sign_in_token": await _owner_sign_in_token(store, shop.id),
        "shop_id": shop.id,
        "customers": await scoped.customers.count(),
        "inserted": inserted,
        "channels": channel_ids,
        "schedule_id": schedule["_id"],
        "token": token,
    }


async def _owner_sign_in_token(store: Store, shop_id: str) -> str:
    """The demo owner's sign-in token (the same at every start; see `auth.demo_link`)."""
    owner = await store.users.by_email(DEMO_OWNER_EMAIL)
    if owner is None:
        owner = await store.users.create(shop_id, DEMO_OWNER_EMAIL, "owner", None)
    if owner.shop_id != shop_id:
        raise DomainError(f"{DEMO_OWNER_EMAIL} belongs to another shop", field="email")
    return await demo_link(store, owner)


async def _sample_schedule(scoped: ShopStore, timezone: str) -> dict[str, Any]:
    """The demo's report e-mail: its VIP customers every Monday at 08:00 (once)."""
    if await scoped.segments.get(DEMO_SEGMENT_ID) is None:
        fields = parse_segment(
            {"name": "VIP", "filters": {"tag": "VIP"}, "sort": "paid_total", "order": "desc"},
            timezone,
        )
        with contextlib.suppress(ConflictError):  # a VIP segment of the user's own
            await scoped.segments.create(fields, DEMO_SEGMENT_ID)
    schedule = await scoped.schedules.get(DEMO_SCHEDULE_ID)
    if schedule is None:
        segment = await scoped.segments.get(DEMO_SEGMENT_ID)
        fields = parse_schedule(
            {
                "name": "ลูกค้า VIP ประจำสัปดาห์",
                "segment_id": segment["_id"] if segment else None,
                "cadence": {"every": "week", "at": "08:00", "weekday": "mon"},
                "recipients": ["owner@demo-shop.example"],
            }
        )
        schedule = await scoped.schedules.create(
            fields, timezone, ms_of(datetime.now(UTC)), DEMO_SCHEDULE_ID
        )
    return schedule


async def demo_on_startup(app: web.Application) -> None:
    """`chatcrm serve --demo`: seed, then tell the user where to look and with which token."""
    store = app[DATABASE].store
    summary = await seed_demo(store)
    schedule = await store.for_shop(summary["shop_id"]).schedules.get(summary["schedule_id"])
    if schedule is not None:
        await app[REPORT_SCHEDULER].refresh(schedule)
    settings = app[SETTINGS]
    log.info("%s", demo_banner(summary, local_base_url(settings), settings.data_dir / "outbox"))


def demo_banner(summary: dict[str, Any], base: str, outbox: Path) -> str:
    """What `serve --demo` tells the user: the one-click sign-in link and two curl lines."""
    auth = f"-H 'Authorization: Bearer {summary['token']}'"
    send = f"{base}/api/v1/report-schedules/{summary['schedule_id']}/send"
    return (
        f"demo shop {summary['shop_id']} ready with {summary['customers']} customers\n\n"
        f"  Dashboard (signs you in): {link_url(base, 'demo', summary['sign_in_token'])}\n"
        f"  API:       curl {auth} {base}/api/v1/customers\n"
        f"  E-mail:    curl -X POST {auth} {send}\n"
        f"             (without SMTP_URL the e-mail is written under {outbox})\n"
    )
