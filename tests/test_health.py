"""GET /healthz says which database is in use, and 503 when it does not answer; both show how
late the event loop runs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.embedded import EmbeddedMongo


async def test_health_on_mongodb_uri(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert {k: body[k] for k in ("status", "database")} == {"status": "ok", "database": "mongodb"}
    assert set(body["loop_lag_ms"]) == {"last_10s", "since_start"}


async def test_health_shows_a_stall_of_the_event_loop(client: TestClient) -> None:
    await client.get("/healthz")
    time.sleep(0.3)  # noqa: ASYNC251 - the service runs on this loop: hold it for 300 ms
    resp = await client.get("/healthz")
    lag = (await resp.json())["loop_lag_ms"]
    assert lag["last_10s"] >= 250
    assert lag["since_start"] >= lag["last_10s"]


@pytest.mark.slow  # closing the client may wait out server selection (5 s) for endSessions
async def test_health_embedded_then_database_down(aiohttp_client: Any, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    client = await aiohttp_client(app)
    resp = await client.get("/healthz")
    body = await resp.json()
    assert (body["status"], body["database"]) == ("ok", "embedded")

    # the embedded server dies under the running service
    server = EmbeddedMongo(tmp_path)
    state = server._read_state()
    assert state is not None
    import os
    import signal

    os.kill(state["pid"], signal.SIGKILL)
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "unavailable"
    assert set(body["loop_lag_ms"]) == {"last_10s", "since_start"}
