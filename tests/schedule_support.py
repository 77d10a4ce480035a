"""Helpers of the report schedule tests: a movable clock, the SMTP server, a service using them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.app import create_app
from chatcrm.config import Settings, SmtpServer
from chatcrm.delivery import DeliveryTuning
from chatcrm.keys import REPORT_SCHEDULER
from chatcrm.scheduler import ReportScheduler, SchedulerTuning
from reports.exports import DEFAULT_LIMITS, ExportLimits
from tests.fakes.smtp import FakeSmtp

if TYPE_CHECKING:
    from tests.conftest import ShopFixture

MAIL_FROM = "รายงาน chatcrm <reports@shop.example>"
WEEKLY = {"every": "week", "at": "08:00", "weekday": "mon", "day": None}


class ShiftedClock:
    """The real time moved to a chosen instant: it keeps ticking from there."""

    def __init__(self, now: datetime) -> None:
        self.offset = timedelta(0)
        self.set(now)

    def set(self, now: datetime) -> None:
        """Make the clock read `now` at this moment."""
        self.offset = now - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def tuning(clock: ShiftedClock, **delivery: Any) -> SchedulerTuning:
    """Timings for tests: quick polls and retries, a long lease (no take-over by accident)."""
    return SchedulerTuning(
        clock=clock,
        poll_s=0.05,
        sync_s=0.2,
        delivery=DeliveryTuning(
            **{"lease_s": 30.0, "retry_base_s": 0.05, "retry_window_s": 2.0, **delivery}
        ),
    )


@pytest.fixture
async def smtp() -> AsyncIterator[FakeSmtp]:
    """A real SMTP server on 127.0.0.1 (aiosmtpd)."""
    server = await FakeSmtp().start()
    yield server
    await server.stop()


def mail_settings(settings: Settings, smtp: FakeSmtp) -> Settings:
    """The test's settings, sending through `smtp`."""
    return settings.with_changes(smtp=SmtpServer("127.0.0.1", smtp.port), mail_from=MAIL_FROM)


Start = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def start_service(aiohttp_client: Any) -> Start:
    """Start a service (several may share one database) with the given clock and timings."""

    async def start(
        settings: Settings, clock: ShiftedClock, export_rows: int | None = None, **delivery: Any
    ) -> TestClient:
        limits = ExportLimits(rows=export_rows, batch=export_rows) if export_rows else None
        app = create_app(
            settings, scheduler=tuning(clock, **delivery), export_limits=limits or DEFAULT_LIMITS
        )
        return await aiohttp_client(app)

    return start


def scheduler_of(client: TestClient) -> ReportScheduler:
    """The report scheduler of a running service."""
    return client.app[REPORT_SCHEDULER]


async def until(check: Callable[[], Awaitable[Any]], what: str, give_up_s: float = 30.0) -> Any:
    """Wait until `check` returns something true (no assertion on how long it took)."""
    deadline = asyncio.get_running_loop().time() + give_up_s
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


async def create_schedule(client: TestClient, shop: ShopFixture, **fields: Any) -> dict[str, Any]:
    """A weekly report schedule made through the API (fields override the defaults)."""
    body = {
        "name": "ลูกค้า VIP รายสัปดาห์",
        "cadence": WEEKLY,
        "recipients": ["owner@shop.example"],
        "format": "xlsx",
        **fields,
    }
    resp = await client.post("/api/v1/report-schedules", json=body, headers=shop.auth())
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def deliveries(client: TestClient, shop: ShopFixture, schedule_id: str) -> list[Any]:
    """The schedule's deliveries as the API lists them."""
    resp = await client.get(
        f"/api/v1/report-schedules/{schedule_id}/deliveries", headers=shop.auth()
    )
    assert resp.status == 200, await resp.text()
    return (await resp.json())["items"]
