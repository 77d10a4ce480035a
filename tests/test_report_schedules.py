"""Report schedules: the API's rules, owner only, and fire times across daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.schedules import Cadence, fire_times, next_fire, report_period
from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.schedule_support import WEEKLY, create_schedule, deliveries

ROME = "Europe/Rome"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_0800_in_rome_follows_daylight_saving() -> None:
    daily = Cadence("day", "08:00")
    spring = fire_times(daily, ROME, utc(2026, 3, 27), utc(2026, 3, 31))
    assert spring == [
        utc(2026, 3, 27, 7),
        utc(2026, 3, 28, 7),
        utc(2026, 3, 29, 6),
        utc(2026, 3, 30, 6),
    ]
    autumn = fire_times(daily, ROME, utc(2026, 10, 23), utc(2026, 10, 27))
    assert autumn == [
        utc(2026, 10, 23, 6),
        utc(2026, 10, 24, 6),
        utc(2026, 10, 25, 7),
        utc(2026, 10, 26, 7),
    ]


def test_a_time_the_clock_skips_or_repeats_fires_once() -> None:
    night = Cadence("day", "02:30")
    # 29 March 2026: 02:00 -> 03:00 in Rome; the report goes at 03:30 local, once
    assert fire_times(night, ROME, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)) == [
        utc(2026, 3, 29, 1, 30)
    ]
    # 25 October 2026: 03:00 -> 02:00; 02:30 happens twice, the report goes the first time only
    assert fire_times(night, ROME, utc(2026, 10, 24, 12), utc(2026, 10, 25, 12)) == [
        utc(2026, 10, 25, 0, 30)
    ]


def test_weekly_monthly_and_their_periods() -> None:
    monday = Cadence("week", "08:00", weekday="mon")
    assert next_fire(monday, "Asia/Bangkok", utc(2026, 11, 20)) == utc(2026, 11, 23, 1)
    assert report_period(monday, "Asia/Bangkok", utc(2026, 11, 23, 1)) == (
        date(2026, 11, 16),
        date(2026, 11, 22),
    )
    last = Cadence("month", "20:00", day="last")
    assert next_fire(last, ROME, utc(2026, 2, 1)) == utc(2026, 2, 28, 19)
    first = Cadence("month", "08:00", day=1)
    assert report_period(first, ROME, utc(2026, 12, 1, 7)) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
    )
    assert report_period(Cadence("day", "08:00"), ROME, utc(2026, 3, 29, 6)) == (
        date(2026, 3, 28),
        date(2026, 3, 28),
    )


async def test_owner_manages_schedules_and_recipients_are_deduplicated(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    created = await create_schedule(
        client,
        shop,
        recipients=["Owner@Shop.example", "accountant@shop.example", "owner@shop.EXAMPLE"],
    )
    assert created["recipients"] == ["Owner@Shop.example", "accountant@shop.example"]
    assert created["cadence"] == WEEKLY and created["timezone"] == "Asia/Bangkok"
    assert created["enabled"] and created["format"] == "xlsx" and created["period"] == "cadence"
    fire = datetime.fromisoformat(created["next_fire_at"])
    assert fire.astimezone(UTC).hour == 1 and fire.weekday() == 0  # 08:00 in Bangkok, a Monday
    sid = created["id"]
    resp = await client.patch(
        f"/api/v1/report-schedules/{sid}",
        json={"enabled": False, "cadence": {"every": "month", "at": "07:30", "day": "last"}},
        headers=shop.auth(),
    )
    assert resp.status == 200
    edited = await resp.json()
    assert not edited["enabled"] and edited["next_fire_at"] is None
    assert edited["cadence"]["day"] == "last" and edited["recipients"] == created["recipients"]
    listed = await (await client.get("/api/v1/report-schedules", headers=shop.auth())).json()
    assert [s["id"] for s in listed["items"]] == [sid]
    assert await deliveries(client, shop, sid) == []
    assert (
        await client.delete(f"/api/v1/report-schedules/{sid}", headers=shop.auth())
    ).status == 204
    resp = await client.get(f"/api/v1/report-schedules/{sid}", headers=shop.auth())
    assert resp.status == 404
    actions = [e["action"] for e in await store.for_shop(shop.id).audit.recent()]
    assert actions == ["schedule.delete", "schedule.update", "schedule.create"]


async def test_staff_tokens_are_refused_on_schedules(client: TestClient, shop: ShopFixture) -> None:
    created = await create_schedule(client, shop)
    sid = created["id"]
    staff = shop.auth("staff")
    calls = [
        client.get("/api/v1/report-schedules", headers=staff),
        client.post("/api/v1/report-schedules", json={"name": "x"}, headers=staff),
        client.get(f"/api/v1/report-schedules/{sid}", headers=staff),
        client.patch(f"/api/v1/report-schedules/{sid}", json={"enabled": False}, headers=staff),
        client.delete(f"/api/v1/report-schedules/{sid}", headers=staff),
        client.post(f"/api/v1/report-schedules/{sid}/send", headers=staff),
        client.get(f"/api/v1/report-schedules/{sid}/deliveries", headers=staff),
    ]
    for call in calls:
        resp = await call
        assert resp.status == 403, resp.url
        assert (await resp.json())["error"]["code"] == "forbidden"
    resp = await client.get(f"/api/v1/report-schedules/{sid}", headers=shop.auth())
    assert (await resp.json())["enabled"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"recipients": []}, "recipients"),
        ({"recipients": ["not-an-address"]}, "recipients"),
        ({"recipients": [f"r{i}@shop.example" for i in range(21)]}, "recipients"),
        ({"cadence": {"every": "hour", "at": "08:00"}}, "cadence.every"),
        ({"cadence": {"every": "day", "at": "8am"}}, "cadence.at"),
        ({"cadence": {"every": "week", "at": "08:00"}}, "cadence.weekday"),
        ({"cadence": {"every": "day", "at": "08:00", "weekday": "mon"}}, "cadence.weekday"),
        ({"cadence": {"every": "month", "at": "08:00", "day": 31}}, "cadence.day"),
        ({"format": "pdf"}, "format"),
        ({"period": "forever"}, "period"),
        ({"enabled": "yes"}, "enabled"),
        ({"segment_id": "seg_missing"}, "segment_id"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_schedules_name_the_field(
    client: TestClient, shop: ShopFixture, change: dict[str, Any], field: str
) -> None:
    body = {"name": "r", "cadence": WEEKLY, "recipients": ["a@shop.example"], **change}
    resp = await client.post("/api/v1/report-schedules", json=body, headers=shop.auth())
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["error"]["field"] == field


async def test_a_segment_in_use_cannot_be_deleted(client: TestClient, shop: ShopFixture) -> None:
    resp = await client.post(
        "/api/v1/segments", json={"name": "VIP", "filters": {"tag": "VIP"}}, headers=shop.auth()
    )
    segment = await resp.json()
    schedule = await create_schedule(client, shop, segment_id=segment["id"])
    resp = await client.delete(f"/api/v1/segments/{segment['id']}", headers=shop.auth())
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "segment_in_use"
    await client.delete(f"/api/v1/report-schedules/{schedule['id']}", headers=shop.auth())
    resp = await client.delete(f"/api/v1/segments/{segment['id']}", headers=shop.auth())
    assert resp.status == 204
