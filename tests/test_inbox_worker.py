"""The inbox: leases, crashes, retries, failed events, a stopped database, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.embedded import EmbeddedMongo
from chatcrm.ingest.worker import InboxWorker
from chatcrm.secrets_box import SecretBox
from chatcrm.store import Store
from connectors.pool import ConnectorPool
from tests.conftest import SECRET_KEY, make_shop
from tests.fakes.telegram import FakeTelegram
from tests.ingest_support import Fakes, Ingest, add_channels, settings_for
from tests.test_timestamps import ONE_FORMAT

USER = "Ua69f03e594eefbb87cde656abf334c1d"


def line_batch(batch: int, size: int = 5) -> dict[str, Any]:
    """A LINE request with `size` text events from different users, ids unique per batch."""
    events = [
        {
            "type": "message",
            "mode": "active",
            "timestamp": 1763608512345 + batch * 100 + i,
            "source": {"type": "user", "userId": f"U{batch:016x}{i:016x}"},
            "webhookEventId": f"01BATCH{batch:08d}{i:011d}",
            "deliveryContext": {"isRedelivery": False},
            "replyToken": f"{batch:016x}{i:016x}",
            "message": {"id": f"{batch}{i:04d}", "type": "text", "text": f"order {batch}/{i}"},
        }
        for i in range(size)
    ]
    return {"destination": "U1f0c8a2d3b4e5f60718293a4b5c6d7e8", "events": events}


async def test_two_workers_on_one_inbox_never_process_an_event_twice(
    ingest: Ingest, settings: Settings, fakes: Fakes
) -> None:
    for batch in range(8):
        assert (await ingest.line(line_batch(batch))).status == 200
    assert len(await ingest.inbox()) == 40
    # two "processes": each its own database client, connectors and worker
    stores = [Store.connect(settings.mongodb_uri or "", settings.mongodb_db, SecretBox(SECRET_KEY))]
    stores.append(
        Store.connect(settings.mongodb_uri or "", settings.mongodb_db, SecretBox(SECRET_KEY))
    )
    async with aiohttp.ClientSession() as http:
        pools = [ConnectorPool(settings_for(settings, fakes), http) for _ in stores]
        workers = [InboxWorker(s, p, settings) for s, p in zip(stores, pools, strict=True)]
        counts = await asyncio.gather(*(w.drain() for w in workers))
        for pool in pools:
            await pool.close()
    for st in stores:
        await st.close()
    assert sum(counts) == 40
    inbox = await ingest.inbox()
    assert {(e["state"], e["attempts"]) for e in inbox} == {("done", 1)}
    messages = await ingest.messages()
    assert len(messages) == 40 and len({m["platform_message_id"] for m in messages}) == 40
    assert len(await ingest.customers()) == 40


@pytest.fixture
async def hanging_line() -> AsyncIterator[tuple[str, asyncio.Event]]:
    """A LINE API that never answers: the worker is stuck mid-event when it is killed."""
    reached = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        reached.set()
        await asyncio.sleep(3600)
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", reached
    await runner.cleanup()


async def test_worker_crash_mid_event_then_restart_processes_it_once(
    ingest: Ingest, settings: Settings, fakes: Fakes, hanging_line: tuple[str, asyncio.Event]
) -> None:
    url, reached = hanging_line
    fakes.line.add_profile(USER, "Ploy")
    assert (await ingest.line("text_user")).status == 200
    async with aiohttp.ClientSession() as http:
        stuck = ConnectorPool(settings_for(settings, fakes, line_api_base_url=url), http)
        crashed = InboxWorker(ingest.store, stuck, settings, lease_seconds=0.5)
        task = asyncio.create_task(crashed.run())
        await asyncio.wait_for(reached.wait(), 30)  # mid-event: fetching the profile
        task.cancel()  # the process dies; its lease is never released
        with pytest.raises(asyncio.CancelledError):
            await task
        await stuck.close()
    [event] = await ingest.inbox()
    assert event["state"] == "processing" and await ingest.customers() == []
    restarted = ingest.worker(lease_seconds=5)
    for _ in range(200):  # claimable again once the dead worker's lease expires
        if await restarted.drain():
            break
        await asyncio.sleep(0.05)
    [event] = await ingest.inbox()
    assert (event["state"], event["attempts"]) == ("done", 2)
    assert [c["name"] for c in await ingest.customers()] == ["Ploy"]
    assert len(await ingest.messages()) == 1


async def test_stopped_service_leaves_events_for_the_next_one(
    aiohttp_client: Any, settings: Settings, store: Store, fakes: Fakes
) -> None:
    shop = await make_shop(store)
    channels = await add_channels(store, shop.id, fakes)
    first = await aiohttp_client(create_app(settings_for(settings, fakes, inbox_workers=0)))
    ingest = Ingest(first, store, shop.id, channels)
    assert (await ingest.line("multi_events")).status == 200
    await first.close()  # stopped before any worker ran
    second = await aiohttp_client(create_app(settings_for(settings, fakes, inbox_workers=1)))
    ingest.client = second
    for _ in range(200):
        if len(await ingest.inbox(state="done")) == 3:
            break
        await asyncio.sleep(0.05)
    assert len(await ingest.customers()) == 3 and len(await ingest.messages()) == 2


async def _cli(
    settings: Settings, fakes: Fakes | None, *args: str, public_url: str = "https://crm.example.com"
) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "MONGODB_URI": settings.mongodb_uri or "",
        "MONGODB_DB": settings.mongodb_db,
        "CHATCRM_SECRET_KEY": SECRET_KEY,
        "CHATCRM_PUBLIC_URL": public_url,
    }
    if fakes is not None:
        env["TELEGRAM_API_BASE_URL"] = fakes.telegram.base_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatcrm.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_failed_event_backoff_listing_and_retry(
    aiohttp_client: Any, settings: Settings, store: Store, fakes: Fakes
) -> None:
    shop = await make_shop(store)
    channels = await add_channels(store, shop.id, fakes)
    app = create_app(settings_for(settings, fakes, inbox_workers=0, inbox_max_attempts=2))
    ingest = Ingest(await aiohttp_client(app), store, shop.id, channels)
    fakes.line.add_profile(USER, "Ploy")
    assert (await ingest.line("text_user")).status == 200
    await ingest.shop.channels.set_enabled(channels["line"].id, False)  # processing now fails
    assert await ingest.drain() == 1
    [event] = await ingest.inbox()
    assert (event["state"], event["attempts"]) == ("pending", 1) and event["last_error"]
    assert await ingest.drain() == 0  # retried later, with backoff
    await store.db["inbox"].update_one({"_id": event["_id"]}, {"$set": {"due_ms": 0}})
    assert await ingest.drain() == 1  # the last attempt
    [event] = await ingest.inbox()
    assert event["state"] == "failed" and "disabled" in event["last_error"]

    code, out, _ = await _cli(settings, None, "inbox", "failed", "--shop", shop.id, "--json")
    assert code == 0
    [listed] = json.loads(out)["failed"]
    assert listed["id"] == event["_id"] and listed["attempts"] == 2
    assert ONE_FORMAT.match(listed["received_at"])  # the API's timestamp format
    await ingest.shop.channels.set_enabled(channels["line"].id, True)
    code, out, _ = await _cli(settings, None, "inbox", "retry", event["_id"])
    assert code == 0 and "pending" in out
    assert await ingest.drain() == 1
    assert [c["name"] for c in await ingest.customers()] == ["Ploy"]
    code, _, err = await _cli(settings, None, "inbox", "retry", event["_id"])
    assert code == 2 and "not failed" in err


async def test_channel_add_registers_the_telegram_webhook(
    settings: Settings, store: Store, fakes: Fakes
) -> None:
    shop = await make_shop(store)
    code, out, err = await _cli(
        settings, fakes, "channel", "add", "--shop", shop.id, "--platform", "telegram",
        "--bot-token", fakes.telegram.token, "--secret-token", "tg_abc-123",
        "--register-webhook", "--json",
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert (
        result["webhook_url"] == f"https://crm.example.com/webhooks/telegram/{result['channel_id']}"
    )
    [hook] = fakes.telegram.calls_for("setWebhook")
    assert hook["url"] == result["webhook_url"] and hook["secret_token"] == "tg_abc-123"
    assert "tg_abc-123" not in out + err


async def test_channel_add_whose_webhook_is_refused_leaves_no_channel(
    settings: Settings, store: Store, fakes: Fakes
) -> None:
    shop = await make_shop(store)
    add = (
        "channel", "add", "--shop", shop.id, "--platform", "telegram",
        "--bot-token", fakes.telegram.token, "--secret-token", "tg_abc-123", "--register-webhook",
    )  # fmt: skip
    for _ in range(2):  # the operator retries: still no channel
        code, out, err = await _cli(settings, fakes, *add, public_url="http://crm.example.com")
        assert code == 2 and out == "" and "Traceback" not in err
        last = err.strip().splitlines()[-1]
        assert last.startswith("chatcrm: register_webhook: the channel was not added: ")
        assert "https url must be provided" in last.lower()  # Telegram's own reason
    assert len(fakes.telegram.calls_for("setWebhook")) == 2
    code, out, _ = await _cli(settings, None, "channel", "list", "--shop", shop.id, "--json")
    assert code == 0 and json.loads(out) == {"channels": []}


class RestartableMongo:
    """A dedicated nx-27017 that a test can kill and start again on the same port and data."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server = EmbeddedMongo(data_dir)
        self.uri = self.server.start()
        self.port = self.server.port

    def kill(self) -> None:
        """Stop the server abruptly."""
        assert self.server.process is not None
        self.server.process.kill()
        self.server.process.wait()
        self.server.process = None

    def restart(self) -> None:
        """Start it again where it was."""
        self.server = EmbeddedMongo(self.data_dir, port=self.port)
        assert self.server.start() == self.uri

    def stop(self) -> None:
        """Stop it for good."""
        self.server.stop()


@pytest.mark.slow  # the 503 waits out server selection (5 s)
async def test_database_stopped_during_request_is_503_then_retry_stored_once(
    aiohttp_client: Any, settings: Settings, tmp_path: Path
) -> None:
    mongo = RestartableMongo(tmp_path / "db")
    try:
        own = settings.with_changes(mongodb_uri=mongo.uri)
        async with FakeTelegram() as telegram_fake:
            app = create_app(own.with_changes(inbox_workers=0))
            client = await aiohttp_client(app)
            store = Store.connect(mongo.uri, own.mongodb_db, SecretBox(SECRET_KEY))
            shop = await make_shop(store)
            channel = await store.for_shop(shop.id).channels.add(
                "telegram", {"bot_token": telegram_fake.token, "secret_token": "tg_s"}
            )
            ingest = Ingest(client, store, shop.id, {"telegram": channel})
            mongo.kill()
            resp = await ingest.telegram("private_text", secret="tg_s")
            assert resp.status == 503
            assert (await resp.json())["error"]["code"] == "database_unavailable"
            mongo.restart()
            assert await ingest.inbox() == []  # nothing was acknowledged
            for _ in range(2):  # the platform's retry, then a duplicate of it
                assert (await ingest.telegram("private_text", secret="tg_s")).status == 200
            assert await ingest.drain() == 1
            assert len(await ingest.inbox()) == 1 and len(await ingest.messages()) == 1
            await store.close()
            await client.close()
    finally:
        mongo.stop()
