"""The fake platform servers answer the REAL SDK clients, and the fixtures parse with them."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import telegram
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.models import UnknownEvent
from linebot.v3.webhooks import (
    CallbackRequest,
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEditedEvent,
    MessageEvent,
    PostbackEvent,
    StickerMessageContent,
    TextMessageContent,
    UnfollowEvent,
    UnsendEvent,
)
from telegram.error import Forbidden, InvalidToken, NetworkError, RetryAfter

from tests.fakes.graph import FakeGraph
from tests.fakes.line import FakeLine
from tests.fakes.signing import fixture_names, line_signature, load_fixture, meta_signature
from tests.fakes.telegram import FakeTelegram

LINE_TOKEN = "line-test-token"
LINE_SECRET = "0123456789abcdef0123456789abcdef"
USER_ID = "Ua69f03e594eefbb87cde656abf334c1d"
GROUP_ID = "C2d8bf7e5aa5e893bd6419f9510a93a10"
GRAPH_TOKEN = "EAAGgraphTestToken"
PSID = "7304918273645512"


@pytest.fixture
async def fake_line() -> AsyncIterator[FakeLine]:
    async with FakeLine(access_token=LINE_TOKEN) as fake:
        yield fake


@pytest.fixture
async def line_api(fake_line: FakeLine) -> AsyncIterator[AsyncMessagingApi]:
    config = Configuration(access_token=LINE_TOKEN, host=fake_line.base_url)
    async with AsyncApiClient(config) as client:
        yield AsyncMessagingApi(client)


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        yield fake


@pytest.fixture
async def fake_graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph(access_token=GRAPH_TOKEN) as fake:
        yield fake


# ---------------------------------------------------------------------------- LINE fake


async def test_fake_line_lifecycle() -> None:
    fake = FakeLine()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    await fake.start()
    try:
        assert fake.base_url.startswith("http://127.0.0.1:")
        assert fake.port > 0
    finally:
        await fake.close()
        await fake.close()  # idempotent


async def test_a_stalled_request_is_answered_late(fake_line: FakeLine) -> None:
    fake_line.stall_next(seconds=0.5)
    url = f"{fake_line.base_url}/v2/bot/info"
    headers = {"Authorization": f"Bearer {LINE_TOKEN}"}
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError):
            timeout = aiohttp.ClientTimeout(total=0.1)
            async with session.get(url, headers=headers, timeout=timeout) as resp:
                await resp.read()
        async with session.get(url, headers=headers) as resp:  # the next one is not held
            assert resp.status == 200


async def test_line_get_profile_through_sdk(
    fake_line: FakeLine, line_api: AsyncMessagingApi
) -> None:
    fake_line.add_profile(
        USER_ID,
        "สมหญิง 🌸",
        picture_url="https://profile.line-scdn.net/0hAbC",
        status_message="ร้านเปิด 9 โมงค่ะ",
        language="th",
    )
    profile = await line_api.get_profile(USER_ID)
    assert profile.display_name == "สมหญิง 🌸"
    assert profile.user_id == USER_ID
    assert profile.picture_url == "https://profile.line-scdn.net/0hAbC"
    assert profile.status_message == "ร้านเปิด 9 โมงค่ะ"
    assert profile.language == "th"
    [call] = fake_line.calls
    assert (call.method, call.path, call.status) == ("GET", f"/v2/bot/profile/{USER_ID}", 200)
    assert call.headers["Authorization"] == f"Bearer {LINE_TOKEN}"
    assert call.headers["authorization"] == f"Bearer {LINE_TOKEN}"
    assert call.json is None


async def test_line_profile_without_optional_fields(
    fake_line: FakeLine, line_api: AsyncMessagingApi
) -> None:
    fake_line.profiles[USER_ID] = {"displayName": "Nok"}
    profile = await line_api.get_profile(USER_ID)
    assert (profile.display_name, profile.user_id, profile.picture_url) == ("Nok", USER_ID, None)


async def test_line_unknown_profile_raises_api_exception(line_api: AsyncMessagingApi) -> None:
    with pytest.raises(ApiException) as info:
        await line_api.get_profile(USER_ID)
    assert info.value.status == 404
    assert json.loads(info.value.body) == {"message": "Not found"}


async def test_line_group_member_profile(fake_line: FakeLine, line_api: AsyncMessagingApi) -> None:
    fake_line.add_profile(USER_ID, "Lek", group_id=GROUP_ID, status_message="hidden in groups")
    member = await line_api.get_group_member_profile(GROUP_ID, USER_ID)
    assert (member.display_name, member.user_id) == ("Lek", USER_ID)
    with pytest.raises(ApiException) as info:
        await line_api.get_group_member_profile("C" + "0" * 32, USER_ID)
    assert info.value.status == 404


async def test_line_wrong_token_is_401(fake_line: FakeLine) -> None:
    config = Configuration(access_token="not-the-token", host=fake_line.base_url)
    async with AsyncApiClient(config) as client:
        with pytest.raises(ApiException) as info:
            await AsyncMessagingApi(client).get_profile(USER_ID)
    assert info.value.status == 401
    assert json.loads(info.value.body)["message"].startswith("Authentication failed")


async def test_line_missing_auth_header_is_401(fake_line: FakeLine) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{fake_line.base_url}/v2/bot/profile/{USER_ID}") as resp:
            assert resp.status == 401
            assert "Authorization header required" in (await resp.json())["message"]
            assert resp.headers["x-line-request-id"]


async def test_line_push_message_through_sdk(
    fake_line: FakeLine, line_api: AsyncMessagingApi
) -> None:
    retry_key = str(uuid.uuid4())
    request = PushMessageRequest(to=USER_ID, messages=[TextMessage(text="ขอบคุณที่สั่งซื้อค่ะ 🙏")])
    response = await line_api.push_message(request, x_line_retry_key=retry_key)
    [sent] = response.sent_messages
    assert sent.id.isdigit()
    assert sent.quote_token
    [push] = fake_line.pushed()
    assert push["to"] == USER_ID
    assert push["messages"] == [{"type": "text", "text": "ขอบคุณที่สั่งซื้อค่ะ 🙏"}]
    assert push["retryKey"] == retry_key
    assert fake_line.calls[0].json["to"] == USER_ID

    # Same retry key again: LINE answers 409 and does not send twice.
    with pytest.raises(ApiException) as info:
        await line_api.push_message(request, x_line_retry_key=retry_key)
    assert info.value.status == 409
    assert json.loads(info.value.body)["sentMessages"][0]["id"] == sent.id
    assert len(fake_line.pushed()) == 1


async def test_line_push_validation(fake_line: FakeLine) -> None:
    headers = {"Authorization": f"Bearer {LINE_TOKEN}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        url = f"{fake_line.base_url}/v2/bot/message/push"
        async with session.post(url, json={"messages": [{"type": "text", "text": "x"}]}) as resp:
            assert resp.status == 400
            body = await resp.json()
            assert body["details"] == [{"message": "must be specified", "property": "to"}]
        six = [{"type": "text", "text": str(i)} for i in range(6)]
        async with session.post(url, json={"to": USER_ID, "messages": six}) as resp:
            assert resp.status == 400
    assert fake_line.sent == []


async def test_line_reply_token_is_single_use(
    fake_line: FakeLine, line_api: AsyncMessagingApi
) -> None:
    request = ReplyMessageRequest(
        reply_token="3e8a5d0bac63871b44c96559d94d1c25", messages=[TextMessage(text="รับทราบค่ะ")]
    )
    response = await line_api.reply_message(request)
    assert len(response.sent_messages) == 1
    with pytest.raises(ApiException) as info:
        await line_api.reply_message(request)
    assert info.value.status == 400
    assert json.loads(info.value.body) == {"message": "Invalid reply token"}
    assert [r["replyToken"] for r in fake_line.replied()] == ["3e8a5d0bac63871b44c96559d94d1c25"]


async def test_line_fail_next(fake_line: FakeLine, line_api: AsyncMessagingApi) -> None:
    fake_line.add_profile(USER_ID, "Ploy")
    fake_line.fail_next(2, status=500)
    for _ in range(2):
        with pytest.raises(ApiException) as info:
            await line_api.get_profile(USER_ID)
        assert info.value.status == 500
    assert fake_line.pending_failures == 0
    assert (await line_api.get_profile(USER_ID)).display_name == "Ploy"
    assert [c.status for c in fake_line.calls] == [500, 500, 200]


# ---------------------------------------------------------------------------- Telegram fake


async def test_telegram_bot_through_ptb(fake_telegram: FakeTelegram) -> None:
    bot = telegram.Bot(fake_telegram.token, base_url=fake_telegram.api_base_url)
    async with bot:  # initialize() calls getMe
        assert bot.username == "chatcrm_demo_bot"
        me = await bot.get_me()
        assert me.is_bot and me.id == 7012345678

        message = await bot.send_message(chat_id=5123456789, text="สวัสดีครับ 👋")
        assert message.message_id >= 1
        assert message.text == "สวัสดีครับ 👋"
        assert message.chat.id == 5123456789 and message.chat.type == "private"
        assert message.from_user is not None and message.from_user.id == me.id
        assert message.date is not None

        assert await bot.set_webhook(
            url="https://crm.example.com/webhooks/telegram",
            secret_token="s3cr3t_T0ken-1",
            allowed_updates=["message", "callback_query", "my_chat_member"],
            drop_pending_updates=True,
        )
        info = await bot.get_webhook_info()
        assert info.url == "https://crm.example.com/webhooks/telegram"
        assert info.allowed_updates == ("message", "callback_query", "my_chat_member")
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""

    [send] = fake_telegram.calls_for("sendMessage")
    assert send == {"chat_id": 5123456789, "text": "สวัสดีครับ 👋"}
    [hook] = fake_telegram.calls_for("setWebhook")
    assert hook["secret_token"] == "s3cr3t_T0ken-1"
    assert hook["allowed_updates"] == ["message", "callback_query", "my_chat_member"]
    assert hook["drop_pending_updates"] is True
    send_call = next(c for c in fake_telegram.calls if c.path.endswith("/sendMessage"))
    assert send_call.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert fake_telegram.sent_messages[0]["text"] == "สวัสดีครับ 👋"


async def test_telegram_accepts_json_and_get(fake_telegram: FakeTelegram) -> None:
    base = f"{fake_telegram.api_base_url}{fake_telegram.token}"
    async with aiohttp.ClientSession() as session:
        payload = {"chat_id": -4087654321, "text": "123"}
        async with session.post(f"{base}/sendMessage", json=payload) as resp:
            body = await resp.json()
        assert body["ok"] is True
        assert body["result"]["chat"] == {"id": -4087654321, "title": "Group", "type": "group"}
        assert body["result"]["text"] == "123"
        async with session.get(f"{base}/getMe") as resp:
            assert (await resp.json())["result"]["username"] == "chatcrm_demo_bot"
        async with session.get(f"{base}/noSuchMethod") as resp:
            assert resp.status == 404


async def test_telegram_unknown_token_is_401(fake_telegram: FakeTelegram) -> None:
    bot = telegram.Bot("123456:wrong-token", base_url=fake_telegram.api_base_url)
    with pytest.raises(InvalidToken):
        await bot.initialize()
    await bot.shutdown()
    assert fake_telegram.calls[0].status == 401
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{fake_telegram.api_base_url}123456:wrong/getMe") as resp:
            assert resp.status == 401
            assert await resp.json() == {
                "ok": False,
                "error_code": 401,
                "description": "Unauthorized",
            }


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_telegram_errors_and_fail_next(fake_telegram: FakeTelegram) -> None:
    fake_telegram.blocked_chats.add(5123456789)
    async with telegram.Bot(fake_telegram.token, base_url=fake_telegram.api_base_url) as bot:
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(chat_id=5123456789, text="hi")
        with pytest.raises(telegram.error.BadRequest, match="(?i)https url"):
            await bot.set_webhook(url="http://insecure.example.com/hook")
        fake_telegram.fail_next(1, status=429, retry_after=3)
        with pytest.raises(RetryAfter):
            await bot.send_message(chat_id=42, text="hi")
        fake_telegram.fail_next(1, status=500)
        with pytest.raises(NetworkError):
            await bot.send_message(chat_id=42, text="hi")
        assert (await bot.send_message(chat_id=42, text="ok")).text == "ok"


# ---------------------------------------------------------------------------- Graph fake


async def test_graph_profile_and_send(fake_graph: FakeGraph) -> None:
    fake_graph.add_profile(PSID, "สมหญิง", "รักดี")
    base = f"{fake_graph.base_url}/v23.0"
    async with aiohttp.ClientSession() as session:
        params = {"fields": "first_name,last_name,profile_pic", "access_token": GRAPH_TOKEN}
        async with session.get(f"{base}/{PSID}", params=params) as resp:
            assert resp.status == 200
            profile = await resp.json()
        assert profile["first_name"] == "สมหญิง"
        assert profile["last_name"] == "รักดี"
        assert profile["profile_pic"].startswith("https://")
        assert profile["id"] == PSID

        message = {
            "recipient": {"id": PSID},
            "messaging_type": "RESPONSE",
            "message": {"text": "ขอบคุณค่ะ 😊"},
        }
        async with session.post(
            f"{base}/me/messages", params={"access_token": GRAPH_TOKEN}, json=message
        ) as resp:
            assert resp.status == 200
            sent = await resp.json()
        assert sent["recipient_id"] == PSID
        assert sent["message_id"].startswith("m_")

    get_call, post_call = fake_graph.calls
    assert get_call.query["fields"] == "first_name,last_name,profile_pic"
    assert post_call.json == message
    assert fake_graph.sent[0]["message"] == {"text": "ขอบคุณค่ะ 😊"}


async def test_graph_errors(fake_graph: FakeGraph) -> None:
    base = f"{fake_graph.base_url}/v23.0"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/{PSID}", params={"access_token": "bad"}) as resp:
            assert resp.status == 400
            error = (await resp.json())["error"]
        assert error["type"] == "OAuthException" and error["code"] == 190
        assert error["message"] and error["fbtrace_id"]

        async with session.get(f"{base}/{PSID}") as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == 104

        auth = {"Authorization": f"Bearer {GRAPH_TOKEN}"}
        async with session.get(f"{base}/{PSID}", headers=auth) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == 100  # unknown PSID

        fake_graph.add_profile(PSID, "Mali")
        fake_graph.fail_next(1, status=500)
        async with session.get(f"{base}/{PSID}", headers=auth) as resp:
            assert resp.status == 500
            assert (await resp.json())["error"]["is_transient"] is True
        async with session.get(f"{base}/{PSID}", headers=auth) as resp:
            assert resp.status == 200

        fake_graph.unreachable.add(PSID)
        body = {"recipient": {"id": PSID}, "message": {"text": "hi"}}
        async with session.post(f"{base}/me/messages", headers=auth, json=body) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == 551
    assert fake_graph.sent == []


# ---------------------------------------------------------------------------- fixtures

LINE_EXPECTED: dict[str, list[tuple[type, type | None]]] = {
    "text_user": [(MessageEvent, TextMessageContent)],
    "text_redelivery": [(MessageEvent, TextMessageContent)],
    "text_standby": [(MessageEvent, TextMessageContent)],
    "sticker": [(MessageEvent, StickerMessageContent)],
    "image": [(MessageEvent, ImageMessageContent)],
    "location": [(MessageEvent, LocationMessageContent)],
    "follow": [(FollowEvent, None)],
    "unfollow": [(UnfollowEvent, None)],
    "postback": [(PostbackEvent, None)],
    "group_text": [(MessageEvent, TextMessageContent)],
    "verify": [],
    "multi_events": [
        (MessageEvent, TextMessageContent),
        (MessageEvent, StickerMessageContent),
        (FollowEvent, None),
    ],
    "message_edited": [(MessageEditedEvent, None)],
    "unsend": [(UnsendEvent, None)],
    "follow_unfollow_same_ms": [(FollowEvent, None), (UnfollowEvent, None)],
}


def test_line_fixture_list_is_complete() -> None:
    assert set(fixture_names("line")) == set(LINE_EXPECTED)


@pytest.mark.parametrize("name", sorted(LINE_EXPECTED))
def test_line_fixture_parses_with_sdk(name: str) -> None:
    body = load_fixture("line", name)
    signature = line_signature(LINE_SECRET, body)
    events = WebhookParser(LINE_SECRET).parse(body.decode("utf-8"), signature)
    assert not any(isinstance(e, UnknownEvent) for e in events)
    assert [type(e) for e in events] == [cls for cls, _ in LINE_EXPECTED[name]]
    for event, (_, content_cls) in zip(events, LINE_EXPECTED[name], strict=True):
        assert len(event.webhook_event_id) == 26
        assert event.source is not None
        if content_cls is not None:
            assert isinstance(event.message, content_cls)
    # Whole-body model: destination is "U" + 32 hex, every event well-formed.
    CallbackRequest.from_json(body.decode("utf-8"))
    with pytest.raises(InvalidSignatureError):
        WebhookParser(LINE_SECRET).parse(body.decode("utf-8"), line_signature("other", body))


def test_line_fixture_details() -> None:
    [text] = _line_events("text_user")
    [again] = _line_events("text_redelivery")
    assert text.webhook_event_id == again.webhook_event_id
    assert (text.delivery_context.is_redelivery, again.delivery_context.is_redelivery) == (
        False,
        True,
    )
    assert "😊" in text.message.text
    [standby] = _line_events("text_standby")
    assert standby.mode.value == "standby" and standby.reply_token is None
    [group] = _line_events("group_text")
    assert group.source.type == "group" and group.source.user_id and group.source.group_id
    ids = [e.webhook_event_id for e in _line_events("multi_events")]
    assert len(set(ids)) == 3


def _line_events(name: str) -> list[Any]:
    body = load_fixture("line", name)
    return WebhookParser(LINE_SECRET).parse(body.decode(), line_signature(LINE_SECRET, body))


def _assert_no_unknown_fields(obj: Any, where: str = "update") -> None:
    """Every key of the fixture maps to a PTB attribute (api_kwargs stay empty)."""
    if isinstance(obj, telegram.TelegramObject):
        assert dict(obj.api_kwargs) == {}, f"unknown fields at {where}: {obj.api_kwargs}"
        for key, value in obj._get_attrs(include_private=False, recursive=False).items():
            _assert_no_unknown_fields(value, f"{where}.{key}")
    elif isinstance(obj, tuple | list):
        for i, value in enumerate(obj):
            _assert_no_unknown_fields(value, f"{where}[{i}]")


TELEGRAM_FIXTURES = [
    "animation",
    "callback_query",
    "contact_other",
    "contact_own",
    "dice",
    "edited_message",
    "edited_message_text",
    "group_text",
    "my_chat_member_kicked",
    "my_chat_member_unblock",
    "poll",
    "private_start",
    "private_text",
    "venue",
    "video_note",
]


@pytest.fixture
def ptb_bot() -> Iterator[telegram.Bot]:
    yield telegram.Bot(FakeTelegram().token)


def test_telegram_fixture_list_is_complete() -> None:
    assert fixture_names("telegram") == TELEGRAM_FIXTURES


@pytest.mark.parametrize("name", TELEGRAM_FIXTURES)
def test_telegram_fixture_parses_with_ptb(name: str, ptb_bot: telegram.Bot) -> None:
    data = json.loads(load_fixture("telegram", name))
    update = telegram.Update.de_json(data, ptb_bot)
    assert update is not None and update.update_id == data["update_id"]
    _assert_no_unknown_fields(update)
    assert update.effective_user is not None and update.effective_chat is not None
    if name == "my_chat_member_kicked":
        assert update.my_chat_member is not None
        assert update.my_chat_member.new_chat_member.status == "kicked"
        assert update.effective_user.language_code == "th"
    elif name == "callback_query":
        assert update.callback_query is not None
        assert update.callback_query.data == "order:confirm:1042"
    elif name.startswith("edited_message"):
        assert update.edited_message is not None and update.edited_message.edit_date
    elif name == "group_text":
        assert update.effective_chat.type == "group" and update.effective_chat.id < 0
    elif name == "my_chat_member_unblock":
        assert update.my_chat_member is not None
        assert update.my_chat_member.new_chat_member.status == "member"
    elif name in TELEGRAM_CONTENT:
        assert update.message is not None
        assert getattr(update.message, TELEGRAM_CONTENT[name]) is not None
    else:
        assert update.message is not None and update.message.text


TELEGRAM_CONTENT = {
    "animation": "animation",
    "contact_other": "contact",
    "contact_own": "contact",
    "dice": "dice",
    "poll": "poll",
    "venue": "venue",
    "video_note": "video_note",
}
"""Fixtures of messages without text, by the Message attribute that carries their content."""


MESSENGER_FIXTURES = {
    "delivery": ("page", 1),
    "echo": ("page", 1),
    "image": ("page", 1),
    "instagram_text": ("instagram", 1),
    "postback": ("page", 1),
    "read": ("page", 1),
    "text": ("page", 1),
    "two_entries": ("page", 2),
    "standby": ("page", 1),
    "message_edit": ("page", 1),
    "echo_from_other_app": ("page", 1),
    "instagram_deleted": ("instagram", 1),
    "instagram_unsupported": ("instagram", 1),
    "instagram_edit": ("instagram", 1),
}
MESSENGER_TEST_SHAPED = ("postback_seconds_timestamp",)
"""Bodies in the shape of the app dashboard's "Test" button: ``{"field", "value"}``."""


@pytest.mark.parametrize("name", sorted(MESSENGER_FIXTURES))
def test_messenger_fixture_shape(name: str) -> None:
    body = load_fixture("messenger", name)
    data = json.loads(body)
    obj, entries = MESSENGER_FIXTURES[name]
    assert data["object"] == obj
    assert len(data["entry"]) == entries
    for entry in data["entry"]:
        assert entry["id"].isdigit() and isinstance(entry["time"], int)
        for event in entry.get("messaging", []) + entry.get("standby", []):
            assert event["sender"]["id"].isdigit() and event["recipient"]["id"].isdigit()
            kinds = {"message", "postback", "delivery", "read", "message_edit"} & event.keys()
            assert len(kinds) == 1
            if "message" in event:
                assert event["message"]["mid"]
    assert fixture_names("messenger") == sorted((*MESSENGER_FIXTURES, *MESSENGER_TEST_SHAPED))
    echo = json.loads(load_fixture("messenger", "echo"))
    assert echo["entry"][0]["messaging"][0]["message"]["is_echo"] is True


def _hmac_sha256(key: bytes, msg: bytes) -> bytes:
    """RFC 2104 by hand, to check the helpers independently of the hmac module."""
    block = 64
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key) + msg).digest()
    return hashlib.sha256(bytes(b ^ 0x5C for b in key) + inner).digest()


def test_signatures_match_the_algorithms() -> None:
    body = load_fixture("messenger", "text")
    assert meta_signature("app-secret", body) == "sha256=" + _hmac_sha256(b"app-secret", body).hex()
    expected = base64.b64encode(_hmac_sha256(LINE_SECRET.encode(), body)).decode()
    assert line_signature(LINE_SECRET, body) == expected
    assert load_fixture("line", "verify.json") == load_fixture("line", "verify")
    with pytest.raises(FileNotFoundError):
        load_fixture("line", "nope")
