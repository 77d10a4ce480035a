"""Report deliveries: once per fire time whatever runs, missed fire times, retries and failures."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from chatcrm.config import Settings, SmtpServer
from chatcrm.domain import iso_utc
from chatcrm.store import Store
from chatcrm.store.schedules import ms_of
from tests.conftest import ShopFixture, make_shop
from tests.fakes.smtp import FakeSmtp
from tests.schedule_support import (
    MAIL_FROM,
    ShiftedClock,
    Start,
    create_schedule,
    deliveries,
    mail_settings,
    scheduler_of,
    until,
)
from tests.test_api_customers import seed_shop

SUNDAY = datetime(2026, 11, 1, 5, tzinfo=UTC)
MONDAY_0800_BANGKOK = datetime(2026, 11, 2, 1, tzinfo=UTC)
DAILY_0800 = {"every": "day", "at": "08:00"}


async def fire_jobs_now(client: TestClient) -> None:
    """Make APScheduler run every report trigger of a service at once, as at its time."""
    aps = scheduler_of(client).apscheduler
    assert aps is not None
    for job in aps.get_jobs():
        if job.id not in ("report-sync", "report-poll"):
            job.modify(next_run_time=datetime.now(UTC))
    aps.wakeup()


async def delivered(client: TestClient, shop: ShopFixture, schedule_id: str, state: str) -> Any:
    """Wait until the schedule has a delivery in `state`; return the deliveries."""

    async def check() -> Any:
        items = await deliveries(client, shop, schedule_id)
        return items if any(d["state"] == state for d in items) else None

    return await until(check, f"a {state} delivery of {schedule_id}")


async def test_two_services_firing_the_same_schedule_send_one_email(
    start_service: Start, settings: Settings, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    await seed_shop(store, shop.id)
    clock = ShiftedClock(SUNDAY)
    one = await start_service(mail_settings(settings, smtp), clock)
    two = await start_service(mail_settings(settings, smtp), clock)
    schedule = await create_schedule(one, shop, cadence=DAILY_0800)
    # the other service learns of the new schedule by its sync
    await until(lambda: _has_jobs(two), "the second service scheduling it")
    clock.set(MONDAY_0800_BANGKOK + timedelta(seconds=20))
    await fire_jobs_now(one)
    await fire_jobs_now(two)
    for service in (one, two):
        await until(lambda s=service: _fired(s), "both services firing")
        await scheduler_of(service).wait_idle()
    (delivery,) = await delivered(one, shop, schedule["id"], "sent")
    assert delivery["fire_time"] == iso_utc(MONDAY_0800_BANGKOK)
    assert delivery["attempts"] == 1 and delivery["kind"] == "scheduled"
    assert len(smtp.to("owner@shop.example")) == 1
    (entry,) = await store.for_shop(shop.id).audit.recent(action="report.send")
    assert entry["recipients"] == ["owner@shop.example"]


async def _has_jobs(client: TestClient) -> bool:
    aps = scheduler_of(client).apscheduler
    return aps is not None and len(aps.get_jobs()) > 2


async def _fired(client: TestClient) -> bool:
    return scheduler_of(client).fires > 0


async def test_missed_fire_times_are_sent_within_6_hours_else_skipped(
    start_service: Start, settings: Settings, store: Store, smtp: FakeSmtp
) -> None:
    late, very_late = await make_shop(store, "Late"), await make_shop(store, "Very late")
    clock = ShiftedClock(SUNDAY)
    first = await start_service(mail_settings(settings, smtp), clock)
    soon = await create_schedule(first, late, cadence={"every": "day", "at": "13:00"})
    early = await create_schedule(first, very_late, cadence=DAILY_0800)
    await first.close()  # every process is down from Sunday noon to Monday afternoon
    clock.set(datetime(2026, 11, 2, 8, 30, tzinfo=UTC))  # 15:30 in Bangkok
    again = await start_service(mail_settings(settings, smtp), clock)
    items = await delivered(again, late, soon["id"], "sent")
    assert {d["fire_time"]: d["state"] for d in items} == {
        "2026-11-02T06:00:00.000+00:00": "sent",  # Monday 13:00, 2.5 h late
        "2026-11-01T06:00:00.000+00:00": "skipped",  # Sunday 13:00, 26.5 h late
    }
    (skipped,) = await delivered(again, very_late, early["id"], "skipped")
    assert skipped["fire_time"] == iso_utc(MONDAY_0800_BANGKOK)  # 7.5 h late
    assert "missed" in skipped["last_error"] and "6 h" in skipped["last_error"]
    await scheduler_of(again).wait_idle()
    assert len(smtp.messages) == 1 and smtp.messages[0].recipients == ["owner@shop.example"]
    assert "Late" in smtp.messages[0].message["Subject"]


async def test_daily_report_in_rome_across_the_spring_change(
    start_service: Start, settings: Settings, store: Store, smtp: FakeSmtp
) -> None:
    await store.shops.create("Bottega", timezone="Europe/Rome", locale="en", shop_id="shop_rome")
    rome = ShopFixture("shop_rome", await store.tokens.create("shop_rome", "owner"), "")
    clock = ShiftedClock(datetime(2026, 3, 27, 12, tzinfo=UTC))
    first = await start_service(mail_settings(settings, smtp), clock)
    schedule = await create_schedule(first, rome, cadence=DAILY_0800, format="none")
    assert schedule["next_fire_at"] == "2026-03-28T07:00:00.000+00:00"  # 08:00 CET
    await first.close()
    clock.set(datetime(2026, 3, 29, 6, 5, tzinfo=UTC))  # 08:05 CEST, the day clocks moved on
    again = await start_service(mail_settings(settings, smtp), clock)
    items = await delivered(again, rome, schedule["id"], "sent")
    by_state = {d["state"]: d["fire_time"] for d in items}
    assert by_state == {
        "sent": "2026-03-29T06:00:00.000+00:00",
        "skipped": "2026-03-28T07:00:00.000+00:00",
    }
    (message,) = [m.message for m in smtp.messages]
    assert message["Subject"] == "Bottega: Report ลูกค้า VIP รายสัปดาห์ — 29 Mar 2026"
    resp = await again.get(f"/api/v1/report-schedules/{schedule['id']}", headers=rome.auth())
    assert (await resp.json())["next_fire_at"] == "2026-03-30T06:00:00.000+00:00"  # 08:00 CEST


async def send_now(client: TestClient, shop: ShopFixture, schedule_id: str) -> dict[str, Any]:
    resp = await client.post(f"/api/v1/report-schedules/{schedule_id}/send", headers=shop.auth())
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_4xx_answer_is_retried_until_it_succeeds(
    start_service: Start, settings: Settings, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    await seed_shop(store, shop.id)
    smtp.data_answers = ["451 4.3.0 Mailbox busy, try again later"]
    client = await start_service(mail_settings(settings, smtp), ShiftedClock(SUNDAY))
    schedule = await create_schedule(client, shop)
    first = await send_now(client, shop, schedule["id"])
    assert first["state"] == "retrying" and first["attempts"] == 1
    assert first["last_error"] == "451 4.3.0 Mailbox busy, try again later"
    (done,) = await delivered(client, shop, schedule["id"], "sent")
    assert done["attempts"] == 2 and done["id"] == first["id"]
    assert len(smtp.messages) == 1


async def test_no_connection_is_retried_until_the_server_answers(
    start_service: Start, settings: Settings, store: Store, shop: ShopFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = settings.with_changes(smtp=SmtpServer("127.0.0.1", port), mail_from=MAIL_FROM)
    client = await start_service(down, ShiftedClock(SUNDAY), retry_window_s=60.0)
    schedule = await create_schedule(client, shop, format="csv")
    first = await send_now(client, shop, schedule["id"])
    assert first["state"] == "retrying" and "cannot deliver to 127.0.0.1" in first["last_error"]
    server = await FakeSmtp().start(port)
    try:
        (done,) = await delivered(client, shop, schedule["id"], "sent")
        assert done["attempts"] >= 2 and len(server.messages) == 1
    finally:
        await server.stop()


async def test_a_5xx_answer_fails_at_once_with_the_servers_words(
    start_service: Start, settings: Settings, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    smtp.data_answers = ["554 5.7.1 Message rejected: looks like spam"]
    client = await start_service(mail_settings(settings, smtp), ShiftedClock(SUNDAY))
    schedule = await create_schedule(client, shop)
    delivery = await send_now(client, shop, schedule["id"])
    assert delivery["state"] == "failed" and delivery["attempts"] == 1
    assert delivery["last_error"] == "554 5.7.1 Message rejected: looks like spam"
    await scheduler_of(client).wait_idle()
    (again,) = await deliveries(client, shop, schedule["id"])
    assert again["state"] == "failed" and again["attempts"] == 1 and smtp.messages == []


async def test_one_refused_recipient_does_not_stop_the_others(
    start_service: Start, settings: Settings, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    smtp.rcpt_answers = {"gone@shop.example": "550 5.1.1 No such user"}
    client = await start_service(mail_settings(settings, smtp), ShiftedClock(SUNDAY))
    schedule = await create_schedule(
        client, shop, recipients=["owner@shop.example", "gone@shop.example"]
    )
    delivery = await send_now(client, shop, schedule["id"])
    assert delivery["state"] == "sent" and delivery["delivered_to"] == ["owner@shop.example"]
    assert delivery["last_error"] == "gone@shop.example: 550 5.1.1 No such user"
    assert [m.recipients for m in smtp.messages] == [["owner@shop.example"]]


async def test_temporary_failures_give_up_after_the_retry_window(
    start_service: Start, settings: Settings, shop: ShopFixture, smtp: FakeSmtp, store: Store
) -> None:
    smtp.data_answers = ["421 4.7.0 Too many connections"] * 100
    client = await start_service(
        mail_settings(settings, smtp), ShiftedClock(SUNDAY), retry_window_s=0.5
    )
    schedule = await create_schedule(client, shop, format="none")
    await send_now(client, shop, schedule["id"])
    (failed,) = await delivered(client, shop, schedule["id"], "failed")
    assert failed["attempts"] > 1 and failed["last_error"].startswith("gave up after")
    assert failed["last_error"].endswith("421 4.7.0 Too many connections")


async def test_a_deleted_segment_fails_the_report_and_never_sends_everyone(
    start_service: Start, settings: Settings, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    client = await start_service(mail_settings(settings, smtp), ShiftedClock(SUNDAY))
    resp = await client.post(
        "/api/v1/segments", json={"name": "VIP", "filters": {"tag": "VIP"}}, headers=shop.auth()
    )
    segment = await resp.json()
    schedule = await create_schedule(client, shop, segment_id=segment["id"])
    await store.for_shop(shop.id).segments.delete(segment["id"])  # as a race would
    delivery = await send_now(client, shop, schedule["id"])
    assert delivery["state"] == "failed" and "no segment" in delivery["last_error"]
    assert smtp.messages == []


async def test_a_claim_whose_process_died_is_taken_over_once(
    start_service: Start, settings: Settings, store: Store, shop: ShopFixture, smtp: FakeSmtp
) -> None:
    clock = ShiftedClock(SUNDAY)
    client = await start_service(mail_settings(settings, smtp), clock)
    schedule = await create_schedule(client, shop, cadence=DAILY_0800, format="none")
    # what a process killed right after claiming Monday's delivery leaves behind
    doc = await store.for_shop(shop.id).schedules.get(schedule["id"])
    assert doc is not None
    fire = ms_of(MONDAY_0800_BANGKOK)
    claim = await store.for_shop(shop.id).deliveries.claim(doc, fire, now_ms=fire, lease_ms=60_000)
    assert claim is not None
    clock.set(MONDAY_0800_BANGKOK + timedelta(seconds=61))  # its lease ran out
    (done,) = await delivered(client, shop, schedule["id"], "sent")
    assert done["id"] == claim.id and done["attempts"] == 2
    await fire_jobs_now(client)  # the trigger firing now finds the delivery claimed
    await until(lambda: _fired(client), "the trigger firing")
    await scheduler_of(client).wait_idle()
    assert len(smtp.messages) == 1
