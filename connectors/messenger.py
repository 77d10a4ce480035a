"""Meta Messenger / Instagram messaging connector: app-secret signature, Graph API over aiohttp."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chatcrm.domain import RawEvent
from connectors.base import (
    MAX_TEXT_CHARS,
    ChatEvent,
    ChatMessage,
    ChatText,
    PayloadError,
    PlatformError,
    Profile,
    Secret,
    clip,
    digest,
    from_millis,
)
from connectors.meta import APP_SECRET, VERIFY_TOKEN, GraphConnector

_OBJECTS = {"page": "messenger", "instagram": "instagram"}
_PROFILE_FIELDS = {"messenger": "first_name,last_name,profile_pic", "instagram": "name,profile_pic"}
MAX_SEND_CHARS = 2000
"""Longest text the Send API takes."""


def _attachment_message(mid: str, message: dict[str, Any]) -> ChatMessage:
    attachments = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
    first = attachments[0] if attachments else {}
    payload = first.get("payload") if isinstance(first.get("payload"), dict) else {}
    kind = "sticker" if payload.get("sticker_id") else str(first.get("type") or "text")[:40]
    meta: dict[str, Any] = {"attachments": len(attachments)} if attachments else {}
    if isinstance(payload.get("url"), str):
        meta["url"] = payload["url"][:1000]
    return ChatMessage(mid, kind, clip(message.get("text"), MAX_TEXT_CHARS), meta)


class MessengerConnector(GraphConnector):
    """A Facebook page (and its Instagram account): `X-Hub-Signature-256` with the app secret."""

    platform = "messenger"
    labels = {"en": "Messenger", "th": "Messenger"}
    customer_channels = {"messenger": labels, "instagram": {"en": "Instagram", "th": "Instagram"}}
    secrets = (
        Secret("page_access_token", "a Page access token with pages_messaging"),
        APP_SECRET,
        VERIFY_TOKEN,
    )
    max_text_chars = MAX_SEND_CHARS

    def verify_request(self, body: bytes, headers: Mapping[str, str]) -> list[RawEvent]:
        """Check the HMAC-SHA256 of the raw body; one raw event per ``entry[].messaging[]``."""
        obj, entries = self.signed_body(body, headers, tuple(_OBJECTS))
        events = []
        for entry in entries:
            if not isinstance(entry.get("messaging", []), list):
                raise PayloadError("entry items must be objects with a messaging list")
            for item in entry.get("messaging", []):
                if not isinstance(item, dict):
                    raise PayloadError("messaging items must be objects")
                raw = {"object": obj, "entry_id": str(entry.get("id")), "event": item}
                mid = (item.get("message") or item.get("postback") or {}).get("mid")
                events.append(RawEvent(str(mid) if mid else digest(raw), raw))
        return events

    def parse(self, raw: dict[str, Any], received_at: datetime) -> list[ChatEvent]:
        """Messages and postbacks; echoes, deliveries, reads and the rest are ignored."""
        channel = _OBJECTS.get(raw.get("object", ""))
        item = raw.get("event")
        if channel is None or not isinstance(item, dict):
            raise PayloadError("not a stored Messenger event")
        sender = (item.get("sender") or {}).get("id")
        message = item.get("message")
        postback = item.get("postback")
        if not sender or sender == raw.get("entry_id"):
            return []  # sent by the page / account itself
        at = from_millis(item.get("timestamp"), received_at)
        if isinstance(message, dict) and not message.get("is_echo") and message.get("mid"):
            chat = _attachment_message(str(message["mid"]), message)
        elif isinstance(postback, dict):
            mid = str(postback.get("mid") or digest(raw))
            chat = ChatMessage(mid, "postback", clip(postback.get("payload"), MAX_TEXT_CHARS))
        else:
            return []
        return [ChatEvent(user_id=str(sender), customer_channel=channel, at=at, message=chat)]

    def command_text(self, raw: Mapping[str, Any]) -> ChatText | None:
        """The text of a user's message to the page (not an echo, not a standby event)."""
        channel = _OBJECTS.get(str(raw.get("object")))
        item = raw.get("event")
        if channel is None or not isinstance(item, dict) or raw.get("standby"):
            return None
        sender = (item.get("sender") or {}).get("id")
        message = item.get("message")
        if not sender or sender == raw.get("entry_id") or not isinstance(message, dict):
            return None
        text = message.get("text")
        if message.get("is_echo") or message.get("is_deleted") or not isinstance(text, str):
            return None
        return ChatText(
            user_id=str(sender),
            customer_channel=channel,
            text=text[:MAX_TEXT_CHARS],
            at=from_millis(item.get("timestamp"), datetime.now(UTC)),
            recipient={"platform_user_id": str(sender)},
        )

    async def fetch_profile(self, event: ChatEvent) -> Profile:
        """Graph user profile of a page-scoped (or Instagram-scoped) id."""
        fields = _PROFILE_FIELDS[event.customer_channel]
        data = await self.graph("GET", event.user_id, "Graph profile", params={"fields": fields})
        name = data.get("name") or " ".join(
            str(data[k]) for k in ("first_name", "last_name") if data.get(k)
        )
        return Profile(clip(name), clip(data.get("profile_pic"), 1000))

    async def send_text(self, customer: Mapping[str, Any], text: str) -> str:
        """Send API: a RESPONSE text message to the customer."""
        body = {
            "recipient": {"id": customer["platform_user_id"]},
            "messaging_type": "RESPONSE",
            "message": {"text": text[:MAX_SEND_CHARS]},
        }
        data = await self.graph("POST", "me/messages", "Graph send", body=body)
        if "message_id" not in data:
            raise PlatformError("Graph send: no message_id in the answer")
        return str(data["message_id"])


CONNECTOR = MessengerConnector
