"""Two real service processes: one is killed between claiming a report and sending it."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chatcrm.config import Settings
from chatcrm.schedules import parse_schedule
from chatcrm.store import Store
from chatcrm.store.schedules import ms_of
from tests.conftest import SECRET_KEY, ShopFixture
from tests.fakes.smtp import FakeSmtp
from tests.schedule_support import MAIL_FROM, until

pytestmark = pytest.mark.slow  # two service processes

Check = Callable[[], Awaitable[Any]]


class SilentServer:
    """Accepts SMTP connections and never answers: a send that hangs after the claim."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> SilentServer:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.read()  # until the client goes away

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()


@pytest.fixture
async def silent() -> AsyncIterator[SilentServer]:
    server = await SilentServer().start()
    yield server
    await server.stop()


async def serve(settings: Settings, name: str, smtp_port: int) -> asyncio.subprocess.Process:
    """`chatcrm serve` on the test's database, mailing through 127.0.0.1:`smtp_port`."""
    assert settings.mongodb_uri is not None
    env = {
        **os.environ,
        "MONGODB_URI": settings.mongodb_uri,
        "MONGODB_DB": settings.mongodb_db,
        "CHATCRM_SECRET_KEY": SECRET_KEY,
        "CHATCRM_DATA_DIR": str(Path(settings.data_dir) / name),
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "MAIL_FROM": MAIL_FROM,
        "CHATCRM_DELIVERY_LEASE_SECONDS": "2",
        "CHATCRM_INBOX_WORKERS": "0",
        "PORT": "0",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatcrm.cli",
        "serve",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_a_process_killed_between_claim_and_send_is_taken_over_once(
    settings: Settings, store: Store, shop: ShopFixture, silent: SilentServer, smtp: FakeSmtp
) -> None:
    now = datetime.now(UTC)
    fire = (now - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Bangkok"))
    fields = parse_schedule(
        {
            "name": "daily",
            "cadence": {"every": "day", "at": f"{fire:%H:%M}"},
            "recipients": ["owner@shop.example"],
            "format": "none",
        }
    )
    # made three hours ago: its fire time an hour ago was missed, and is due at start-up
    schedules = store.for_shop(shop.id).schedules
    schedule = await schedules.create(fields, "Asia/Bangkok", ms_of(now - timedelta(hours=3)))
    first = await serve(settings, "first", silent.port)
    try:
        await until(_connected(silent), "the first process claiming and starting to send", 90)
        deliveries = store.db["report_deliveries"]
        (claimed,) = await deliveries.find({"schedule_id": schedule["_id"]}).to_list(None)
        assert claimed["state"] == "sending" and claimed["attempts"] == 1
    finally:
        first.kill()  # between the claim and the send: nothing was handed over
        await first.wait()
    # the lease the dead process held runs out two seconds after its last renewal
    await until(_lease_expired(store, claimed["_id"]), "the dead process's lease running out")
    second = await serve(settings, "second", smtp.port)
    try:
        done = await until(_sent(store, claimed["_id"]), "the second process sending it", 90)
    finally:
        second.terminate()
        await second.wait()
    assert done["attempts"] == 2 and done["delivered_to"] == ["owner@shop.example"]
    assert len(smtp.messages) == 1 and silent.connections == 1


def _connected(silent: SilentServer) -> Check:
    async def check() -> bool:
        return silent.connections > 0

    return check


def _lease_expired(store: Store, delivery_id: str) -> Check:
    async def check() -> bool:
        doc = await store.db["report_deliveries"].find_one({"_id": delivery_id})
        return doc is not None and doc["due_ms"] < ms_of(datetime.now(UTC))

    return check


def _sent(store: Store, delivery_id: str) -> Check:
    async def check() -> Any:
        doc = await store.db["report_deliveries"].find_one({"_id": delivery_id})
        return doc if doc is not None and doc["state"] == "sent" else None

    return check
