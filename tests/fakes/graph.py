"""Fake Meta Graph API (``https://graph.facebook.com``) for Messenger/Instagram tests.

There is no official Python SDK, so the app talks to it with aiohttp::

    async with FakeGraph(access_token="EAAG...") as fake:
        fake.add_profile("7304918273645512", "สมหญิง", "รักดี")
        url = f"{fake.base_url}/v23.0/7304918273645512"
        params = {"fields": "first_name,last_name,profile_pic", "access_token": "EAAG..."}
        async with session.get(url, params=params) as resp:
            assert (await resp.json())["first_name"] == "สมหญิง"

Shapes follow the Graph API docs: profile ``{first_name, last_name, profile_pic, id}``, Send API
``{"recipient_id", "message_id"}``, errors ``{"error": {"message", "type", "code",
"error_subcode"?, "fbtrace_id"}}`` (HTTP 400 for token and parameter errors).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from . import FakeServer, RecordedCall, recorded_call

__all__ = ["DEFAULT_PAGE_ACCESS_TOKEN", "DEFAULT_PAGE_ID", "FakeGraph"]

DEFAULT_PAGE_ACCESS_TOKEN = "EAAGtestPageAccessToken0000000000ZZZZ"
DEFAULT_PAGE_ID = "104857392018374"

_PATH = re.compile(r"^/(?:(?P<version>v\d+\.\d+)/)?(?P<node>[^/]+)(?:/(?P<edge>[^/]+))?/?$")

# status -> (code, type, message, is_transient) for fail_next()
_FAILURES: dict[int, tuple[int, str, str, bool]] = {
    400: (100, "OAuthException", "(#100) Invalid parameter", False),
    401: (190, "OAuthException", "Invalid OAuth access token - Cannot parse access token", False),
    403: (200, "OAuthException", "(#200) Permissions error", False),
    429: (4, "OAuthException", "(#4) Application request limit reached", True),
    500: (
        2,
        "OAuthException",
        "An unexpected error has occurred. Please retry your request later.",
        True,
    ),
    503: (2, "OAuthException", "Service temporarily unavailable", True),
}


def _fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(16)[:22]


def graph_error(
    status: int,
    message: str,
    code: int,
    *,
    type_: str = "OAuthException",
    error_subcode: int | None = None,
    is_transient: bool | None = None,
) -> web.Response:
    """Build a Graph-style ``{"error": {...}}`` answer."""
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if error_subcode is not None:
        error["error_subcode"] = error_subcode
    if is_transient is not None:
        error["is_transient"] = is_transient
    error["fbtrace_id"] = _fbtrace_id()
    return web.json_response({"error": error}, status=status)


class FakeGraph(FakeServer):
    """Fake Graph API: ``GET /{version}/{psid}`` profiles and ``POST /{version}/me/messages``.

    Constructor: ``FakeGraph(access_token=DEFAULT_PAGE_ACCESS_TOKEN, *, page_id=DEFAULT_PAGE_ID,
    page_name="ChatCRM Test Page", host="127.0.0.1", port=0)``. The token is read from the
    ``access_token`` query/body parameter or an ``Authorization: Bearer|OAuth`` header; a
    missing one gets code 104, a wrong one code 190 (both HTTP 400, ``OAuthException``). Fill
    ``profiles`` (or :meth:`add_profile`); accepted sends are appended to ``sent``. Recipients in
    ``unreachable`` get error 551, those in ``outside_window`` error 10/2018278.
    """

    def __init__(
        self,
        access_token: str = DEFAULT_PAGE_ACCESS_TOKEN,
        *,
        page_id: str = DEFAULT_PAGE_ID,
        page_name: str = "ChatCRM Test Page",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.access_token = access_token
        self.page_id = page_id
        self.page_name = page_name
        self.profiles: dict[str, dict[str, Any]] = {}
        self.unreachable: set[str] = set()
        self.outside_window: set[str] = set()
        self.sent: list[dict[str, Any]] = []

    def add_profile(
        self,
        psid: str,
        first_name: str,
        last_name: str = "",
        profile_pic: str | None = None,
    ) -> dict[str, Any]:
        """Register the profile returned for a page-scoped (or Instagram-scoped) user id."""
        profile = {
            "first_name": first_name,
            "last_name": last_name,
            "profile_pic": profile_pic
            or f"https://platform-lookaside.fbsbx.com/platform/profilepic/?psid={psid}&height=200",
        }
        self.profiles[psid] = profile
        return profile

    # ---------------------------------------------------------------- server
    def _setup_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._dispatch)

    def _failure_response(
        self,
        status: int,
        message: str | None = None,
        code: int | None = None,
        error_subcode: int | None = None,
        **_: Any,
    ) -> web.StreamResponse:
        default = _FAILURES.get(
            status, (1, "OAuthException", "An unknown error occurred", status >= 500)
        )
        return graph_error(
            status,
            message or default[2],
            code if code is not None else default[0],
            type_=default[1],
            error_subcode=error_subcode,
            is_transient=default[3],
        )

    @staticmethod
    def _body_params(request: web.Request, call: RecordedCall) -> dict[str, Any]:
        if isinstance(call.json, dict):
            return dict(call.json)
        if request.content_type == "application/x-www-form-urlencoded" and call.body:
            params: dict[str, Any] = {}
            for key, value in parse_qsl(call.body.decode("utf-8"), keep_blank_values=True):
                try:
                    params[key] = json.loads(value) if value[:1] in "{[" else value
                except ValueError:
                    params[key] = value
            return params
        return {}

    def _token_error(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        token = request.query.get("access_token") or body.get("access_token")
        if not token:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() in ("bearer", "oauth"):
                token = value.strip()
        if not token:
            return graph_error(400, "An access token is required to request this resource.", 104)
        if not secrets.compare_digest(str(token), self.access_token):
            return graph_error(400, "Invalid OAuth access token - Cannot parse access token", 190)
        return None

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        call: RecordedCall = recorded_call(request)
        body = self._body_params(request, call)
        call.params = {**request.query, **body}
        match = _PATH.match(request.path)
        if match is None:
            return graph_error(400, f"Unknown path components: {request.path}", 2500)
        if (denied := self._token_error(request, body)) is not None:
            return denied
        node, edge = match["node"], match["edge"]
        if request.method == "GET" and edge is None:
            return self._get_node(node, request.query.get("fields"))
        if request.method == "POST" and edge == "messages" and node in ("me", self.page_id):
            return self._send(body)
        verb = request.method.lower()
        return graph_error(
            400,
            f"Unsupported {verb} request. Object with ID '{node}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation. Please "
            "read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
            100,
            type_="GraphMethodException",
            error_subcode=33,
        )

    def _get_node(self, node: str, fields: str | None) -> web.Response:
        if node in ("me", self.page_id):
            data: dict[str, Any] = {"name": self.page_name, "id": self.page_id}
        elif node in self.profiles:
            profile = self.profiles[node]
            data = {**profile, "id": node}
            name = " ".join(p for p in (profile.get("first_name"), profile.get("last_name")) if p)
            data.setdefault("name", name)
        else:
            return graph_error(
                400,
                f"Unsupported get request. Object with ID '{node}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation. Please "
                "read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                100,
                type_="GraphMethodException",
                error_subcode=33,
            )
        wanted = [f.strip() for f in (fields or "name").split(",") if f.strip()]
        result = {f: data[f] for f in wanted if f in data}
        result["id"] = data["id"]
        return web.json_response(result)

    def _send(self, body: dict[str, Any]) -> web.Response:
        recipient = body.get("recipient")
        if not isinstance(recipient, dict) or not recipient.get("id"):
            return graph_error(400, "(#100) The parameter recipient is required", 100)
        if "message" not in body and "sender_action" not in body:
            return graph_error(400, "(#100) Must send either message or state", 100)
        psid = str(recipient["id"])
        if psid in self.unreachable:
            return graph_error(
                400, "(#551) This person isn't available right now.", 551, error_subcode=1545041
            )
        if psid in self.outside_window and "message" in body:
            return graph_error(
                400,
                "(#10) This message is sent outside of allowed window. Learn more about the new "
                "policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview",
                10,
                error_subcode=2018278,
            )
        result: dict[str, Any] = {"recipient_id": psid}
        if "message" in body:
            result["message_id"] = "m_" + secrets.token_urlsafe(66)
        self.sent.append({**body, "recipient_id": psid, "message_id": result.get("message_id")})
        return web.json_response(result)
