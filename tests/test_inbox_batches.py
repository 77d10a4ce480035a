"""Batched inbox processing: concurrent batch claims, per-event failures, the channel cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chatcrm.config import Settings
from chatcrm.secrets_box import SecretBox
from chatcrm.store import Store
from chatcrm.store.channels import CHANNEL_CACHE
from tests.conftest import SECRET_KEY
from tests.fakes.signing import load_fixture
from tests.ingest_support import Fakes, Ingest
from tests.test_inbox_worker import line_batch


async def test_concurrent_batch_claims_never_share_an_event(
    ingest: Ingest, settings: Settings
) -> None:
    for batch in range(12):
        assert (await ingest.line(line_batch(batch))).status == 200
    # three "processes", each its own client, claiming overlapping batches at once
    stores = [
        Store.connect(settings.mongodb_uri or "", settings.mongodb_db, SecretBox(SECRET_KEY))
        for _ in range(3)
    ]
    claimed: list[str] = []
    try:
        while True:
            rounds = await asyncio.gather(
                *(
                    s.inbox_queue.claim_batch(size, 30)
                    for s, size in zip(stores, (7, 13, 20), strict=True)
                )
            )
            if not any(rounds):
                break
            for claims in rounds:
                assert {c.attempts for c in claims} <= {1}
                assert len({c.lease for c in claims}) <= 1  # one lease token per batch
                claimed.extend(c.id for c in claims)
    finally:
        for st in stores:
            await st.close()
    assert len(claimed) == len(set(claimed)) == 60  # each event exactly once
    inbox = await ingest.inbox()
    assert {(e["state"], e["attempts"]) for e in inbox} == {("processing", 1)}


async def test_a_bad_event_fails_alone_and_the_rest_of_its_batch_completes(
    ingest: Ingest, fakes: Fakes
) -> None:
    payload = line_batch(1, size=3)
    del payload["events"][1]["message"]["id"]  # a message event LINE would never send
    assert (await ingest.line(payload)).status == 200
    assert (await ingest.telegram("private_text")).status == 200
    await ingest.shop.channels.set_enabled(ingest.channels["telegram"].id, False)

    assert await ingest.drain() == 4  # one batch
    by_key = {e["event_key"]: e for e in await ingest.inbox()}
    bad = by_key[payload["events"][1]["webhookEventId"]]
    assert (bad["state"], bad["attempts"]) == ("failed", 1)  # it will never parse
    assert "payload" in bad["last_error"]
    [telegram] = [e for e in by_key.values() if e["platform"] == "telegram"]
    assert (telegram["state"], telegram["attempts"]) == ("pending", 1)  # retried later
    assert "disabled" in telegram["last_error"]
    good = [payload["events"][i]["webhookEventId"] for i in (0, 2)]
    assert [by_key[k]["state"] for k in good] == ["done", "done"]
    assert len(await ingest.customers()) == 2
    assert len(await ingest.messages()) == 2

    await ingest.shop.channels.set_enabled(ingest.channels["telegram"].id, True)
    await ingest.store.db["inbox"].update_one({"_id": telegram["_id"]}, {"$set": {"due_ms": 0}})
    assert await ingest.drain() == 1
    assert [e["state"] for e in await ingest.inbox(platform="telegram")] == ["done"]
    assert len(await ingest.messages()) == 3


async def test_same_customer_twice_in_a_batch_is_written_once_in_order(
    ingest: Ingest, fakes: Fakes
) -> None:
    user = "Ua69f03e594eefbb87cde656abf334c1d"
    fakes.line.add_profile(user, "Ploy")
    for name in ("unfollow", "text_user", "follow"):  # newest first, one batch
        assert (await ingest.line(name)).status == 200
    assert await ingest.drain() == 3
    [customer] = await ingest.customers()
    assert customer["status"] == "unfollowed" and customer["name"] == "Ploy"
    assert customer["version"] == 1  # one write for the three events
    assert len(fakes.line.find_calls("GET", f"/v2/bot/profile/{user}")) == 1


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The channel cache's clock, moved by the test."""
    now = [1000.0]
    monkeypatch.setattr(CHANNEL_CACHE, "clock", lambda: now[0])
    return now


async def test_channel_cache_serves_a_channel_changed_elsewhere_until_it_expires(
    ingest: Ingest, clock: list[float]
) -> None:
    line = ingest.channels["line"]
    assert (await ingest.line("text_user")).status == 200  # cached now
    # disabled by another process (another service instance, the CLI): not seen here...
    channels = ingest.store.db["channels"]
    await channels.update_one({"_id": line.id}, {"$set": {"enabled": False}})
    assert (await ingest.line("text_redelivery")).status == 200
    clock[0] += 10  # ...until the entry is CHATCRM_CHANNEL_CACHE_SECONDS old
    resp = await ingest.line("follow")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    # unknown or disabled channels are never cached: enabled again, served at once
    await channels.update_one({"_id": line.id}, {"$set": {"enabled": True}})
    assert (await ingest.line("follow")).status == 200
    # a change made through this process's store drops the entry at once
    await ingest.shop.channels.set_enabled(line.id, False)
    assert (await ingest.line("unfollow")).status == 404
    # a bad signature is still refused (and nothing stored) with the channel cached
    await ingest.shop.channels.set_enabled(line.id, True)
    assert (await ingest.line("unfollow")).status == 200
    body = load_fixture("line", "sticker")
    bad: dict[str, Any] = {"X-Line-Signature": "AAAA"}
    assert (await ingest.post("line", body, bad)).status == 401
    assert len(await ingest.inbox()) == 3  # text_user (and its redelivery), follow, unfollow
