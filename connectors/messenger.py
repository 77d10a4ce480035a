"""Meta Messenger / Instagram messaging connector: app-secret signature, Graph API over aiohttp."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chatcrm.domain import RawEvent
from connectors.base import (
    EDIT,
    MAX_TEXT_CHARS,
    UNSEND,
    ChatEvent,
    ChatMessage,
    ChatText,
    PayloadError,
    PlatformError,
    Profile,
    Secret,
    clip,
    digest,
    from_epoch,
)
from connectors.meta import APP_SECRET, VERIFY_TOKEN, GraphConnector

_OBJECTS = {"page": "messenger", "instagram": "instagram"}
_PROFILE_FIELDS = {"messenger": "first_name,last_name,profile_pic", "instagram": "name,profile_pic"}
MAX_SEND_CHARS = 2000
"""Longest text the Send API takes."""
THREADS = ("messaging", "standby")
"""Where an entry lists its events: ``standby`` while another app owns the thread (the
handover protocol, e.g. the Page inbox), in the shape of ``messaging``."""


def _entry_items(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of one ``entry``: its ``messaging`` and ``standby`` items, and the value of
    its ``changes`` of a messaging field (Meta's documented example and test form)."""
    items: list[Any] = []
    for name in THREADS:
        listed = entry.get(name, [])
        if not isinstance(listed, list):
            raise PayloadError(f"entry.{name} must be a list")
        items += listed
    changes = entry.get("changes", [])
    if not isinstance(changes, list):
        raise PayloadError("entry.changes must be a list")
    for change in changes:
        if isinstance(change, dict) and str(change.get("field", "")).startswith("messag"):
            items.append(change.get("value"))
    if not all(isinstance(item, dict) for item in items):
        raise PayloadError("messaging items must be objects")
    return items


def _event_key(raw: dict[str, Any], item: dict[str, Any]) -> str:
    """A message's or postback's ``mid``; for anything else (an edit or deletion names the
    ``mid`` of the message it changes) a digest of the event."""
    for part in (item.get("message"), item.get("postback")):
        if isinstance(part, dict) and part.get("mid") and not part.get("is_deleted"):
            return str(part["mid"])
    return digest(raw)


def _customer_message(item: dict[str, Any], raw: dict[str, Any]) -> ChatMessage | None:
    """What a customer's event says: a message, its edit or deletion, a postback; or None."""
    message, edit, postback = item.get("message"), item.get("message_edit"), item.get("postback")
    if isinstance(message, dict) and message.get("mid"):
        mid = str(message["mid"])
        if message.get("is_deleted"):
            return ChatMessage(mid, "unsent", None, change=UNSEND)
        if message.get("is_unsupported"):
            return ChatMessage(mid, "unsupported", None)
        return _attachment_message(mid, message)
    if isinstance(edit, dict) and edit.get("mid"):
        text = clip(edit.get("text"), MAX_TEXT_CHARS)
        return ChatMessage(str(edit["mid"]), "text", text, change=EDIT)
    if isinstance(postback, dict):
        mid = str(postback.get("mid") or digest(raw))
        return ChatMessage(mid, "postback", clip(postback.get("payload"), MAX_TEXT_CHARS))
    return None


def _user_id(party: Any) -> str | None:
    """The id of a ``sender`` or ``recipient``."""
    user_id = party.get("id") if isinstance(party, dict) else None
    return str(user_id) if user_id else None


def _edit_number(item: dict[str, Any]) -> int | None:
    """``message_edit.num_edit``: which edit of the message this is."""
    edit = item.get("message_edit")
    number = edit.get("num_edit") if isinstance(edit, dict) else None
    if isinstance(number, str) and number.isascii() and number.isdigit():
        number = int(number)
    return number if isinstance(number, int) and 0 <= number < 2**31 else None


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
        """Check the HMAC-SHA256 of the raw body; one raw event per ``messaging`` or
        ``standby`` item of each entry, in order."""
        obj, entries = self.signed_body(body, headers, tuple(_OBJECTS))
        events = []
        for entry in entries:
            for item in _entry_items(entry):
                raw = {"object": obj, "entry_id": str(entry.get("id")), "event": item}
                events.append(RawEvent(_event_key(raw, item), raw))
        return events

    def parse(self, raw: dict[str, Any], received_at: datetime) -> list[ChatEvent]:
        """A customer's messages (their edits and deletions) and postbacks, and the page's
        own replies (echoes, from any app: outgoing messages of the recipient's conversation);
        deliveries, reads and the rest are ignored. The time may be in seconds or ms."""
        channel = _OBJECTS.get(raw.get("object", ""))
        item = raw.get("event")
        if channel is None or not isinstance(item, dict):
            raise PayloadError("not a stored Messenger event")
        message = item.get("message")
        if isinstance(message, dict) and message.get("is_echo"):
            customer = _user_id(item.get("recipient"))
            chat = _customer_message(item, raw)
            chat = replace(chat, direction="out") if chat is not None else None
        else:
            customer, chat = _user_id(item.get("sender")), _customer_message(item, raw)
        if customer is None or customer == raw.get("entry_id") or chat is None:
            return []  # nothing said, or the page / account itself as the customer
        at = from_epoch(item.get("timestamp"), received_at)
        event = ChatEvent(customer, channel, at, message=chat, sequence=_edit_number(item))
        return [event]

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
            at=from_epoch(item.get("timestamp"), datetime.now(UTC)),
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
        data = await self.graph("POST", "me/messages", "Graph send", body=body, sending=True)
        if "message_id" not in data:
            raise PlatformError("Graph send: no message_id in the answer")
        return str(data["message_id"])


CONNECTOR = MessengerConnector
