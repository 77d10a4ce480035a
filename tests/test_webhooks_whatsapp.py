"""WhatsApp Cloud API: hub check, signed webhooks of every message type, BSUID identities, sends.

The fixtures are Meta's documented payloads (tests/fixtures/SOURCES.md), posted signed through
the real service; the inbox is drained by the real worker; sends go to a fake Cloud API.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.app import create_app
from chatcrm.cli import build_parser
from chatcrm.config import Settings
from chatcrm.store import Store
from connectors.base import PlatformError
from connectors.registry import CHANNEL_LABELS, CONNECTORS, CUSTOMER_CHANNELS, PLATFORMS
from tests.conftest import ShopFixture
from tests.fakes.signing import load_fixture, meta_signature
from tests.fakes.whatsapp import FakeWhatsApp
from tests.ingest_support import Ingest, body_of

TOKEN = "EAAGwhatsappTestToken"
APP_SECRET = "wa-app-secret"
VERIFY = "wa-verify-me"
NUMBER_ID = "115826394017283"
MALI = "TH.1502576394655843"
"""สมหญิง's BSUID; her phone number is `MALI_PHONE`."""
MALI_PHONE = "66891234567"
NOK = "TH.8843120977561204"
"""A customer with a username and no phone number."""

MESSAGE_FIXTURES = {
    # fixture: (stored type, stored text, meta that must be there)
    "text": ("text", "สวัสดีค่ะ น้ำหอมมะลิ 50 ml ยังมีของไหมคะ", {}),
    "image": ("image", "สลิปโอนเงินค่ะ", {"media_id": "1271844617352904", "mime_type": "image/jpeg"}),
    "audio": ("audio", None, {"mime_type": "audio/ogg; codecs=opus", "voice": True}),
    "video": ("video", "ขวดที่ได้รับแตกค่ะ", {"media_id": "862047315928374"}),
    "document": ("file", "ใบกำกับภาษี", {"filename": "ใบกำกับภาษี-1042.pdf"}),
    "sticker": ("sticker", None, {"mime_type": "image/webp", "animated": False}),
    "location": ("location", "สยามพารากอน", {"latitude": 13.746206, "longitude": 100.534778}),
    "contacts": ("contact", "มาลี ศรีสุข", {"contacts": 1, "phones": ["+66 86 123 4567"]}),
    "interactive_button_reply": (
        "postback",
        "ยืนยันคำสั่งซื้อ",
        {"reply_kind": "button_reply", "reply_id": "confirm-order-1042"},
    ),
    "interactive_list_reply": (
        "postback",
        "Kerry Express",
        {"reply_kind": "list_reply", "reply_id": "ship_kerry_express"},
    ),
    "button": ("postback", "ยกเลิกรับข่าวสาร", {"payload": "ยกเลิกรับข่าวสาร"}),
    "reaction": ("reaction", "👍", {}),
    "reply_context": ("text", "ได้ค่ะ ส่งวันศุกร์ได้เลย", {}),
    "unsupported": (
        "unsupported",
        None,
        {"unsupported_type": "poll_creation", "error_code": 131051},
    ),
}


def fixture(name: str) -> dict[str, Any]:
    """A WhatsApp fixture as JSON."""
    return json.loads(load_fixture("whatsapp", name))


def value_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The first change's value of a webhook body."""
    return payload["entry"][0]["changes"][0]["value"]


class WhatsApp(Ingest):
    """The service with a WhatsApp channel, and the fake Cloud API it sends to."""

    fake: FakeWhatsApp

    async def webhook(self, payload: str | dict[str, Any], secret: str = APP_SECRET) -> Any:
        """POST to the WhatsApp webhook, signed with the app secret."""
        body = body_of("whatsapp", payload)
        return await self.post(
            "whatsapp", body, {"X-Hub-Signature-256": meta_signature(secret, body)}
        )

    async def customer(self) -> dict[str, Any]:
        """The shop's only customer."""
        [customer] = await self.customers()
        return customer

    async def send(self, text: str = "ได้ค่ะ") -> str:
        """Send `text` to the shop's only customer through the channel's connector."""
        return await self.connector("whatsapp").send_text(await self.customer(), text)


@pytest.fixture
async def wa(
    aiohttp_client: Any, settings: Settings, store: Store, shop: ShopFixture
) -> AsyncIterator[WhatsApp]:
    """The real service, a shop with a WhatsApp channel, the fake Cloud API; workers off."""
    async with FakeWhatsApp(TOKEN, phone_number_id=NUMBER_ID) as fake:
        secrets = {
            "access_token": TOKEN,
            "app_secret": APP_SECRET,
            "verify_token": VERIFY,
            "phone_number_id": NUMBER_ID,
        }
        channel = await store.for_shop(shop.id).channels.add("whatsapp", secrets)
        changed = settings.with_changes(graph_api_base_url=fake.base_url, inbox_workers=0)
        client: TestClient = await aiohttp_client(create_app(changed))
        service = WhatsApp(client, store, shop.id, {"whatsapp": channel})
        service.fake = fake
        yield service


async def test_registry_offers_whatsapp(
    wa: WhatsApp, shop: ShopFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "whatsapp" in PLATFORMS and "whatsapp" in CUSTOMER_CHANNELS
    assert CHANNEL_LABELS["whatsapp"] == {"en": "WhatsApp", "th": "WhatsApp"}
    connector = CONNECTORS["whatsapp"]
    assert [s.name for s in connector.secrets] == [
        "access_token",
        "app_secret",
        "verify_token",
        "phone_number_id",
    ]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["channel", "add", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "LINE: Messaging API > Channel access token" in help_text
    assert "WhatsApp: a system user access token" in help_text
    secrets = {s.name: "x1" for s in connector.secrets} | {"phone_number_id": "+66 81"}
    resp = await wa.client.post(
        "/api/v1/channels", json={"platform": "whatsapp", "secrets": secrets}, headers=shop.auth()
    )
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "phone_number_id"


async def test_subscription_handshake(wa: WhatsApp) -> None:
    path = wa.channels["whatsapp"].webhook_path
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1582039"}
    resp = await wa.client.get(path, params=query)
    assert resp.status == 200 and await resp.text() == "1582039"
    resp = await wa.client.get(path, params={**query, "hub.verify_token": "nope"})
    assert resp.status == 403


async def test_every_message_type_is_stored_for_one_customer(
    wa: WhatsApp, shop: ShopFixture
) -> None:
    for name in MESSAGE_FIXTURES:
        resp = await wa.webhook(name)
        assert resp.status == 200 and await resp.json() == {"received": 1, "new": 1}
    await wa.drain()
    customer = await wa.customer()
    assert customer["channel"] == "whatsapp" and customer["platform_user_id"] == MALI
    assert customer["name"] == "สมหญิง รักดี" and customer["platform_phone"] == MALI_PHONE
    detail = await wa.client.get(f"/api/v1/customers/{customer['_id']}", headers=shop.auth())
    assert (await detail.json())["phone"] == "0891234567"  # normalised like every phone
    stored = {m["platform_message_id"]: m for m in await wa.messages()}
    for name, (kind, text, meta) in MESSAGE_FIXTURES.items():
        sent = value_of(fixture(name))["messages"][0]
        message = stored[sent["id"]]
        assert (message["type"], message["text"]) == (kind, text), name
        assert meta.items() <= message["meta"].items(), name
        assert message["customer_id"] == customer["_id"] and message["direction"] == "in"
        assert message["meta"].get("reply_to") == (sent.get("context") or {}).get("id"), name
        assert int(message["sent_at"].timestamp()) == int(sent["timestamp"]), name
    reaction = stored[value_of(fixture("reaction"))["messages"][0]["id"]]
    assert reaction["meta"]["reacted_to"].startswith("wamid.")


async def test_statuses_and_errors_store_nothing(wa: WhatsApp) -> None:
    for name in ("statuses_delivered", "statuses_read", "errors"):
        resp = await wa.webhook(name)
        assert resp.status == 200 and (await resp.json())["received"] == 0
    await wa.drain()
    assert await wa.inbox() == [] and await wa.customers() == []


async def test_username_customer_without_phone_is_keyed_and_reached_by_bsuid(
    wa: WhatsApp, shop: ShopFixture
) -> None:
    await wa.webhook("text_bsuid_only")
    await wa.drain()
    customer = await wa.customer()
    assert customer["platform_user_id"] == NOK and customer["name"] == "Nok"
    assert customer["platform_username"] == "@nok_bkk" and customer["phone"] is None
    detail = await wa.client.get(f"/api/v1/customers/{customer['_id']}", headers=shop.auth())
    shown = await detail.json()  # the seller sees what the platform says about the customer
    assert (shown["platform_username"], shown["platform_phone"]) == ("@nok_bkk", None)
    assert (await wa.send("We ship to Chiang Mai")).startswith("wamid.")
    [sent] = wa.fake.sent
    assert sent["recipient"] == NOK and "to" not in sent
    assert sent["text"] == {"body": "We ship to Chiang Mai"} and sent["type"] == "text"


async def test_customer_first_seen_by_phone_keeps_its_record_when_a_bsuid_comes(
    wa: WhatsApp, shop: ShopFixture
) -> None:
    await wa.webhook("text_legacy_wa_id_only")
    await wa.drain()
    legacy = await wa.customer()
    assert legacy["platform_user_id"] == "66869876543" and legacy["phone"] == "0869876543"
    resp = await wa.client.patch(
        f"/api/v1/customers/{legacy['_id']}",
        json={"phone": "0812223333", "tags": ["VIP"], "version": legacy["version"]},
        headers=shop.auth(),
    )
    assert resp.status == 200, await resp.text()
    later = fixture("text")
    value = value_of(later)
    somchai = {"from": "66869876543", "from_user_id": "TH.3310984457120036"}
    value["messages"][0].update(somchai)
    value["contacts"] = [
        {
            "profile": {"name": "Somchai K."},
            "wa_id": "66869876543",
            "user_id": somchai["from_user_id"],
        }
    ]
    await wa.webhook(later)
    await wa.drain()
    customer = await wa.customer()
    assert (
        customer["_id"] == legacy["_id"] and customer["platform_user_id"] == "TH.3310984457120036"
    )
    assert customer["former_user_ids"] == ["66869876543"] and customer["tags"] == ["VIP"]
    assert customer["phone"] == "0812223333"  # what the seller typed stays
    assert {m["customer_id"] for m in await wa.messages()} == {legacy["_id"]}


async def test_user_id_update_keeps_one_customer_with_the_new_bsuid(wa: WhatsApp) -> None:
    await wa.webhook("text")
    await wa.drain()
    before = await wa.customer()
    await wa.webhook("user_id_update")
    await wa.drain()
    after = await wa.customer()
    assert after["_id"] == before["_id"] and after["platform_user_id"] == "TH.2718059364172845"
    assert after["former_user_ids"] == [MALI] and after["name"] == "สมหญิง รักดี"
    assert after["platform_phone"] == "66897654321"  # the new number, for replies
    assert after["phone"] == "0891234567"  # the customer's phone is not replaced
    await wa.send()
    assert wa.fake.sent[0]["to"] == "66897654321" and "recipient" not in wa.fake.sent[0]


async def test_message_under_the_previous_bsuid_in_the_same_batch_follows_the_update(
    wa: WhatsApp,
) -> None:
    await wa.webhook("user_id_update")
    await wa.webhook("text")  # delivered late, under the BSUID she had before
    assert await wa.drain() == 2
    customer = await wa.customer()
    assert customer["platform_user_id"] == "TH.2718059364172845"
    assert [m["customer_id"] for m in await wa.messages()] == [customer["_id"]]


async def test_message_under_the_previous_bsuid_after_the_update_finds_the_customer(
    wa: WhatsApp,
) -> None:
    """A message delivered late under the BSUID she had before, after the update was processed
    (another batch): the same customer, not a second one under the old id."""
    await wa.webhook("user_id_update")
    assert await wa.drain() == 1
    [renamed] = await wa.customers()
    late = fixture("text")
    value_of(late)["messages"][0]["id"] = "wamid.late-under-the-previous-bsuid"
    await wa.webhook(late)
    assert await wa.drain() == 1
    [customer] = await wa.customers()
    assert customer["_id"] == renamed["_id"]
    assert customer["platform_user_id"] == "TH.2718059364172845"
    assert [m["customer_id"] for m in await wa.messages()] == [customer["_id"]]


async def test_redelivery_and_bad_signature(wa: WhatsApp) -> None:
    assert (await wa.webhook("text", secret="another-secret")).status == 401
    assert await wa.inbox() == []
    assert (await wa.webhook({"object": "page", "entry": []})).status == 400
    for _ in range(2):
        assert (await wa.webhook("text")).status == 200
    await wa.drain()
    assert len(await wa.inbox()) == 1 and len(await wa.messages()) == 1


async def test_other_phone_number_and_statuses_in_one_body_are_left_out(wa: WhatsApp) -> None:
    resp = await wa.webhook("two_entries_two_changes")
    assert await resp.json() == {"received": 3, "new": 3}
    await wa.drain()
    customers = {c["platform_user_id"]: c for c in await wa.customers()}
    assert sorted(customers) == [MALI, NOK]  # not ปิยะ, who wrote to the other number
    assert customers[NOK]["platform_username"] == "@nok_bkk"
    assert len(await wa.messages(customer_id=customers[MALI]["_id"])) == 2


async def test_send_to_the_phone_number_with_the_token(wa: WhatsApp) -> None:
    await wa.webhook("text")
    await wa.drain()
    message_id = await wa.send("x" * 5000)
    [sent] = wa.fake.sent
    assert message_id == sent["message_id"] and sent["to"] == MALI_PHONE
    assert sent["messaging_product"] == "whatsapp" and len(sent["text"]["body"]) == 4096
    [call] = [c for c in wa.fake.calls if c.path.endswith(f"/{NUMBER_ID}/messages")]
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    wa.fake.outside_window.add(MALI_PHONE)
    with pytest.raises(PlatformError, match="131047") as failed:
        await wa.send()
    assert failed.value.status == 400 and len(wa.fake.sent) == 1
