"""The demo shop: realistic customers, orders and chats so a new user sees a populated service."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from chatcrm.auth import demo_link, link_url
from chatcrm.config import local_base_url
from chatcrm.demo_data import generate
from chatcrm.domain import DomainError
from chatcrm.keys import DATABASE, SETTINGS
from chatcrm.provinces import province_key
from chatcrm.store import Store
from chatcrm.store.base import utcnow

log = logging.getLogger(__name__)

DEMO_SHOP_ID = "shop_demo"
DEMO_OWNER_EMAIL = "demo@example.com"
"""The demo shop's owner: no password; the demo's sign-in link signs them in."""
DEMO_SECRETS: dict[str, dict[str, str | None]] = {
    "line": {"channel_secret": "demo-line-channel-secret", "access_token": "demo-line-token"},
    "telegram": {"bot_token": "123456:demo-telegram-token", "secret_token": "demo-secret-token"},
    "messenger": {
        "page_access_token": "demo-page-token",
        "app_secret": "demo-app-secret",
        "verify_token": "demo-verify-token",
    },
}


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
        inserted["customers"] = await scoped.customers.insert_new(data.customers)
        inserted["orders"] = await scoped.orders.insert_new(data.orders)
        inserted["messages"] = await scoped.messages.insert_new(data.messages)
    # the same token on every run (derived from the secret key): a restart keeps links working
    secret = store.box.derive(f"demo-token:{shop.id}")
    token = await store.tokens.install(shop.id, "owner", "demo", secret)
    return {
        "sign_in_token": await _owner_sign_in_token(store, shop.id),
        "shop_id": shop.id,
        "customers": await scoped.customers.count(),
        "inserted": inserted,
        "channels": channel_ids,
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


async def demo_on_startup(app: web.Application) -> None:
    """`chatcrm serve --demo`: seed, then tell the user where to look and with which token."""
    summary = await seed_demo(app[DATABASE].store)
    settings = app[SETTINGS]
    base = local_base_url(settings)
    log.info(
        "demo shop %s ready with %s customers\n\n"
        "  Dashboard (signs you in): %s\n"
        "  API:       curl -H 'Authorization: Bearer %s' %s/api/v1/customers\n",
        summary["shop_id"],
        summary["customers"],
        link_url(base, "demo", summary["sign_in_token"]),
        summary["token"],
        base,
    )
