"""Fake WhatsApp Cloud API (Graph API ``/{version}/{phone_number_id}/messages``) for tests::

    async with FakeWhatsApp(access_token="EAAG...", phone_number_id="115826394017283") as fake:
        url = f"{fake.base_url}/v21.0/115826394017283/messages"
        body = {"messaging_product": "whatsapp", "to": "66891234567", "type": "text",
                "text": {"body": "สวัสดีค่ะ"}}
        async with session.post(url, json=body, headers={"Authorization": "Bearer EAAG..."}):
            ...

Shapes follow Meta's Cloud API reference: a send answers ``{"messaging_product": "whatsapp",
"contacts": [{"input", "wa_id" | "user_id"}], "messages": [{"id": "wamid..."}]}``; ``to`` (a
phone number) wins over ``recipient`` (a BSUID); errors are Graph errors with ``error_data``
(HTTP 400), e.g. 131047 outside the 24-hour customer service window. Every other path is served
by `FakeGraph`, with the same token check.
"""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from aiohttp import web

from tests.fakes import recorded_call
from tests.fakes.graph import FakeGraph

__all__ = ["DEFAULT_PHONE_NUMBER_ID", "FakeWhatsApp"]

DEFAULT_PHONE_NUMBER_ID = "115826394017283"
MAX_TEXT_BODY = 4096

_MESSAGES = re.compile(r"^/v\d+\.\d+/(?P<number>[0-9]+)/messages/?$")


def whatsapp_error(code: int, message: str, details: str) -> web.Response:
    """A Cloud API error: a Graph error with ``error_data.details`` (HTTP 400)."""
    error = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "A" + secrets.token_urlsafe(16)[:22],
    }
    return web.json_response({"error": error}, status=400)


def _wamid() -> str:
    return "wamid." + base64.b64encode(b"HBgL" + secrets.token_bytes(30)).decode()


class FakeWhatsApp(FakeGraph):
    """`FakeGraph` that also serves ``POST /{version}/{phone_number_id}/messages``.

    Accepted sends are appended to ``sent`` (the request body plus ``message_id``). Numbers or
    BSUIDs in ``outside_window`` get error 131047 (more than 24 hours since the customer's
    last message); those in ``not_on_whatsapp`` error 131026.
    """

    def __init__(
        self,
        access_token: str,
        *,
        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(access_token, host=host, port=port)
        self.phone_number_id = phone_number_id
        self.not_on_whatsapp: set[str] = set()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        match = _MESSAGES.match(request.path)
        if request.method != "POST" or match is None or match["number"] != self.phone_number_id:
            return await super()._dispatch(request)
        call = recorded_call(request)
        body = self._body_params(request, call)
        call.params = {**request.query, **body}
        if (denied := self._token_error(request, body)) is not None:
            return denied
        return self._send_message(body)

    def _send_message(self, body: dict[str, Any]) -> web.Response:
        if body.get("messaging_product") != "whatsapp":
            return whatsapp_error(100, "Invalid parameter", "messaging_product is required")
        to, recipient = body.get("to"), body.get("recipient")
        target = str(to or recipient or "")
        if not target:
            return whatsapp_error(100, "Invalid parameter", "to or recipient is required")
        text = body.get("text") if isinstance(body.get("text"), dict) else {}
        if body.get("type") != "text" or not isinstance(text.get("body"), str):
            return whatsapp_error(100, "Invalid parameter", "text.body is required")
        if len(text["body"]) > MAX_TEXT_BODY:
            return whatsapp_error(
                100, "Invalid parameter", f"text.body is at most {MAX_TEXT_BODY} characters"
            )
        if target in self.not_on_whatsapp:
            return whatsapp_error(131026, "Message undeliverable", "Unable to deliver message")
        if target in self.outside_window:
            return whatsapp_error(
                131047,
                "Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number.",
            )
        message_id = _wamid()
        self.sent.append({**body, "message_id": message_id})
        contact = {"input": target, "wa_id" if to else "user_id": target}
        return web.json_response(
            {
                "messaging_product": "whatsapp",
                "contacts": [contact],
                "messages": [{"id": message_id}],
            }
        )
