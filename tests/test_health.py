"""GET /healthz says which database is in use, and 503 when it does not answer."""

from __future__ import annotations

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
    assert await resp.json() == {"status": "ok", "database": "mongodb"}


@pytest.mark.slow  # closing the client may wait out server selection (5 s) for endSessions
async def test_health_embedded_then_database_down(aiohttp_client: Any, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    client = await aiohttp_client(app)
    resp = await client.get("/healthz")
    assert await resp.json() == {"status": "ok", "database": "embedded"}

    # the embedded server dies under the running service
    server = EmbeddedMongo(tmp_path)
    state = server._read_state()
    assert state is not None
    import os
    import signal

    os.kill(state["pid"], signal.SIGKILL)
    resp = await client.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["status"] == "unavailable"
