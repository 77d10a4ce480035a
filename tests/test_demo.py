"""The demo shop: populated, and seeding twice duplicates nothing."""

from __future__ import annotations

import inspect
import json
import logging
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from chatcrm.app import create_app
from chatcrm.cli import build_parser
from chatcrm.config import Settings
from chatcrm.demo import DEMO_SHOP_ID, demo_on_startup, seed_demo
from chatcrm.demo_data import generate
from chatcrm.store import Store
from tests.test_embedded import call, run_cli, start_service

N = 300
"""Customers seeded here: the default 5,000 in proportion, for 6 % of the writes."""


async def test_demo_seed_is_populated_and_idempotent(store: Store) -> None:
    first = await seed_demo(store, customers=N)
    assert first["customers"] == first["inserted"]["customers"] == N
    demo = store.for_shop(DEMO_SHOP_ID)
    orders = await store.db["orders"].count_documents({"shop_id": DEMO_SHOP_ID})
    messages = await store.db["messages"].count_documents({"shop_id": DEMO_SHOP_ID})
    assert orders == first["inserted"]["orders"] and messages == first["inserted"]["messages"]
    assert orders > N // 5 and messages > N
    for channel in ("line", "telegram", "messenger"):
        assert await demo.customers.count({"channel": channel}) > N // 50
    assert await demo.customers.count({"name": {"$regex": "[ก-๙]"}}) > N // 5

    second = await seed_demo(store, customers=N)
    assert second["customers"] == N
    assert second["inserted"] == {"customers": 0, "orders": 0, "messages": 0}
    assert await store.db["orders"].count_documents({"shop_id": DEMO_SHOP_ID}) == orders
    assert len(await demo.channels.list()) == 3
    # the same demo token every time: a link printed earlier keeps working
    assert second["token"] == first["token"]
    assert await store.tokens.resolve(first["token"]) is not None
    # one sample report e-mail: the VIP customers every Monday at 08:00
    (schedule,) = await demo.schedules.list()
    assert schedule["_id"] == first["schedule_id"] == second["schedule_id"]
    assert schedule["cadence"]["weekday"] == "mon" and schedule["enabled"]
    segment = await demo.segments.get(schedule["segment_id"])
    assert segment is not None and segment["filters"] == {"tag": "VIP"}


def test_the_demo_has_5000_customers_by_default() -> None:
    """`chatcrm demo`, `serve --demo` and the generator agree on 5,000, none written here."""
    assert build_parser().parse_args(["demo"]).customers == 5000
    assert inspect.signature(seed_demo).parameters["customers"].default == 5000
    assert inspect.signature(generate).parameters["customers"].default == 5000


@pytest.mark.slow  # the service twice and the CLI twice, as processes
def test_demo_link_survives_reseeding_and_service_restarts(tmp_path: Path) -> None:
    proc, port, _ = start_service(tmp_path)
    try:
        first = run_cli(tmp_path, "demo", "--customers", "30", "--json")
        assert first.returncode == 0, first.stderr
        token = json.loads(first.stdout)["token"]
        assert call(port, "/api/v1/customers", token)[0] == 200  # the dashboard, signed in
        again = run_cli(tmp_path, "demo", "--customers", "30", "--json")
        assert json.loads(again.stdout)["token"] == token
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        proc, port, _ = start_service(tmp_path, port)
        assert call(port, "/api/v1/customers", token)[0] == 200  # still signed in
        assert call(port, "/api/v1/customers", token[:-2] + "xx")[0] == 401
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


@pytest.mark.slow  # the whole demo shop is seeded
async def test_what_serve_demo_prints_works(
    aiohttp_client: Any, settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Each line `chatcrm serve --demo` prints, followed as a new user would: the link signs the
    dashboard in, the curl line lists customers, the e-mail line sends the sample report."""
    app = create_app(settings)
    app.on_startup.append(demo_on_startup)
    with caplog.at_level(logging.INFO, logger="chatcrm.demo"):
        client = await aiohttp_client(app)
    [banner] = [r.getMessage() for r in caplog.records if "ready with" in r.getMessage()]
    link = re.search(r"Dashboard \(signs you in\): (\S+)", banner)
    curl = re.search(r"API: +curl -H 'Authorization: Bearer (\S+)' (\S+)", banner)
    mail = re.search(r"E-mail: +curl -X POST -H 'Authorization: Bearer (\S+)' (\S+)", banner)
    assert link and curl and mail, banner
    path = lambda url: "/" + url.split("/", 3)[3]  # noqa: E731 - the test server's own origin
    token = link.group(1).split("#demo=", 1)[1]
    signed = await client.post("/api/v1/session", json={"demo": token})
    assert signed.status == 200, await signed.text()
    assert (await client.get("/api/v1/shop")).status == 200  # the session cookie
    listed = await client.get(
        path(curl.group(2)), headers={"Authorization": f"Bearer {curl.group(1)}"}
    )
    assert listed.status == 200 and (await listed.json())["total"] == 5000
    sent = await client.post(
        path(mail.group(2)), headers={"Authorization": f"Bearer {mail.group(1)}"}
    )
    assert sent.status in (200, 201, 202), await sent.text()
