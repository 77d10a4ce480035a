"""LINE webhook: signed fixtures in, customers and messages out, every failure path covered."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chatcrm.app import create_app
from chatcrm.store import Store
from tests.fakes.signing import load_fixture
from tests.ingest_support import Fakes, Ingest, add_channels, settings_for

USER = "Ua69f03e594eefbb87cde656abf334c1d"
GROUP = "C2d8bf7e5aa5e893bd6419f9510a93a10"
SPEAKER = "U1fcd0443e3b10a9c6400e4388b9f8ebd"


def _ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


async def test_text_message_creates_customer_with_profile_and_message(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.line.add_profile(USER, "สมชาย ใจดี", picture_url="https://profile.line-scdn.net/abc")
    resp = await ingest.line("text_user")
    assert resp.status == 200
    assert len(await ingest.inbox()) == 1
    assert await ingest.drain() == 1

    [customer] = await ingest.customers()
    assert customer["channel"] == "line" and customer["platform_user_id"] == USER
    assert customer["name"] == "สมชาย ใจดี"
    assert customer["picture_url"] == "https://profile.line-scdn.net/abc"
    assert customer["status"] == "unknown"  # a message, but no follow seen
    assert customer["channel_id"] == ingest.channels["line"].id
    assert customer["profile_fetched_at"] is not None and customer["updated_at"] is not None
    assert customer["first_seen_at"] == customer["last_contact_at"] == _ms(1763608512345)
    assert customer["phone"] is None and customer["tags"] == []  # the explicit-null schema
    [message] = await ingest.messages()
    event = json.loads(load_fixture("line", "text_user"))["events"][0]
    assert message["text"] == event["message"]["text"] and "😊" in message["text"]
    assert message["customer_id"] == customer["_id"]
    assert (message["type"], message["direction"]) == ("text", "in")
    assert message["platform_message_id"] == event["message"]["id"]
    assert message["sent_at"] == _ms(event["timestamp"])
    [inbox] = await ingest.inbox()
    assert (inbox["state"], inbox["attempts"]) == ("done", 1)


async def test_verify_request_gets_200_and_stores_nothing(ingest: Ingest) -> None:
    resp = await ingest.line("verify")
    assert resp.status == 200
    assert await ingest.inbox() == []


async def test_bad_or_missing_signature_is_401_and_stores_nothing(ingest: Ingest) -> None:
    assert (await ingest.line("text_user", secret="not-the-channel-secret")).status == 401
    resp = await ingest.post("line", "text_user", {})
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "bad_signature"
    tampered = load_fixture("line", "text_user").replace(b"active", b"standby")
    assert (await ingest.post("line", tampered, {"X-Line-Signature": "AAAA"})).status == 401
    assert await ingest.inbox() == []
    assert await ingest.drain() == 0
    assert await ingest.customers() == []


async def test_redelivery_is_stored_once(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile(USER, "Ploy")
    assert (await ingest.line("text_user")).status == 200
    assert (await ingest.line("text_redelivery")).status == 200  # same webhookEventId
    await ingest.drain()
    assert (await ingest.line("text_redelivery")).status == 200  # after processing, too
    assert await ingest.drain() == 0
    assert len(await ingest.inbox()) == 1
    assert len(await ingest.messages()) == 1
    assert len(await ingest.customers()) == 1


async def test_several_events_in_one_request(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile("U861d696f9cd1ee957230a3694ae3d289", "Nok")
    resp = await ingest.line("multi_events")
    assert resp.status == 200 and (await resp.json())["received"] == 3
    assert await ingest.drain() == 3
    customers = {c["platform_user_id"]: c for c in await ingest.customers()}
    assert len(customers) == 3
    assert customers["U861d696f9cd1ee957230a3694ae3d289"]["name"] == "Nok"
    assert customers["U49b2dd1d910add71a122578bbe12f572"]["status"] == "following"
    assert [m["type"] for m in await ingest.messages()] == ["text", "sticker"]


async def test_events_out_of_order(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile(USER, "Ploy")
    for name in ("unfollow", "text_user", "follow"):  # newest first
        assert (await ingest.line(name)).status == 200
        await ingest.drain()
    [customer] = await ingest.customers()
    assert customer["status"] == "unfollowed"  # the newest status event wins
    assert customer["first_seen_at"] == _ms(1763604912345)  # the follow
    assert customer["last_contact_at"] == _ms(1763694912345)  # the unfollow
    assert len(await ingest.messages()) == 1


async def test_follow_after_unfollow_follows_again(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile(USER, "Ploy")
    await ingest.line("unfollow")
    await ingest.drain()
    assert (await ingest.customers())[0]["status"] == "unfollowed"
    refollow = json.loads(load_fixture("line", "follow"))
    refollow["events"][0].update(
        timestamp=1763694999999, webhookEventId="01KAJ6ZZZZZZZZZZZZZZZZZZZZ"
    )
    await ingest.line(refollow)
    await ingest.drain()
    assert (await ingest.customers())[0]["status"] == "following"


async def test_group_message_records_the_speaking_user(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile(SPEAKER, "Naree", group_id=GROUP)
    fakes.line.profiles.pop(SPEAKER)  # only the group member profile is reachable
    assert (await ingest.line("group_text")).status == 200
    await ingest.drain()
    [customer] = await ingest.customers()
    assert customer["platform_user_id"] == SPEAKER and customer["name"] == "Naree"
    [message] = await ingest.messages()
    assert message["conversation_type"] == "group" and message["conversation_id"] == GROUP
    assert fakes.line.find_calls("GET", f"/v2/bot/group/{GROUP}/member/{SPEAKER}")


async def test_media_sticker_location_postback_recorded_as_metadata(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.line.add_profile(USER, "Ploy")
    for name in ("sticker", "image", "location", "postback", "text_standby"):
        assert (await ingest.line(name)).status == 200
    await ingest.drain()
    by_type = {m["type"]: m for m in await ingest.messages()}
    assert set(by_type) == {"sticker", "image", "location", "postback", "text"}
    assert by_type["sticker"]["meta"]["stickerId"]
    assert "latitude" in by_type["location"]["meta"]
    assert by_type["postback"]["text"]
    assert by_type["image"]["text"] is None
    assert len(await ingest.customers()) == 2  # the location came from another user
    assert fakes.line.find_calls("GET", "/v2/bot/message/content") == []  # nothing downloaded


async def test_request_errors(ingest: Ingest, store: Store) -> None:
    assert (await ingest.line(b"{not json")).status == 400
    assert (await ingest.line({"destination": "U1", "events": "nope"})).status == 400
    big = b'{"events": [], "pad": "' + b"x" * (1024 * 1024) + b'"}'
    assert (await ingest.line(big)).status == 413
    resp = await ingest.client.post("/webhooks/line/ch_unknown", data=b"{}")
    assert resp.status == 404
    line = ingest.channels["line"]
    telegram_path = ingest.channels["telegram"].webhook_path.replace("telegram", "line")
    assert (await ingest.client.post(telegram_path, data=b"{}")).status == 404
    await ingest.shop.channels.set_enabled(line.id, False)
    assert (await ingest.line("text_user")).status == 404
    assert await ingest.inbox() == []


async def test_profile_failure_then_recovery(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile(USER, "Ploy", picture_url="https://profile.line-scdn.net/p")
    fakes.line.fail_next(1, status=500)
    await ingest.line("follow")
    await ingest.drain()
    [customer] = await ingest.customers()  # created with what was known
    assert customer["name"] is None and customer["profile_fetched_at"] is None
    assert [e["state"] for e in await ingest.inbox()] == ["done"]  # the event is not lost
    await ingest.line("text_user")
    await ingest.drain()
    [customer] = await ingest.customers()  # enriched by the next contact
    assert customer["name"] == "Ploy" and customer["profile_fetched_at"] is not None
    assert len(await ingest.messages()) == 1


async def test_service_workers_process_in_the_background(
    aiohttp_client: object, settings: object, store: Store, shop: object, fakes: Fakes
) -> None:
    channels = await add_channels(store, shop.id, fakes)  # type: ignore[attr-defined]
    app = create_app(settings_for(settings, fakes, inbox_workers=2))  # type: ignore[arg-type]
    client = await aiohttp_client(app)  # type: ignore[operator]
    ingest = Ingest(client, store, shop.id, channels)  # type: ignore[attr-defined]
    fakes.line.add_profile(USER, "Ploy")
    assert (await ingest.line("text_user")).status == 200
    for _ in range(200):  # the workers run on their own; wait until the customer shows
        if await ingest.customers(name="Ploy"):
            break
        await asyncio.sleep(0.05)
    assert [c["name"] for c in await ingest.customers()] == ["Ploy"]
    assert len(await ingest.messages()) == 1


async def test_send_text_pushes_through_the_sdk(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile(USER, "Ploy")
    await ingest.line("text_user")
    await ingest.drain()
    [customer] = await ingest.customers()
    assert await ingest.connector("line").send_text(customer, "ขอบคุณค่ะ")
    [push] = fakes.line.pushed()
    assert push["to"] == USER and push["messages"] == [{"type": "text", "text": "ขอบคุณค่ะ"}]


async def test_an_operators_netrc_and_proxy_settings_do_not_touch_line_calls(
    ingest: Ingest, fakes: Fakes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LINE client reads no environment per request: a ~/.netrc entry for the API host
    (which made aiohttp add basic auth beside the SDK's bearer token, refusing every call) and
    a proxy variable for another host leave profile fetches and pushes working."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    fakes.line.add_profile(USER, "Ploy")
    await ingest.line("text_user")
    await ingest.drain()
    [customer] = await ingest.customers()
    assert customer["name"] == "Ploy"
    assert await ingest.connector("line").send_text(customer, "ขอบคุณค่ะ")
    assert [p["to"] for p in fakes.line.pushed()] == [USER]
