"""Meta Messenger / Instagram messaging connector: app-secret signature, Graph API over aiohttp."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chatcrm.store.base import Doc
from chatcrm.store.inbox import RawEvent
from connectors.base import (
    MAX_TEXT_CHARS,
    NETWORK_ERRORS,
    ChatEvent,
    ChatMessage,
    Connector,
    PayloadError,
    PlatformError,
    Profile,
    SignatureError,
    clip,
    digest,
    from_millis,
    json_object,
)

_OBJECTS = {"page": "messenger", "instagram": "instagram"}
_PROFILE_FIELDS = {"messenger": "first_name,last_name,profile_pic", "instagram": "name,profile_pic"}


def _attachment_message(mid: str, message: dict[str, Any]) -> ChatMessage:
    attachments = [a for a in message.get("attachments") or [] if isinstance(a, dict)]
    first = attachments[0] if attachments else {}
    payload = first.get("payload") if isinstance(first.get("payload"), dict) else {}
    kind = "sticker" if payload.get("sticker_id") else str(first.get("type") or "text")[:40]
    meta: dict[str, Any] = {"attachments": len(attachments)} if attachments else {}
    if isinstance(payload.get("url"), str):
        meta["url"] = payload["url"][:1000]
    return ChatMessage(mid, kind, clip(message.get("text"), MAX_TEXT_CHARS), meta)


class MessengerConnector(Connector):
    """A Facebook page (and its Instagram account): `X-Hub-Signature-256` with the app secret."""

    platform = "messenger"

    def _graph_url(self, path: str) -> str:
        base = self.settings.graph_api_base_url
        return f"{base}/{self.settings.graph_api_version}/{path}"

    def _auth(self) -> dict[str, str]:
        # the token goes in a header, never in a URL that could end up in a log
        return {"Authorization": f"Bearer {self.channel.secrets['page_access_token']}"}

    def verify_subscription(self, mode: str, token: str) -> bool:
        """True for Meta's ``hub.mode=subscribe`` handshake carrying the channel's verify token."""
        expected = self.channel.secrets["verify_token"].encode()
        return mode == "subscribe" and hmac.compare_digest(token.encode(), expected)

    def verify_request(self, body: bytes, headers: Mapping[str, str]) -> list[RawEvent]:
        """Check the HMAC-SHA256 of the raw body; one raw event per ``entry[].messaging[]``."""
        header = headers.get("X-Hub-Signature-256", "")
        secret = self.channel.secrets["app_secret"].encode()
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not header or not hmac.compare_digest(header.encode(), expected.encode()):
            raise SignatureError("missing or wrong X-Hub-Signature-256")
        data = json_object(body)
        obj = data.get("object")
        entries = data.get("entry")
        if obj not in _OBJECTS or not isinstance(entries, list):
            raise PayloadError("expected object page or instagram with an entry list")
        events = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("messaging", []), list):
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

    async def fetch_profile(self, event: ChatEvent) -> Profile:
        """Graph user profile of a page-scoped (or Instagram-scoped) id."""
        fields = _PROFILE_FIELDS[event.customer_channel]
        url = self._graph_url(event.user_id)
        try:
            async with self.http.get(url, params={"fields": fields}, headers=self._auth()) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (*NETWORK_ERRORS, ValueError) as err:
            raise PlatformError(f"Graph profile: {err}") from err
        if status != 200 or not isinstance(data, dict):
            raise PlatformError(f"Graph profile: HTTP {status}", status=status)
        name = data.get("name") or " ".join(
            str(data[k]) for k in ("first_name", "last_name") if data.get(k)
        )
        return Profile(clip(name), clip(data.get("profile_pic"), 1000))

    async def send_text(self, customer: Doc, text: str) -> str:
        """Send API: a RESPONSE text message to the customer."""
        body = {
            "recipient": {"id": customer["platform_user_id"]},
            "messaging_type": "RESPONSE",
            "message": {"text": text[:2000]},
        }
        try:
            async with self.http.post(
                self._graph_url("me/messages"), json=body, headers=self._auth()
            ) as resp:
                data = await resp.json(content_type=None)
                status = resp.status
        except (*NETWORK_ERRORS, ValueError) as err:
            raise PlatformError(f"Graph send: {err}") from err
        if status != 200 or not isinstance(data, dict) or "message_id" not in data:
            raise PlatformError(f"Graph send: HTTP {status}", status=status)
        return str(data["message_id"])
