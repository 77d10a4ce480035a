"""WhatsApp Cloud API connector: Meta's signature and hub check, BSUID identities, Graph sends."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
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

log = logging.getLogger(__name__)

_OBJECT = "whatsapp_business_account"
MAX_SEND_CHARS = 4096
"""Longest text body the Cloud API takes."""

_TYPES = {
    "document": "file",
    "contacts": "contact",
    "interactive": "postback",
    "button": "postback",
}
"""WhatsApp message types stored under the name the other platforms' messages use."""
_IGNORED_TYPES = ("system",)
"""Messages about the account, not from the customer (a number change comes as user_id_update)."""
_PHONE = re.compile(r"[0-9]{6,15}")


def _text(value: Any) -> str | None:
    """A non-empty identifier as a string, else None."""
    return str(value) if isinstance(value, str | int) and str(value) else None


def _objects(value: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
    """The list of objects under `key` (empty when absent); PayloadError when it is not one."""
    items = value.get(key, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise PayloadError(f"{key} must be a list of objects")
    return items


def _contact(
    contacts: list[dict[str, Any]], user_id: str | None, wa_id: str | None
) -> dict[str, Any]:
    """The ``contacts[]`` item of the user with this BSUID or phone (the only one if neither)."""
    for contact in contacts:
        if (user_id and contact.get("user_id") == user_id) or (
            wa_id and contact.get("wa_id") == wa_id
        ):
            return contact
    return contacts[0] if len(contacts) == 1 and not (user_id or wa_id) else {}


def _profile(contact: Mapping[str, Any], wa_id: str | None) -> Profile | None:
    """The profile a contact carries (WhatsApp has no profile API); None without one."""
    profile = contact.get("profile")
    if not isinstance(profile, dict):
        return None
    return Profile(clip(profile.get("name")), username=clip(profile.get("username")), phone=wa_id)


def _seconds(value: Any, default: datetime) -> datetime:
    """A time from WhatsApp's string of epoch seconds, or `default` when unusable."""
    text = str(value) if isinstance(value, str | int) else ""
    return from_millis(int(text) * 1000 if text.isdigit() else None, default)


def _media(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    keys = ("mime_type", "filename", "voice", "animated")
    return body.get("caption"), {"media_id": body.get("id"), **{k: body.get(k) for k in keys}}


def _location(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    keys = ("latitude", "longitude", "name", "address", "url")
    return body.get("name") or body.get("address"), {k: body.get(k) for k in keys}


def _interactive(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    kind = str(body.get("type") or "")
    reply = body.get(kind) if isinstance(body.get(kind), dict) else {}
    meta = {"reply_kind": kind[:40], "reply_id": reply.get("id")}
    return reply.get("title"), {**meta, "description": reply.get("description")}


def _reaction(body: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    removed = None if body.get("emoji") else True  # Meta omits the emoji on a removal
    return body.get("emoji"), {"reacted_to": body.get("message_id"), "removed": removed}


_CONTENT: dict[str, Callable[[dict[str, Any]], tuple[Any, dict[str, Any]]]] = {
    "text": lambda body: (body.get("body"), {}),
    **dict.fromkeys(("image", "audio", "video", "document", "sticker"), _media),
    "location": _location,
    "interactive": _interactive,
    "button": lambda body: (body.get("text"), {"payload": body.get("payload")}),
    "reaction": _reaction,
    "unsupported": lambda body: (None, {"unsupported_type": body.get("type")}),
}
"""Text and meta of each message type from its type object; media is never downloaded."""


def _shared_contacts(cards: list[Any]) -> tuple[Any, dict[str, Any]]:
    """A ``contacts`` message: the shared cards' names as text, their phone numbers in meta."""
    cards = [card for card in cards if isinstance(card, dict)]
    names = [str((c.get("name") or {}).get("formatted_name") or "") for c in cards]
    phones = [
        str(p.get("phone")) for c in cards for p in c.get("phones") or [] if isinstance(p, dict)
    ]
    return ", ".join(n for n in names if n), {"contacts": len(cards), "phones": phones[:20]}


def _chat_message(message: dict[str, Any]) -> ChatMessage:
    """Type, text and meta of an incoming message; a reply keeps the replied-to id."""
    kind = str(message.get("type") or "unknown")[:40]
    body = message.get(kind)
    if kind == "contacts" and isinstance(body, list):
        text, meta = _shared_contacts(body)
    else:
        content = _CONTENT.get(kind, lambda body: (body.get("body"), {}))
        text, meta = content(body if isinstance(body, dict) else {})
    context = message.get("context")
    if isinstance(context, dict) and context.get("id"):
        meta["reply_to"] = context["id"]
    errors = message.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        meta["error_code"] = errors[0].get("code")
    meta = {key: value for key, value in meta.items() if value is not None}
    return ChatMessage(str(message["id"]), _TYPES.get(kind, kind), clip(text, MAX_TEXT_CHARS), meta)


def _message_events(raw: dict[str, Any], received_at: datetime) -> list[ChatEvent]:
    """The customer's message; keyed by the BSUID, else (older payloads) the phone number."""
    message, contact = raw["message"], raw.get("contact") or {}
    bsuid = _text(message.get("from_user_id")) or _text(contact.get("user_id"))
    wa_id = _text(message.get("from")) or _text(contact.get("wa_id"))
    user_id = bsuid or wa_id
    if user_id is None or not _text(message.get("id")) or message.get("type") in _IGNORED_TYPES:
        return []
    event = ChatEvent(
        user_id=user_id,
        customer_channel="whatsapp",
        at=_seconds(message.get("timestamp"), received_at),
        message=_chat_message(message),
        profile=_profile(contact, wa_id),
        former_user_ids=(wa_id,) if bsuid and wa_id else (),
    )
    return [event]


def _user_id_update_events(raw: dict[str, Any], received_at: datetime) -> list[ChatEvent]:
    """A new BSUID after a phone number change: the same customer, now known by the new one."""
    update, contact = raw["update"], raw.get("contact") or {}
    ids = update.get("user_id") if isinstance(update.get("user_id"), dict) else {}
    current, previous = _text(ids.get("current")), _text(ids.get("previous"))
    if current is None:
        return []
    wa_id = _text(update.get("wa_id")) or _text(contact.get("wa_id"))
    event = ChatEvent(
        user_id=current,
        customer_channel="whatsapp",
        at=_seconds(update.get("timestamp"), received_at),
        profile=_profile(contact, wa_id),
        former_user_ids=(previous,) if previous else (),
    )
    return [event]


class WhatsAppConnector(GraphConnector):
    """A WhatsApp Business phone number on the Cloud API (one channel per phone number id)."""

    platform = "whatsapp"
    labels = {"en": "WhatsApp", "th": "WhatsApp"}
    customer_channels = {"whatsapp": labels}
    renames_users = True  # a user's BSUID replaces the wa_id, and changes with the number
    secrets = (
        Secret(
            "access_token",
            "a system user access token with whatsapp_business_messaging (Meta Business "
            "settings > Users > System users)",
        ),
        APP_SECRET,
        VERIFY_TOKEN,
        Secret(
            "phone_number_id",
            "WhatsApp Manager > Phone numbers (or the app's WhatsApp > API Setup) > Phone "
            "number ID",
            pattern=r"[0-9]{1,20}",
            problem="the digits of the phone number ID",
            example="115826394017283",
        ),
    )
    access_token_secret = "access_token"  # noqa: S105 - a name, not a secret
    max_text_chars = MAX_SEND_CHARS

    def verify_request(self, body: bytes, headers: Mapping[str, str]) -> list[RawEvent]:
        """Check the HMAC-SHA256 of the raw body; one raw event per message and id change.

        Only changes for the channel's phone number are kept (a business's other numbers
        share the app's webhook). Statuses are receipts of the seller's own messages, not
        customers' events: not stored. Errors Meta reports are logged.
        """
        _, entries = self.signed_body(body, headers, (_OBJECT,))
        number = self.channel.secrets["phone_number_id"]
        events: list[RawEvent] = []
        for entry in entries:
            for change in _objects(entry, "changes"):
                value = change.get("value")
                if not isinstance(value, dict):
                    raise PayloadError("a change's value must be an object")
                metadata = value.get("metadata")
                if not isinstance(metadata, dict) or metadata.get("phone_number_id") != number:
                    continue  # another phone number of the business
                self._log_errors(value)
                events += _split(str(change.get("field")), value)
        return events

    def _log_errors(self, value: dict[str, Any]) -> None:
        failed = [s for s in _objects(value, "statuses") if s.get("status") == "failed"]
        errors = [*_objects(value, "errors"), *(e for s in failed for e in _objects(s, "errors"))]
        for error in errors:
            log.warning(
                "WhatsApp reports an error on channel %s: %s %s",
                self.channel.id,
                error.get("code"),
                str(error.get("title") or error.get("message"))[:200],
            )

    def parse(self, raw: dict[str, Any], received_at: datetime) -> list[ChatEvent]:
        """Customers' messages and BSUID changes; the customer's profile comes with them."""
        field = raw.get("field")
        if field == "messages" and isinstance(raw.get("message"), dict):
            return _message_events(raw, received_at)
        if field == "user_id_update" and isinstance(raw.get("update"), dict):
            return _user_id_update_events(raw, received_at)
        raise PayloadError("not a stored WhatsApp event")

    def command_text(self, raw: Mapping[str, Any]) -> ChatText | None:
        """The text of a customer's text message (WhatsApp chats with a business are 1:1)."""
        message, contact = raw.get("message"), raw.get("contact") or {}
        if raw.get("field") != "messages" or not isinstance(message, dict):
            return None
        body = message.get("text")
        if message.get("type") != "text" or not isinstance(body, dict):
            return None
        text = body.get("body")
        bsuid = _text(message.get("from_user_id")) or _text(contact.get("user_id"))
        wa_id = _text(message.get("from")) or _text(contact.get("wa_id"))
        user_id = bsuid or wa_id
        if user_id is None or not isinstance(text, str):
            return None
        profile = _profile(contact, wa_id) if isinstance(contact, dict) else None
        return ChatText(
            user_id=user_id,
            customer_channel="whatsapp",
            text=text[:MAX_TEXT_CHARS],
            at=_seconds(message.get("timestamp"), datetime.now(UTC)),
            name=profile.name if profile else None,
            recipient={"platform_user_id": user_id, "platform_phone": wa_id},
        )

    async def fetch_profile(self, event: ChatEvent) -> Profile:
        """WhatsApp has no profile API: the profile is the one that came with the event."""
        if event.profile is None:
            raise PlatformError("WhatsApp has no profile API; none came with the event")
        return event.profile

    async def send_text(self, customer: Mapping[str, Any], text: str) -> str:
        """A text message to the customer's phone number when known, else to the BSUID."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": "text",
            "text": {"body": text[:MAX_SEND_CHARS]},
        }
        for known in (customer.get("platform_phone"), customer["platform_user_id"]):
            if isinstance(known, str) and _PHONE.fullmatch(known):
                body["to"] = known
                break
        else:
            body["recipient"] = str(customer["platform_user_id"])
        path = f"{self.channel.secrets['phone_number_id']}/messages"
        data = await self.graph("POST", path, "WhatsApp send", body=body, sending=True)
        sent = data.get("messages")
        first = sent[0] if isinstance(sent, list) and sent and isinstance(sent[0], dict) else {}
        if not _text(first.get("id")):
            raise PlatformError("WhatsApp send: no message id in the answer")
        return str(first["id"])


def _split(field: str, value: dict[str, Any]) -> list[RawEvent]:
    """One raw event per message (key: its wamid) or per ``user_id_update`` item."""
    contacts = _objects(value, "contacts")
    base = {"object": _OBJECT, "field": field}
    events: list[RawEvent] = []
    if field == "messages":
        for message in _objects(value, "messages"):
            ids = (_text(message.get("from_user_id")), _text(message.get("from")))
            raw = {**base, "contact": _contact(contacts, *ids), "message": message}
            events.append(RawEvent(_text(message.get("id")) or digest(raw), raw))
    elif field == "user_id_update":
        for update in _objects(value, "user_id_update"):
            raw = {
                **base,
                "contact": _contact(contacts, None, _text(update.get("wa_id"))),
                "update": update,
            }
            events.append(RawEvent(digest(raw), raw))
    return events


CONNECTOR = WhatsAppConnector
