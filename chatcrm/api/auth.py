"""Dashboard sign-in over the JSON API: sessions, invitations, password resets.

The session lives in an HttpOnly cookie; the page keeps only the session's CSRF token, which
every unsafe request made with the cookie sends as ``X-CSRF-Token`` (`chatcrm.http`). The
routes that open a session take JSON only: a cross-site form cannot send it, and a cross-site
script would need a CORS preflight, which this service never grants.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from chatcrm import auth
from chatcrm.api.spec import BEARER, error_responses, json_content, ref
from chatcrm.demo import DEMO_SHOP_ID
from chatcrm.domain import DomainError
from chatcrm.http import (
    SESSION_COOKIE,
    ApiError,
    caller_shop,
    json_body,
    json_response,
    require_csrf,
)
from chatcrm.input_rules import normalise_email
from chatcrm.keys import DATABASE, LINK_SENDER, SETTINGS
from chatcrm.store import Store
from chatcrm.store.users import ms_to_datetime

routes = web.RouteTableDef()

RESET_REQUEST_LIMIT = 5
"""Password-reset e-mails a client address may ask for per attempt window."""


def _store(request: web.Request) -> Store:
    return request.app[DATABASE].store


async def _public_body(request: web.Request) -> dict[str, Any]:
    """The JSON body of a route that needs no session (415 for any other content type)."""
    if request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    return await json_body(request)


def _text(body: dict[str, Any], name: str, max_length: int = 1024) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise ApiError(422, "invalid", f"{name} is required (text)", name)
    return value


def _secure(request: web.Request) -> bool:
    """Whether the browser reached the service over https: the connection itself, the public
    URL, or a proxy's X-Forwarded-Proto (trusting it can only make the cookie stricter)."""
    public_url = request.app[SETTINGS].public_url or ""
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or public_url.startswith("https:") or forwarded == "https"


def client_address(request: web.Request) -> str:
    """The client's address for sign-in limits (X-Forwarded-For only behind trusted proxies)."""
    hops = request.app[SETTINGS].trusted_proxies
    forwarded = [a.strip() for a in request.headers.get("X-Forwarded-For", "").split(",")]
    forwarded = [a for a in forwarded if a]
    if hops and forwarded:
        return forwarded[-min(hops, len(forwarded))]
    return request.remote or "unknown"


def _base_url(request: web.Request) -> str:
    return request.app[SETTINGS].public_url or f"{request.scheme}://{request.host}"


def _session_body(who_email: str, role: str, shop_id: str, csrf: str, expires_ms: int) -> dict:
    return {
        "signed_in": True,
        "email": who_email,
        "role": role,
        "shop_id": shop_id,
        "csrf_token": csrf,
        "expires_at": ms_to_datetime(expires_ms),
    }


def _signed_in(request: web.Request, signed: auth.SignedIn, status: int = 200) -> web.Response:
    """The session's description, with its cookie."""
    s, user = signed.session, signed.user
    response = json_response(
        _session_body(user.email, user.role, s.shop_id, s.csrf, s.expires_ms), status
    )
    response.set_cookie(
        SESSION_COOKIE,
        signed.token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        secure=_secure(request),
        samesite="Lax",
    )
    return response


@contextmanager
def _account_exists_is_409() -> Iterator[None]:
    """An e-mail address that already has an account answers 409."""
    try:
        yield
    except DomainError as err:
        if err.code != "conflict":
            raise
        raise ApiError(409, "conflict", str(err), err.field) from None


def _link_gone() -> ApiError:
    return ApiError(410, "link_expired", "this link has expired or was already used")


@routes.post("/api/v1/session")
async def sign_in(request: web.Request) -> web.Response:
    """Sign in with ``{"email", "password"}`` (or the demo's ``{"demo": token}``)."""
    body = await _public_body(request)
    if "demo" in body:
        signed = await auth.demo_sign_in(_store(request), _text(body, "demo"), DEMO_SHOP_ID)
        if signed is None:
            raise _link_gone()
        return _signed_in(request, signed)
    email = normalise_email(body.get("email"))
    password = _text(body, "password")
    try:
        signed = await auth.sign_in(_store(request), email, password, client_address(request))
    except auth.SignInRefused as err:
        return _refused(err)
    return _signed_in(request, signed)


def _refused(err: auth.SignInRefused) -> web.Response:
    if err.retry_after is None:
        return ApiError(401, "wrong_credentials", "wrong e-mail or password").response()
    minutes = -(-err.retry_after // 60)
    response = ApiError(
        429,
        "too_many_attempts",
        f"too many failed sign-ins: try again in {minutes} minute{'s' if minutes > 1 else ''}",
        retry_after=err.retry_after,
    ).response()
    response.headers["Retry-After"] = str(err.retry_after)
    return response


@routes.get("/api/v1/session")
async def current_session(request: web.Request) -> web.Response:
    """The signed-in user and the session's CSRF token, or ``{"signed_in": false}``.

    Not a 401 when signed out: the page asks at every load, and a signed-out visit is normal.
    """
    found = await auth.session_principal(_store(request), request.cookies.get(SESSION_COOKIE, ""))
    if found is None:
        return json_response({"signed_in": False})
    who, session = found
    assert who.user is not None
    body = _session_body(who.user, who.role, who.shop_id, session.csrf, session.expires_ms)
    return json_response(body)


@routes.delete("/api/v1/session")
async def sign_out(request: web.Request) -> web.Response:
    """Sign out: the session ends on the server and the cookie is removed."""
    token = request.cookies.get(SESSION_COOKIE, "")
    found = await auth.session_principal(_store(request), token)
    if found is not None:
        require_csrf(request, found[1].csrf)
        await _store(request).sessions.end(token)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def _send_link(request: web.Request, to: str, kind: str, url: str, shop: Any) -> bool:
    """Mail the link where a transport is set up (`keys.LINK_SENDER`); False otherwise."""
    sender = request.app.get(LINK_SENDER)
    if sender is None:
        return False
    await sender(to=to, kind=kind, url=url, shop=shop)
    return True


@routes.post("/api/v1/invitations")
async def create_invitation(request: web.Request) -> web.Response:
    """The owner invites someone: a one-time link (7 days), e-mailed where mail is set up."""
    caller = await caller_shop(request, "owner")
    body = await json_body(request)
    email = normalise_email(body.get("email"))
    role = body.get("role", "staff")
    with _account_exists_is_409():
        token, expires = await auth.invite(
            _store(request), caller.shop.id, email, role, caller.who.actor
        )
    url = auth.link_url(_base_url(request), "invite", token)
    sent = await _send_link(request, email, "invite", url, caller.shop)
    await caller.store.audit.record(caller.who.actor, "user.invite", email=email, role=role)
    return json_response(
        {"email": email, "role": role, "expires_at": expires, "link": url, "sent": sent}, 201
    )


@routes.post("/api/v1/invitations/accept")
async def accept_invitation(request: web.Request) -> web.Response:
    """Accept an invitation with a password: the account is created and signed in."""
    body = await _public_body(request)
    token = _text(body, "token", 100)
    with _account_exists_is_409():
        signed = await auth.accept_invitation(_store(request), token, body.get("password"))
    if signed is None:
        raise _link_gone()
    return _signed_in(request, signed, 201)


@routes.post("/api/v1/password-resets")
async def request_reset(request: web.Request) -> web.Response:
    """E-mail a password-reset link (202 whether or not the address has an account)."""
    body = await _public_body(request)
    email = normalise_email(body.get("email"))
    if request.app.get(LINK_SENDER) is None:
        raise ApiError(
            403,
            "mail_unavailable",
            "e-mail is not set up here: ask your shop's owner or the operator for a reset link",
        )
    store, address = _store(request), client_address(request)
    count = await store.attempts.add("reset", address, auth.ATTEMPT_WINDOW)
    if count > RESET_REQUEST_LIMIT:
        return _refused(auth.SignInRefused(int(auth.ATTEMPT_WINDOW.total_seconds())))
    user = await store.users.by_email(email)
    if user is not None:
        token, _ = await auth.reset_link(store, user)
        shop = await store.shops.get(user.shop_id)
        url = auth.link_url(_base_url(request), "reset", token)
        await _send_link(request, email, "reset", url, shop)
    return json_response({"sent": True}, 202)


@routes.post("/api/v1/password-resets/complete")
async def complete_reset(request: web.Request) -> web.Response:
    """Set a new password through a reset link: other sessions end, this one begins."""
    body = await _public_body(request)
    token = _text(body, "token", 100)
    signed = await auth.reset_password(_store(request), token, body.get("password"))
    if signed is None:
        raise _link_gone()
    return _signed_in(request, signed)


_SESSION = {
    "type": "object",
    "required": ["signed_in", "email", "role", "shop_id", "csrf_token", "expires_at"],
    "properties": {
        "signed_in": {"const": True},
        "email": {"type": "string"},
        "role": {"enum": ["owner", "staff"]},
        "shop_id": {"type": "string"},
        "csrf_token": {"type": "string", "description": "send as X-CSRF-Token on unsafe requests"},
        "expires_at": {"type": "string", "format": "date-time"},
    },
}
_PASSWORD = {"type": "string", "minLength": auth.PASSWORD_LENGTH[0], "maxLength": 256}
_LINK_BODY = {
    "type": "object",
    "required": ["token", "password"],
    "properties": {"token": {"type": "string", "maxLength": 100}, "password": _PASSWORD},
}
_EMAIL = {"type": "string", "format": "email", "maxLength": 254}
_ERROR = ref("Error")
_PUBLIC_ERRORS = {
    "400": json_content(_ERROR, "Malformed body"),
    "415": json_content(_ERROR, "Not JSON"),
    "422": json_content(_ERROR, "An invalid value; `field` names it"),
    "503": json_content(_ERROR, "The database does not answer"),
}
_GONE = {"410": json_content(_ERROR, "The link is unknown, used or expired")}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _public(summary: str, body: dict[str, Any], responses: dict[str, Any]) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["sign-in"],
        "security": [],
        "requestBody": _body(body),
        "responses": {**responses, **_PUBLIC_ERRORS},
    }


_SIGN_IN = {
    "oneOf": [
        {
            "type": "object",
            "required": ["email", "password"],
            "properties": {"email": _EMAIL, "password": {"type": "string", "maxLength": 1024}},
        },
        {"type": "object", "required": ["demo"], "properties": {"demo": {"type": "string"}}},
    ]
}
_COOKIE = [{"sessionCookie": []}]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/session": {
        "post": _public(
            "Sign in (sets the session cookie)",
            _SIGN_IN,
            {
                "200": json_content(_SESSION, "Signed in; the cookie is set"),
                "401": json_content(_ERROR, "Wrong e-mail or password"),
                "429": json_content(_ERROR, "Too many failed sign-ins (Retry-After)"),
                **_GONE,
            },
        ),
        "get": {
            "summary": "The signed-in user and the session's CSRF token",
            "tags": ["sign-in"],
            "security": [],
            "responses": {
                "200": json_content(
                    {
                        "oneOf": [
                            _SESSION,
                            {
                                "type": "object",
                                "required": ["signed_in"],
                                "properties": {"signed_in": {"const": False}},
                            },
                        ]
                    },
                    "The session, or signed_in false",
                ),
                "503": json_content(_ERROR, "The database does not answer"),
            },
        },
        "delete": {
            "summary": "Sign out (the session ends; needs X-CSRF-Token)",
            "tags": ["sign-in"],
            "security": _COOKIE,
            "responses": {"204": {"description": "Signed out"}, **error_responses(403)},
        },
    },
    "/api/v1/invitations": {
        "post": {
            "summary": "Invite a user to the shop: a one-time link valid 7 days (owner)",
            "tags": ["sign-in"],
            "security": BEARER,
            "requestBody": _body(
                {
                    "type": "object",
                    "required": ["email"],
                    "properties": {"email": _EMAIL, "role": {"enum": ["owner", "staff"]}},
                }
            ),
            "responses": {
                "201": json_content(
                    {
                        "type": "object",
                        "properties": {
                            "email": {"type": "string"},
                            "role": {"type": "string"},
                            "expires_at": {"type": "string", "format": "date-time"},
                            "link": {"type": "string"},
                            "sent": {"type": "boolean", "description": "e-mailed"},
                        },
                    },
                    "The invitation; `link` is shown once",
                ),
                **error_responses(400, 403, 409, 422),
            },
        }
    },
    "/api/v1/invitations/accept": {
        "post": _public(
            "Accept an invitation with a new password (signs in)",
            _LINK_BODY,
            {
                "201": json_content(_SESSION, "Account created and signed in"),
                "409": json_content(_ERROR, "The e-mail already has an account"),
                **_GONE,
            },
        )
    },
    "/api/v1/password-resets": {
        "post": _public(
            "E-mail a password-reset link (where mail is set up)",
            {"type": "object", "required": ["email"], "properties": {"email": _EMAIL}},
            {
                "202": json_content({"type": "object"}, "Sent if the address has an account"),
                "403": json_content(_ERROR, "No mail transport here (`mail_unavailable`)"),
                "429": json_content(_ERROR, "Too many requests from this address"),
            },
        )
    },
    "/api/v1/password-resets/complete": {
        "post": _public(
            "Set a new password through a reset link (signs in, ends other sessions)",
            _LINK_BODY,
            {"200": json_content(_SESSION, "New password set, signed in"), **_GONE},
        )
    },
}
"""OpenAPI path items of this module."""
