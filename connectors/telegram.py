"""Telegram Bot API connector (python-telegram-bot): secret token, updates, send_message."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import telegram
from telegram.error import BadRequest, Forbidden, TelegramError, TimedOut

from chatcrm.domain import RawEvent
from connectors.base import (
    BLOCKED,
    EDIT,
    MAX_TEXT_CHARS,
    NETWORK_ERRORS,
    REJECTED,
    UNAVAILABLE,
    ChatEvent,
    ChatMessage,
    ChatText,
    Connector,
    PayloadError,
    PlatformError,
    PlatformTimeout,
    Profile,
    Refused,
    Secret,
    SignatureError,
    clip,
    json_object,
    network_error,
)

ALLOWED_UPDATES = ("message", "edited_message", "callback_query", "my_chat_member")
"""Update types chatcrm asks Telegram for when it registers the webhook."""

_MEMBER_STATUS = {"kicked": "blocked", "left": "unfollowed", "member": "following"}


_CONTENT: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("sticker", "sticker", ("emoji", "set_name")),
    ("photo", "image", ("file_unique_id", "width")),
    ("animation", "animation", ("file_name", "duration", "width", "height")),
    ("document", "file", ("file_name", "file_size")),
    ("venue", "venue", ("title", "address", "latitude", "longitude", "foursquare_id")),
    ("location", "location", ("latitude", "longitude")),
    ("video_note", "video_note", ("duration", "length")),
    ("video", "video", ("duration",)),
    ("voice", "audio", ("duration",)),
    ("audio", "audio", ("duration",)),
    ("contact", "contact", ("phone_number", "first_name", "last_name", "user_id")),
    ("poll", "poll", ("options", "type")),
    ("dice", "dice", ("emoji", "value")),
)
"""Message contents other than text, as (Message attribute, message type, metadata kept), in
the order to look for them: Telegram sets `location` beside `venue` and `document` beside
`animation`."""


def _describe(content: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """The metadata `keys` of a message's content, from its Bot API JSON form."""
    data = (content[-1] if isinstance(content, tuple) else content).to_dict()  # photo: biggest
    data = {**data.pop("location", {}), **data}  # a venue's place
    if isinstance(data.get("options"), list):  # a poll's answers
        data["options"] = [clip(option.get("text")) for option in data["options"]]
    meta: dict[str, Any] = {}
    for key in keys:
        value = data.get(key)
        if isinstance(value, str):
            meta[key] = clip(value, 500)
        elif isinstance(value, int | float | list) and not isinstance(value, bool):
            meta[key] = value
    return meta


def _message(msg: telegram.Message, change: str | None = None) -> ChatMessage:
    """Type, text and media metadata of a Telegram message (media is never downloaded)."""
    kind, meta = ("text" if msg.text is not None else "other"), {}
    for attribute, name, keys in _CONTENT:
        content = getattr(msg, attribute)
        if content:
            kind, meta = name, _describe(content, keys)
            break
    text = msg.text if msg.text is not None else msg.caption
    if msg.poll is not None:
        text = msg.poll.question
    return ChatMessage(
        platform_message_id=f"{msg.chat.id}:{msg.message_id}",
        type=kind,
        text=clip(text, MAX_TEXT_CHARS),
        meta={k: v for k, v in meta.items() if v is not None},
        change=change,
        sent_at=msg.date if change is not None else None,
    )


def _conversation(chat: telegram.Chat | None) -> tuple[str, str | None]:
    if chat is None or chat.type == telegram.constants.ChatType.PRIVATE:
        return "user", None
    return "group", str(chat.id)


def _message_event(event: ChatEvent, msg: telegram.Message, *, edited: bool) -> ChatEvent:
    """`event` (of the update's user) about a message, or its edit (at the edit's time).

    A contact the user shares of themselves gives their phone number to the profile.
    """
    kind, conversation = _conversation(msg.chat)
    status = None
    if not edited and kind == "user" and (msg.text or "").split(" ")[0] == "/start":
        status = "following"
    contact = msg.contact
    profile = event.profile
    if profile is not None and contact is not None and contact.user_id == int(event.user_id):
        profile = replace(profile, phone=contact.phone_number)
    return replace(
        event,
        at=(msg.edit_date or msg.date) if edited else msg.date,
        status=status,
        message=_message(msg, EDIT if edited else None),
        conversation_type=kind,
        conversation_id=conversation,
        profile=profile,
    )


class TelegramConnector(Connector):
    """A Telegram bot: `X-Telegram-Bot-Api-Secret-Token` compared in constant time."""

    platform = "telegram"
    labels = {"en": "Telegram", "th": "Telegram"}
    customer_channels = {"telegram": labels}
    secrets = (
        Secret("bot_token", "from @BotFather"),
        Secret(
            "secret_token",
            "any 1-256 characters of A-Z a-z 0-9 _ -; Telegram echoes it on every update",
            pattern=r"[A-Za-z0-9_-]{1,256}",
            problem="1-256 characters of A-Z a-z 0-9 _ -",
        ),
    )
    signature = "X-Telegram-Bot-Api-Secret-Token"
    registers_webhook = True
    max_text_chars = 4096
    sends_documents = True
    _sdk_bot: telegram.Bot | None = None
    _initialized = False

    def _bot(self) -> telegram.Bot:
        if self._sdk_bot is None:
            self._sdk_bot = telegram.Bot(
                self.channel.secrets["bot_token"],
                base_url=f"{self.settings.telegram_api_base_url}/bot",
            )
        return self._sdk_bot

    async def _ready_bot(self) -> telegram.Bot:
        bot = self._bot()
        if not self._initialized:
            await bot.initialize()  # calls getMe once per channel and process
            self._initialized = True
        return bot

    def verify_request(self, body: bytes, headers: Mapping[str, str]) -> list[RawEvent]:
        """Compare the secret token header in constant time; one raw event per update."""
        presented = headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        expected = self.channel.secrets["secret_token"].encode()
        if not presented or not hmac.compare_digest(presented, expected):
            raise SignatureError("missing or wrong X-Telegram-Bot-Api-Secret-Token")
        update = json_object(body)
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise PayloadError("update_id must be an integer")
        if not 0 <= update_id < 2**53:
            raise PayloadError("update_id is out of range")
        return [RawEvent(str(update_id), update)]

    def parse(self, raw: dict[str, Any], received_at: datetime) -> list[ChatEvent]:
        """An update parsed by `Update.de_json`: messages and their edits, button presses,
        blocks and unblocks. ``/start`` in a private chat starts the bot: a follow."""
        try:
            update = telegram.Update.de_json(raw, self._bot())
        except (TypeError, ValueError, KeyError) as err:
            raise PayloadError(f"not a Telegram update: {err}") from err
        user = update.effective_user
        if user is None or user.is_bot:
            return []
        profile = Profile(clip(user.full_name))
        event = ChatEvent(
            str(user.id), "telegram", received_at, profile=profile, sequence=update.update_id
        )
        msg = update.message or update.edited_message
        if msg is not None:
            return [_message_event(event, msg, edited=msg is update.edited_message)]
        if update.callback_query is not None:
            query = update.callback_query
            chat = query.message.chat if query.message is not None else None
            kind, conversation = _conversation(chat)
            postback = ChatMessage(f"callback:{query.id}", "postback", clip(query.data))
            return [
                replace(
                    event,
                    message=postback,
                    conversation_type=kind,
                    conversation_id=conversation,
                )
            ]
        member = update.my_chat_member
        if member is not None and member.chat.type == telegram.constants.ChatType.PRIVATE:
            status = _MEMBER_STATUS.get(member.new_chat_member.status)
            if status is not None:
                return [replace(event, at=member.date, status=status)]
        return []

    def command_text(self, raw: Mapping[str, Any]) -> ChatText | None:
        """The text of a new message (not an edit) in a private chat with a person."""
        message = raw.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("text"), str):
            return None
        chat, sender = message.get("chat"), message.get("from")
        if not isinstance(chat, dict) or chat.get("type") != "private":
            return None
        if not isinstance(sender, dict) or sender.get("is_bot") or not sender.get("id"):
            return None
        date = message.get("date")
        name = " ".join(str(sender[k]) for k in ("first_name", "last_name") if sender.get(k))
        user_id = str(sender["id"])
        return ChatText(
            user_id=user_id,
            customer_channel="telegram",
            text=message["text"][:MAX_TEXT_CHARS],
            at=datetime.fromtimestamp(date, UTC) if isinstance(date, int) else None,
            name=clip(name),
            recipient={"platform_user_id": user_id},
        )

    async def send_document(self, to: ChatText, path: Path, filename: str, caption: str) -> None:
        """`send_document` into the user's private chat; the caption is plain text."""
        try:
            bot = await self._ready_bot()
            with path.open("rb") as file:
                await bot.send_document(
                    chat_id=int(to.user_id), document=file, filename=filename, caption=caption
                )
        except TelegramError as err:
            raise PlatformError(f"Telegram send_document: {err.message}") from err
        except NETWORK_ERRORS as err:
            raise PlatformError(f"Telegram send_document: {err}") from err

    async def fetch_profile(self, event: ChatEvent) -> Profile:
        """Telegram sends the user with every update: its `from` user is the profile."""
        if event.profile is None:
            raise PlatformError("Telegram has no profile API for bots; none came with the update")
        return event.profile

    async def send_text(self, customer: Mapping[str, Any], text: str) -> str:
        """`send_message` to the customer's private chat; the message's id as its incoming
        messages are stored (``<chat id>:<message id>``: Telegram numbers messages per chat)."""
        try:
            bot = await self._ready_bot()
            message = await bot.send_message(
                chat_id=int(customer["platform_user_id"]), text=text[:MAX_TEXT_CHARS]
            )
        except TelegramError as err:
            raise _send_error(err) from err
        except NETWORK_ERRORS as err:
            raise network_error("Telegram send_message", err) from err
        return f"{message.chat.id}:{message.message_id}"

    async def register_webhook(self, url: str) -> None:
        """`setWebhook` with the URL and the channel's secret token."""
        try:
            bot = await self._ready_bot()
            await bot.set_webhook(
                url=url,
                secret_token=self.channel.secrets["secret_token"],
                allowed_updates=list(ALLOWED_UPDATES),
            )
        except TelegramError as err:
            raise PlatformError(f"Telegram setWebhook: {err.message}") from err

    async def close(self) -> None:
        """Shut the bot's HTTP client down."""
        if self._sdk_bot is not None and self._initialized:
            self._initialized = False
            await self._sdk_bot.shutdown()


def _send_error(err: TelegramError) -> PlatformError:
    """The `PlatformError` of a send the Bot API refused or that did not get through.

    403 "bot was blocked by the user" is `BLOCKED`; other 403s ("user is deactivated", "bot
    can't initiate conversation with a user") and 400 "chat not found" are `UNAVAILABLE`;
    other 400s refuse the message. (The SDK's BadRequest and TimedOut are NetworkErrors.)
    """
    what = f"Telegram send_message: {err.message}"
    said = err.message.lower()
    if isinstance(err, Forbidden):
        return Refused(what, reason=BLOCKED if "blocked" in said else UNAVAILABLE, status=403)
    if isinstance(err, BadRequest):
        reason = UNAVAILABLE if "chat not found" in said else REJECTED
        return Refused(what, reason=reason, status=400)
    if isinstance(err, TimedOut):
        return PlatformTimeout(f"Telegram send_message: no answer in time ({err.message})")
    return PlatformError(what)


CONNECTOR = TelegramConnector
