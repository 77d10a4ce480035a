"""Fake LINE Messaging API (the ``https://api.line.me`` part) for offline tests.

Point the real SDK at it::

    async with FakeLine(access_token="tok") as fake:
        fake.add_profile("U4af4980629...", "สมชาย")
        config = Configuration(access_token="tok", host=fake.base_url)
        async with AsyncApiClient(config) as client:
            profile = await AsyncMessagingApi(client).get_profile("U4af4980629...")

Shapes follow the Messaging API reference: profile ``{displayName, userId, pictureUrl,
statusMessage, language}``, reply/push ``{"sentMessages": [{"id", "quoteToken"}]}``, errors
``{"message", "details"?}``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import uuid
from typing import Any

from aiohttp import web

from . import FakeServer, recorded_call

__all__ = ["DEFAULT_ACCESS_TOKEN", "DEFAULT_BOT_USER_ID", "FakeLine"]

DEFAULT_ACCESS_TOKEN = "test-line-channel-access-token"
DEFAULT_BOT_USER_ID = "U1f0c8a2d3b4e5f60718293a4b5c6d7e8"

MSG_NO_AUTH_HEADER = (
    "Authorization header required. Must follow the scheme, 'Authorization: Bearer <ACCESS TOKEN>'"
)
MSG_AUTH_FAILED = (
    "Authentication failed. Confirm that the access token in the authorization header is valid."
)
MSG_NOT_FOUND = "Not found"
MSG_INVALID_REPLY_TOKEN = "Invalid reply token"
MSG_RETRY_KEY_ACCEPTED = "The retry key is already accepted"

_ERROR_MESSAGES = {
    400: "Bad request",
    401: MSG_AUTH_FAILED,
    403: "Access to this API is not available for your account",
    404: MSG_NOT_FOUND,
    409: MSG_RETRY_KEY_ACCEPTED,
    410: "Gone",
    413: "Request entity too large",
    429: "The API rate limit has been exceeded. Try again later.",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}

# Message types whose sent copy gets a quote token back (text and sticker are quotable).
_QUOTABLE = {"text", "textV2", "sticker", "image", "video"}
_TARGET_ID = re.compile(r"^[UCR][0-9a-f]{32}$")


def _error(status: int, message: str, details: list[dict[str, str]] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return web.json_response(body, status=status)


def _validation_error(*details: tuple[str, str]) -> web.Response:
    items = [{"message": m, "property": p} for p, m in details]
    return _error(400, f"The request body has {len(items)} error(s)", items)


class FakeLine(FakeServer):
    """Fake api.line.me: bot info, profiles, group/room member profiles, reply and push.

    Constructor: ``FakeLine(access_token=DEFAULT_ACCESS_TOKEN, *, bot_user_id=...,
    host="127.0.0.1", port=0)``. Every request must carry ``Authorization: Bearer
    <access_token>`` (401 otherwise). Fill ``profiles``, ``group_members`` and ``room_members``
    per test (or use :meth:`add_profile`); accepted sends are appended to ``sent``.
    """

    def __init__(
        self,
        access_token: str = DEFAULT_ACCESS_TOKEN,
        *,
        bot_user_id: str = DEFAULT_BOT_USER_ID,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.access_token = access_token
        self.bot_user_id = bot_user_id
        self.profiles: dict[str, dict[str, Any]] = {}
        self.group_members: dict[str, dict[str, dict[str, Any]]] = {}
        self.room_members: dict[str, dict[str, dict[str, Any]]] = {}
        self.bot_info: dict[str, Any] = {
            "userId": bot_user_id,
            "basicId": "@123abcde",
            "displayName": "ChatCRM Test OA",
            "pictureUrl": "https://profile.line-scdn.net/0hBotPictureTest",
            "chatMode": "bot",
            "markAsReadMode": "auto",
        }
        # Pushes/replies that LINE would refuse with 400 "Failed to send messages".
        self.unreachable: set[str] = set()
        # Reply tokens that are invalid from the start; used tokens are added automatically.
        self.invalid_reply_tokens: set[str] = set()
        self.used_reply_tokens: set[str] = set()
        self.sent: list[dict[str, Any]] = []
        self._accepted_retry_keys: dict[str, tuple[str, list[dict[str, str]]]] = {}
        self._message_ids = itertools.count(589_012_345_678_901_234)

    # ---------------------------------------------------------------- helpers for tests
    def add_profile(
        self,
        user_id: str,
        display_name: str,
        *,
        picture_url: str | None = None,
        status_message: str | None = None,
        language: str | None = None,
        group_id: str | None = None,
        room_id: str | None = None,
    ) -> dict[str, Any]:
        """Register a user profile (and optionally their membership of a group or room)."""
        profile: dict[str, Any] = {"displayName": display_name, "userId": user_id}
        if picture_url is not None:
            profile["pictureUrl"] = picture_url
        if status_message is not None:
            profile["statusMessage"] = status_message
        if language is not None:
            profile["language"] = language
        self.profiles[user_id] = profile
        member = {k: v for k, v in profile.items() if k in ("displayName", "userId", "pictureUrl")}
        if group_id is not None:
            self.group_members.setdefault(group_id, {})[user_id] = dict(member)
        if room_id is not None:
            self.room_members.setdefault(room_id, {})[user_id] = dict(member)
        return profile

    def pushed(self) -> list[dict[str, Any]]:
        """Return the accepted push requests (``to``, ``messages``, ``retryKey``, ...)."""
        return [s for s in self.sent if s["kind"] == "push"]

    def replied(self) -> list[dict[str, Any]]:
        """Return the accepted reply requests (``replyToken``, ``messages``, ...)."""
        return [s for s in self.sent if s["kind"] == "reply"]

    # ---------------------------------------------------------------- server
    def _setup_routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/bot/info", self._bot_info)
        app.router.add_get("/v2/bot/profile/{user_id}", self._profile)
        app.router.add_get("/v2/bot/group/{group_id}/member/{user_id}", self._group_member)
        app.router.add_get("/v2/bot/room/{room_id}/member/{user_id}", self._room_member)
        app.router.add_post("/v2/bot/message/reply", self._reply)
        app.router.add_post("/v2/bot/message/push", self._push)
        app.router.add_route("*", "/{tail:.*}", self._not_found)

    def _finalize(self, response: web.StreamResponse) -> None:
        response.headers.setdefault("x-line-request-id", str(uuid.uuid4()))

    def _failure_response(
        self, status: int, message: str | None = None, **_: Any
    ) -> web.StreamResponse:
        return _error(status, message or _ERROR_MESSAGES.get(status, "Error"))

    def _check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not token:
            return _error(401, MSG_NO_AUTH_HEADER)
        if not secrets.compare_digest(token.strip(), self.access_token):
            return _error(401, MSG_AUTH_FAILED)
        return None

    def _next_sent(self, message: dict[str, Any]) -> dict[str, str]:
        sent = {"id": str(next(self._message_ids))}
        if message.get("type") in _QUOTABLE:
            sent["quoteToken"] = secrets.token_urlsafe(48)
        return sent

    async def _not_found(self, request: web.Request) -> web.StreamResponse:
        return self._check_auth(request) or _error(404, MSG_NOT_FOUND)

    async def _bot_info(self, request: web.Request) -> web.StreamResponse:
        return self._check_auth(request) or web.json_response(self.bot_info)

    async def _profile(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        user_id = request.match_info["user_id"]
        profile = self.profiles.get(user_id)
        if profile is None:
            return _error(404, MSG_NOT_FOUND)
        return web.json_response({"userId": user_id, **profile})

    async def _member(
        self, request: web.Request, members: dict[str, dict[str, dict[str, Any]]], key: str
    ) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        user_id = request.match_info["user_id"]
        profile = members.get(request.match_info[key], {}).get(user_id)
        if profile is None:
            return _error(404, MSG_NOT_FOUND)
        return web.json_response({"userId": user_id, **profile})

    async def _group_member(self, request: web.Request) -> web.StreamResponse:
        return await self._member(request, self.group_members, "group_id")

    async def _room_member(self, request: web.Request) -> web.StreamResponse:
        return await self._member(request, self.room_members, "room_id")

    def _messages_error(self, body: dict[str, Any]) -> web.Response | None:
        messages = body.get("messages")
        if messages is None:
            return _validation_error(("messages", "must be specified"))
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            return _validation_error(("messages", "Size must be between 1 and 5"))
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or "type" not in message:
                return _validation_error((f"messages[{i}].type", "must be specified"))
            if message["type"] == "text" and not message.get("text"):
                return _validation_error((f"messages[{i}].text", "must be specified"))
        return None

    async def _json_body(self, request: web.Request) -> dict[str, Any] | web.Response:
        body = recorded_call(request).json
        if not isinstance(body, dict):
            return _error(400, "The request body could not be parsed as JSON")
        return body

    async def _reply(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        token = body.get("replyToken")
        if not token:
            return _validation_error(("replyToken", "must be specified"))
        if (invalid := self._messages_error(body)) is not None:
            return invalid
        if token in self.used_reply_tokens or token in self.invalid_reply_tokens:
            return _error(400, MSG_INVALID_REPLY_TOKEN)
        self.used_reply_tokens.add(token)
        sent_messages = [self._next_sent(m) for m in body["messages"]]
        self.sent.append(
            {
                "kind": "reply",
                "replyToken": token,
                "messages": body["messages"],
                "notificationDisabled": body.get("notificationDisabled", False),
                "sentMessages": sent_messages,
            }
        )
        return web.json_response({"sentMessages": sent_messages})

    async def _push(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._check_auth(request)) is not None:
            return denied
        retry_key = request.headers.get("X-Line-Retry-Key")
        if retry_key and retry_key in self._accepted_retry_keys:
            request_id, sent_messages = self._accepted_retry_keys[retry_key]
            response = web.json_response(
                {"message": MSG_RETRY_KEY_ACCEPTED, "sentMessages": sent_messages}, status=409
            )
            response.headers["x-line-accepted-request-id"] = request_id
            return response
        body = await self._json_body(request)
        if isinstance(body, web.Response):
            return body
        to = body.get("to")
        if not to:
            return _validation_error(("to", "must be specified"))
        if (invalid := self._messages_error(body)) is not None:
            return invalid
        if not isinstance(to, str) or not _TARGET_ID.match(to):
            return _error(
                400, "The property, 'to', in the request body is invalid (line: -, column: -)"
            )
        if to in self.unreachable:
            return _error(400, "Failed to send messages")
        sent_messages = [self._next_sent(m) for m in body["messages"]]
        request_id = str(uuid.uuid4())
        if retry_key:
            self._accepted_retry_keys[retry_key] = (request_id, sent_messages)
        self.sent.append(
            {
                "kind": "push",
                "to": to,
                "messages": body["messages"],
                "notificationDisabled": body.get("notificationDisabled", False),
                "retryKey": retry_key,
                "sentMessages": sent_messages,
            }
        )
        response = web.json_response({"sentMessages": sent_messages})
        response.headers["x-line-request-id"] = request_id
        return response
