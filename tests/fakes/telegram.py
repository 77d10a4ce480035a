"""Fake Telegram Bot API (``https://api.telegram.org/bot<token>/<method>``) for offline tests.

Point python-telegram-bot at it::

    async with FakeTelegram() as fake:
        bot = telegram.Bot(fake.token, base_url=fake.api_base_url)   # ".../bot"
        async with bot:                                               # calls getMe
            await bot.send_message(chat_id=5123456789, text="สวัสดี")
        assert fake.calls_for("sendMessage")[0]["text"] == "สวัสดี"

PTB 22 builds ``base_url + token + "/" + method`` and POSTs ``application/x-www-form-urlencoded``
where strings are sent as-is and every other value JSON-encoded (``RequestData.json_parameters``);
multipart is used only when a file is uploaded. JSON bodies and GET query strings are accepted too,
as the real Bot API does. Answers are ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": N, "description": "..."}``.
"""

from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from . import FakeServer, RecordedCall, recorded_call

__all__ = ["DEFAULT_BOT_TOKEN", "FakeTelegram"]

DEFAULT_BOT_TOKEN = "7012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"

_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_INT = re.compile(r"^-?\d+$")
# Parameters Telegram treats as plain strings: never JSON-decode them ("123" stays "123").
_STRING_PARAMS = {
    "text",
    "caption",
    "url",
    "secret_token",
    "parse_mode",
    "ip_address",
    "callback_query_id",
    "business_connection_id",
    "message_effect_id",
    "certificate",
    "sticker",
    "photo",
    "document",
}
_ERROR_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
    "is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

Handler = Callable[[dict[str, Any]], Awaitable[web.Response]]


def _ok(result: Any, description: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        body["description"] = description
    return web.json_response(body)


def _fail(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def _decode_value(name: str, value: str) -> Any:
    """Undo PTB's form encoding: strings travel raw, everything else JSON-encoded."""
    if name == "chat_id" or name.endswith("_chat_id"):
        return int(value) if _INT.match(value) else value
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    params: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None:
            params[str(name)] = {"filename": filename, "size": len(payload), "content": payload}
        else:
            params[str(name)] = _decode_value(str(name), payload.decode("utf-8"))
    return params


class FakeTelegram(FakeServer):
    """Fake Bot API: getMe, sendMessage, sendDocument, setWebhook, deleteWebhook, getWebhookInfo.

    Constructor: ``FakeTelegram(token=DEFAULT_BOT_TOKEN, *, username="chatcrm_demo_bot",
    first_name="ChatCRM Bot", host="127.0.0.1", port=0)``. Requests for any other token get
    401 Unauthorized. ``calls_for(method)`` gives the decoded arguments of each call;
    ``sent_messages`` holds the Message objects returned by sendMessage and sendDocument (an
    uploaded file as ``{"filename", "size", "content"}`` in ``calls_for``). Put chat ids in
    ``blocked_chats`` (403 "bot was blocked by the user") or ``missing_chats`` (400 "chat not
    found"); set ``chats[id]`` to control the Chat object echoed back.
    """

    def __init__(
        self,
        token: str = DEFAULT_BOT_TOKEN,
        *,
        username: str = "chatcrm_demo_bot",
        first_name: str = "ChatCRM Bot",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.token = token
        bot_id = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(bot_id) if bot_id.isdigit() else 7012345678,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        self.chats: dict[int | str, dict[str, Any]] = {}
        self.blocked_chats: set[int | str] = set()
        self.missing_chats: set[int | str] = set()
        self.sent_messages: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self._message_ids = itertools.count(1001)
        self._methods: dict[str, Handler] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "senddocument": self._send_document,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
        }

    @property
    def api_base_url(self) -> str:
        """Return the value for ``telegram.Bot(token, base_url=...)``: ``<base_url>/bot``."""
        return f"{self.base_url}/bot"

    def calls_for(self, method: str) -> list[dict[str, Any]]:
        """Return the decoded arguments of every call to Bot API ``method`` (case-insensitive)."""
        wanted = method.lower()
        return [
            c.params or {}
            for c in self.calls
            if c.path.rsplit("/", 1)[-1].lower() == wanted and c.path.startswith("/bot")
        ]

    # ---------------------------------------------------------------- server
    def _setup_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._dispatch)

    def _failure_response(
        self,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        **_: Any,
    ) -> web.StreamResponse:
        if status == 429 and retry_after is None:
            retry_after = 5
        text = description or _ERROR_DESCRIPTIONS.get(status, "Error")
        text = text.format(retry_after=retry_after)
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        return _fail(status, text, parameters)

    def _params(self, request: web.Request, call: RecordedCall) -> dict[str, Any]:
        params: dict[str, Any] = {k: _decode_value(k, v) for k, v in request.query.items()}
        ctype = request.content_type
        if call.json is not None and isinstance(call.json, dict):
            params.update(call.json)
        elif ctype == "application/x-www-form-urlencoded" and call.body:
            charset = request.charset or "utf-8"
            form = parse_qsl(call.body.decode(charset), keep_blank_values=True)
            params.update({k: _decode_value(k, v) for k, v in form})
        elif ctype.startswith("multipart/") and call.body:
            params.update(_parse_multipart(call.body, request.headers["Content-Type"]))
        return params

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        call: RecordedCall = recorded_call(request)
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)/?", request.path)
        if match is None:
            return _fail(404, "Not Found")
        token, method = match.groups()
        if token != self.token:
            return _fail(401, "Unauthorized")
        params = self._params(request, call)
        call.params = params
        handler = self._methods.get(method.lower())
        if handler is None:
            return _fail(404, "Not Found")
        return await handler(params)

    # ---------------------------------------------------------------- methods
    async def _get_me(self, params: dict[str, Any]) -> web.Response:
        return _ok(dict(self.bot_user))

    def _chat(self, chat_id: int | str) -> dict[str, Any]:
        if chat_id in self.chats:
            return dict(self.chats[chat_id])
        if isinstance(chat_id, str):
            return {
                "id": -1001000000001,
                "title": chat_id.lstrip("@"),
                "type": "channel",
                "username": chat_id.lstrip("@"),
            }
        if chat_id > 0:
            return {"id": chat_id, "first_name": "User", "type": "private"}
        if str(chat_id).startswith("-100"):
            return {"id": chat_id, "title": "Group", "type": "supergroup"}
        return {"id": chat_id, "title": "Group", "type": "group"}

    async def _send_message(self, params: dict[str, Any]) -> web.Response:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            return _fail(400, "Bad Request: chat_id is empty")
        text = params.get("text")
        if text is None or str(text).strip() == "":
            return _fail(400, "Bad Request: message text is empty")
        if len(str(text)) > 4096:
            return _fail(400, "Bad Request: message is too long")
        if chat_id in self.missing_chats:
            return _fail(400, "Bad Request: chat not found")
        if chat_id in self.blocked_chats:
            return _fail(403, "Forbidden: bot was blocked by the user")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": str(text),
        }
        if isinstance(params.get("entities"), list):
            message["entities"] = params["entities"]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self.sent_messages.append(message)
        return _ok(message)

    async def _send_document(self, params: dict[str, Any]) -> web.Response:
        chat_id = params.get("chat_id")
        document = params.get("document")
        if chat_id in (None, ""):
            return _fail(400, "Bad Request: chat_id is empty")
        if not isinstance(document, dict) or not document.get("size"):
            return _fail(400, "Bad Request: there is no document in the request")
        if len(str(params.get("caption") or "")) > 1024:
            return _fail(400, "Bad Request: message caption is too long")
        if chat_id in self.blocked_chats:
            return _fail(403, "Forbidden: bot was blocked by the user")
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "document": {
                "file_id": f"BQACAgIAAxkBAAI{next(self._message_ids)}",
                "file_unique_id": f"AgAD{len(self.sent_messages)}",
                "file_name": document["filename"],
                "file_size": document["size"],
            },
        }
        if params.get("caption"):
            message["caption"] = str(params["caption"])
        self.sent_messages.append(message)
        return _ok(message)

    async def _set_webhook(self, params: dict[str, Any]) -> web.Response:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params)
        if not url.startswith("https://"):
            return _fail(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.match(str(secret)):
            return _fail(400, "Bad Request: secret token contains unallowed characters")
        already = self.webhook.get("url") == url
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": int(params.get("max_connections") or 40),
            "allowed_updates": params.get("allowed_updates"),
            "drop_pending_updates": bool(params.get("drop_pending_updates", False)),
            "ip_address": params.get("ip_address"),
            "has_custom_certificate": "certificate" in params,
        }
        return _ok(True, "Webhook is already set" if already else "Webhook was set")

    async def _delete_webhook(self, params: dict[str, Any]) -> web.Response:
        had = bool(self.webhook.get("url"))
        self.webhook = {}
        return _ok(True, "Webhook was deleted" if had else "Webhook is already deleted")

    async def _get_webhook_info(self, params: dict[str, Any]) -> web.Response:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": bool(self.webhook.get("has_custom_certificate", False)),
            "pending_update_count": 0,
        }
        if info["url"]:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook.get("ip_address"):
                info["ip_address"] = self.webhook["ip_address"]
            if self.webhook.get("allowed_updates") is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return _ok(info)
