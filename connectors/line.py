"""LINE Messaging API connector (line-bot-sdk v3): signature, events, profiles, push."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from linebot.v3 import SignatureValidator
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)

from chatcrm.domain import RawEvent
from connectors.base import (
    EDIT,
    MAX_TEXT_CHARS,
    NETWORK_ERRORS,
    UNSEND,
    ChatEvent,
    ChatMessage,
    ChatText,
    Connector,
    PayloadError,
    PlatformError,
    Profile,
    Secret,
    SignatureError,
    clip,
    digest,
    from_millis,
    json_object,
)

log = logging.getLogger(__name__)

_STATUS = {"follow": "following", "unfollow": "unfollowed"}
_MEDIA_META = {
    "image": ("contentProvider",),
    "video": ("duration", "contentProvider"),
    "audio": ("duration", "contentProvider"),
    "file": ("fileName", "fileSize"),
    "location": ("title", "address", "latitude", "longitude"),
    "sticker": ("packageId", "stickerId", "stickerResourceType"),
}


def _meta(message: dict[str, Any]) -> dict[str, Any]:
    meta = {}
    for key in _MEDIA_META.get(str(message.get("type")), ()):
        value = message.get(key)
        if isinstance(value, dict):  # contentProvider: {"type": "line"}
            value = value.get("type")
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            meta[key] = value if not isinstance(value, str) else value[:500]
    return meta


def _message(content: Any, change: str | None) -> ChatMessage:
    """A LINE ``message`` object (of a message event, or the new state of an edited one)."""
    if not isinstance(content, dict) or not content.get("id"):
        raise PayloadError("a LINE message event without message.id")
    return ChatMessage(
        platform_message_id=str(content["id"]),
        type=str(content.get("type") or "unknown")[:40],
        text=clip(content.get("text"), MAX_TEXT_CHARS),
        meta=_meta(content),
        change=change,
    )


class LineConnector(Connector):
    """A LINE Official Account: `X-Line-Signature` checked with the SDK's SignatureValidator."""

    platform = "line"
    labels = {"en": "LINE", "th": "LINE"}
    customer_channels = {"line": labels}
    secrets = (
        Secret("channel_secret", "LINE Developers console > Basic settings > Channel secret"),
        Secret("access_token", "Messaging API > Channel access token (long-lived)"),
    )
    signature = "X-Line-Signature"
    max_text_chars = MAX_TEXT_CHARS
    texts_per_send = 5
    _client: AsyncApiClient | None = None

    def _api(self) -> AsyncMessagingApi:
        if self._client is None:
            host = self.settings.line_api_base_url
            config = Configuration(access_token=self.channel.secrets["access_token"], host=host)
            config.proxy = _proxy_for(host)
            self._client = AsyncApiClient(config)
            # The SDK's session trusts the environment: aiohttp then reads ~/.netrc and the
            # proxy variables in a thread on every call, and a netrc entry for the API host
            # adds basic auth beside the bearer token (every call refused). The proxy is
            # resolved once above instead; the session object itself has no public setter.
            self._client.rest_client.pool_manager._trust_env = False
        return AsyncMessagingApi(self._client)

    def verify_request(self, body: bytes, headers: Mapping[str, str]) -> list[RawEvent]:
        """Verify the signature over the raw body, then one raw event per `events` item."""
        signature = headers.get("X-Line-Signature", "")
        if not signature:
            raise SignatureError("missing X-Line-Signature")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SignatureError("the body is not UTF-8, so it cannot be LINE's") from None
        validator = SignatureValidator(self.channel.secrets["channel_secret"])
        if not validator.validate(text, signature):
            raise SignatureError("X-Line-Signature does not match the body")
        events = json_object(body).get("events")
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise PayloadError("events must be a list of objects")
        return [RawEvent(str(e.get("webhookEventId") or digest(e)), e) for e in events]

    def parse(self, raw: dict[str, Any], received_at: datetime) -> list[ChatEvent]:
        """A LINE webhook event: message, its edit or withdrawal (``messageEdited``,
        ``unsend``), follow, unfollow, postback; others are ignored."""
        source = raw.get("source")
        kind = raw.get("type")
        if not isinstance(source, dict) or not source.get("userId"):
            return []  # e.g. a group event without a speaking user
        conversation_type = str(source.get("type") or "user")
        conversation_id = source.get("groupId") or source.get("roomId")
        at = from_millis(raw.get("timestamp"), received_at)
        message: ChatMessage | None = None
        if kind in ("message", "messageEdited"):
            message = _message(raw.get("message"), EDIT if kind == "messageEdited" else None)
        elif kind == "unsend":
            unsend = raw.get("unsend")
            if not isinstance(unsend, dict) or not unsend.get("messageId"):
                raise PayloadError("a LINE unsend event without unsend.messageId")
            message = ChatMessage(str(unsend["messageId"]), "unsent", None, change=UNSEND)
        elif kind == "postback":
            postback = raw.get("postback") or {}
            message = ChatMessage(
                platform_message_id=str(raw.get("webhookEventId") or digest(raw)),
                type="postback",
                text=clip(postback.get("data"), MAX_TEXT_CHARS),
            )
        elif kind not in _STATUS:
            return []
        return [
            ChatEvent(
                user_id=str(source["userId"]),
                customer_channel="line",
                at=at,
                status=_STATUS.get(str(kind)) if conversation_type == "user" else None,
                message=message,
                conversation_type=conversation_type,
                conversation_id=str(conversation_id) if conversation_id else None,
            )
        ]

    def command_text(self, raw: Mapping[str, Any]) -> ChatText | None:
        """A text message of a user's one-to-one chat in active mode (standby is never answered)."""
        source = raw.get("source")
        message = raw.get("message")
        if raw.get("type") != "message" or raw.get("mode", "active") != "active":
            return None
        if not isinstance(source, dict) or source.get("type") != "user":
            return None
        if not isinstance(message, dict) or message.get("type") != "text":
            return None
        user_id, text, token = source.get("userId"), message.get("text"), raw.get("replyToken")
        if not isinstance(user_id, str) or not user_id or not isinstance(text, str):
            return None
        return ChatText(
            user_id=user_id,
            customer_channel="line",
            text=text[:MAX_TEXT_CHARS],
            at=from_millis(raw.get("timestamp"), datetime.now(UTC)),
            reply_token=token if isinstance(token, str) and token else None,
            recipient={"platform_user_id": user_id},
        )

    async def reply(self, to: ChatText, texts: Sequence[str]) -> None:
        """The reply API with the event's reply token; push when LINE refuses the reply.

        LINE refuses a reply token that expired or was used. A reply that fails without an
        answer from LINE (network) is not pushed again: it may have arrived.
        """
        messages = [TextMessage(text=text) for text in texts]
        if to.reply_token:
            request = ReplyMessageRequest(reply_token=to.reply_token, messages=messages)
            try:
                await self._api().reply_message(request)
                return
            except ApiException as err:
                log.info("LINE reply refused (HTTP %s): pushing instead", err.status)
            except NETWORK_ERRORS as err:
                raise PlatformError(f"LINE reply: {err}") from err
        await self._push(to.user_id, messages)

    async def _push(self, user_id: str, messages: list[TextMessage]) -> str:
        """Push `messages` to a user; the id of the first message sent."""
        try:
            response = await self._api().push_message(
                PushMessageRequest(to=user_id, messages=messages)
            )
        except ApiException as err:
            raise PlatformError(f"LINE push: HTTP {err.status}", status=err.status) from err
        except NETWORK_ERRORS as err:
            raise PlatformError(f"LINE push: {err}") from err
        return str(response.sent_messages[0].id)

    async def fetch_profile(self, event: ChatEvent) -> Profile:
        """Get Profile, or the group/room member profile for a speaker in a group or room."""
        api = self._api()
        try:
            if event.conversation_type == "group" and event.conversation_id:
                profile: Any = await api.get_group_member_profile(
                    event.conversation_id, event.user_id
                )
            elif event.conversation_type == "room" and event.conversation_id:
                profile = await api.get_room_member_profile(event.conversation_id, event.user_id)
            else:
                profile = await api.get_profile(event.user_id)
        except ApiException as err:
            raise PlatformError(f"LINE profile: HTTP {err.status}", status=err.status) from err
        except NETWORK_ERRORS as err:
            raise PlatformError(f"LINE profile: {err}") from err
        return Profile(clip(profile.display_name), clip(profile.picture_url, 1000))

    async def send_text(self, customer: Mapping[str, Any], text: str) -> str:
        """Push a text message to the customer."""
        messages = [TextMessage(text=text[:MAX_TEXT_CHARS])]
        return await self._push(customer["platform_user_id"], messages)

    async def close(self) -> None:
        """Close the SDK's HTTP client."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for `url` (read once per client), None when bypassed."""
    parts = urlsplit(url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme)


CONNECTOR = LineConnector
