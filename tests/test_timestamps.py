"""Every timestamp the API answers with has one format: ISO 8601 in UTC with milliseconds."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.test_api_customers import BASE, seed_shop

LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
ONE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00$")


def _times(value: Any, path: str = "") -> dict[str, str]:
    """Every string of a JSON body that looks like a timestamp, by its path."""
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _times(item, f"{path}.{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for i, item in enumerate(value) for k, v in _times(item, f"{path}[{i}]").items()
        }
    return {path: value} if isinstance(value, str) and LOOKS_LIKE_TIME.match(value) else {}


async def test_timestamps_have_one_format_on_every_main_route(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    await seed_shop(store, shop.id)
    await store.for_shop(shop.id).messages.add(
        {
            "customer_id": "cus_0001",
            "channel": "line",
            "channel_id": "ch_1",
            "direction": "in",
            "type": "text",
            "text": "สวัสดี",
            "platform_message_id": "m1",
            "sent_at": BASE + timedelta(minutes=1),  # whole seconds
        }
    )
    auth = shop.auth()
    order = {
        "order_id": "T-1",
        "customer": {"id": "cus_0001"},
        "amount": 9900,
        "status": "paid",
        "paid_at": "2026-11-02T10:00:00+07:00",  # an offset and no fraction
        "created_at": "2026-11-02T09:59:59.5+07:00",
    }
    created = await client.post("/api/v1/orders", json=order, headers=auth)
    assert created.status == 201, await created.text()
    patched = await client.patch(
        "/api/v1/customers/cus_0002", json={"notes": "x"}, headers={**auth, "If-Match": '"1"'}
    )
    assert patched.status == 200
    channel = {"platform": "line", "secrets": {"channel_secret": "s" * 32, "access_token": "t"}}
    assert (await client.post("/api/v1/channels", json=channel, headers=auth)).status == 201
    answers = {"POST /api/v1/orders": await created.json(), "PATCH": await patched.json()}
    for path in (
        "/api/v1/shop",
        "/api/v1/channels",
        "/api/v1/customers",
        "/api/v1/customers?sort=updated_at&order=desc",
        "/api/v1/report/summary",
        "/api/v1/customers/cus_0001",
        "/api/v1/customers/cus_0002",
        "/api/v1/customers/cus_0001/messages",
        "/api/v1/customers/cus_0002/audit",
        "/api/v1/orders/T-1",
    ):
        resp = await client.get(path, headers=auth)
        assert resp.status == 200, (path, await resp.text())
        answers[path] = await resp.json()
    times = {
        f"{route} {where}": value
        for route, body in answers.items()
        for where, value in _times(body).items()
    }
    wrong = {where: value for where, value in times.items() if not ONE_FORMAT.match(value)}
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())
    fields = {where.rsplit(".", 1)[-1] for where in times}
    assert {"updated_at", "last_order_at", "paid_at", "created_at", "sent_at", "at"} <= fields
    assert answers["/api/v1/orders/T-1"]["paid_at"] == "2026-11-02T03:00:00.000+00:00"
    assert answers["/api/v1/orders/T-1"]["created_at"] == "2026-11-02T02:59:59.500+00:00"
