"""Messenger and Instagram webhook: handshake, app-secret signature, Graph profiles."""

from __future__ import annotations

import json

from tests.fakes.signing import load_fixture
from tests.ingest_support import META_VERIFY, Fakes, Ingest

PSID = "7304918273645512"
IGSID = "1127384950617283"


async def test_subscription_handshake(ingest: Ingest) -> None:
    path = ingest.channels["messenger"].webhook_path
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": META_VERIFY,
        "hub.challenge": "1158201444",
    }
    resp = await ingest.client.get(path, params=query)
    assert resp.status == 200 and await resp.text() == "1158201444"
    resp = await ingest.client.get(path, params={**query, "hub.verify_token": "nope"})
    assert resp.status == 403
    assert (await ingest.client.get("/webhooks/messenger/ch_nope", params=query)).status == 404


async def test_text_creates_customer_with_graph_profile(ingest: Ingest, fakes: Fakes) -> None:
    fakes.graph.add_profile(PSID, "สมหญิง", "รักดี")
    assert (await ingest.messenger("text")).status == 200
    await ingest.drain()
    [customer] = await ingest.customers()
    assert customer["channel"] == "messenger" and customer["platform_user_id"] == PSID
    assert customer["name"] == "สมหญิง รักดี" and customer["picture_url"].startswith("https://")
    [message] = await ingest.messages()
    mid = json.loads(load_fixture("messenger", "text"))["entry"][0]["messaging"][0]["message"]
    assert message["platform_message_id"] == mid["mid"] and message["text"] == mid["text"]


async def test_instagram_two_entries_image_postback(ingest: Ingest, fakes: Fakes) -> None:
    fakes.graph.add_profile(IGSID, "Dao")
    for name in ("instagram_text", "two_entries", "image", "postback"):
        assert (await ingest.messenger(name)).status == 200
    await ingest.drain()
    customers = {c["platform_user_id"]: c for c in await ingest.customers()}
    assert customers[IGSID]["channel"] == "instagram" and customers[IGSID]["name"] == "Dao"
    assert customers["6859201736452281"]["channel"] == "messenger"
    types = sorted(m["type"] for m in await ingest.messages())
    assert types == ["image", "postback", "text", "text", "text"]
    [image] = await ingest.messages(type="image")
    assert image["meta"]["url"].startswith("https://scontent")


async def test_echo_is_the_pages_reply_delivery_and_read_store_nothing(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.graph.add_profile(PSID, "Mali")
    for name in ("echo", "delivery", "read"):
        assert (await ingest.messenger(name)).status == 200
    await ingest.drain()
    assert [c["platform_user_id"] for c in await ingest.customers()] == [PSID]  # the recipient
    assert [m["direction"] for m in await ingest.messages()] == ["out"]


async def test_bad_signature_redelivery_and_malformed(ingest: Ingest, fakes: Fakes) -> None:
    fakes.graph.add_profile(PSID, "Mali")
    assert (await ingest.messenger("text", secret="other-secret")).status == 401
    assert await ingest.inbox() == []
    assert (await ingest.messenger({"object": "user", "entry": []})).status == 400
    for _ in range(2):
        assert (await ingest.messenger("text")).status == 200
    await ingest.drain()
    assert len(await ingest.inbox()) == 1 and len(await ingest.messages()) == 1


async def test_profile_failure_then_recovery(ingest: Ingest, fakes: Fakes) -> None:
    fakes.graph.add_profile(PSID, "Mali")
    fakes.graph.fail_next(1, status=500)
    await ingest.messenger("text")
    await ingest.drain()
    assert [c["name"] for c in await ingest.customers()] == [None]
    await ingest.messenger("postback")
    await ingest.drain()
    assert [c["name"] for c in await ingest.customers()] == ["Mali"]
    assert len(await ingest.messages()) == 2


async def test_send_text_through_the_send_api(ingest: Ingest, fakes: Fakes) -> None:
    fakes.graph.add_profile(PSID, "Mali")
    await ingest.messenger("text")
    await ingest.drain()
    [customer] = await ingest.customers()
    assert (await ingest.connector("messenger").send_text(customer, "ได้ค่ะ")).startswith("m_")
    assert fakes.graph.sent[0]["message"] == {"text": "ได้ค่ะ"}
