"""HTTP plumbing shared by every route: JSON errors, the caller (token or session), parsing."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aiohttp import web

from chatcrm.auth import session_principal
from chatcrm.domain import DomainError, Principal, Shop, iso_utc
from chatcrm.keys import DATABASE
from chatcrm.store import ShopStore
from chatcrm.store.base import DATABASE_ERRORS

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200, **kwargs: Any) -> web.Response:
    """A JSON response in readable UTF-8 (Thai text stays Thai), times as `iso_utc` writes."""
    return web.json_response(data, status=status, dumps=_dumps, **kwargs)


def json_default(value: Any) -> Any:
    """JSON for what `json` cannot write: a datetime in the one format (`iso_utc`), a date."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=json_default)


class ApiError(Exception):
    """An error answered as ``{"error": {"code", "message", "field"}}`` with `status`."""

    def __init__(
        self, status: int, code: str, message: str, field: str | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra

    def response(self) -> web.Response:
        """Render as a JSON response."""
        body: dict[str, Any] = {"code": self.code, "message": self.message, "field": self.field}
        body.update(self.extra)
        return json_response({"error": body}, status=self.status)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    503: "unavailable",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a JSON error; a database that does not answer becomes 503."""
    try:
        return await handler(request)
    except ApiError as err:
        return err.response()
    except DomainError as err:
        return ApiError(422, err.code, str(err), err.field).response()
    except web.HTTPException as err:
        if err.status < 400:
            raise
        code = _STATUS_CODES.get(err.status, "error")
        message = err.text if err.text and not err.text.startswith(str(err.status)) else err.reason
        response = ApiError(err.status, code, message).response()
        if "Allow" in err.headers:
            response.headers["Allow"] = err.headers["Allow"]
        return response
    except DATABASE_ERRORS as err:
        log.warning("database unavailable during %s %s: %s", request.method, request.path, err)
        return ApiError(503, "database_unavailable", "the database does not answer").response()
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return ApiError(500, "internal", "internal server error").response()


SESSION_COOKIE = "chatcrm_session"
"""The dashboard's session cookie (HttpOnly, SameSite=Lax, Secure over https)."""
CSRF_HEADER = "X-CSRF-Token"
"""Header carrying the session's CSRF token on every unsafe request made with the cookie."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def principal(request: web.Request, *roles: str) -> Principal:
    """Resolve the caller: a bearer token, else a session cookie (with the CSRF token on unsafe
    methods); 401 without either, 403 for another role or a missing CSRF token."""
    header = request.headers.get("Authorization")
    if header is not None:
        who = await _bearer(request, header)
    elif SESSION_COOKIE in request.cookies:
        found = await session_principal(
            request.app[DATABASE].store, request.cookies[SESSION_COOKIE]
        )
        if found is None:
            raise ApiError(401, "unauthorized", "the session has ended: sign in again")
        who, session = found
        require_csrf(request, session.csrf)
    else:
        raise ApiError(401, "unauthorized", "sign in, or send Authorization: Bearer <token>")
    if roles and who.role not in roles:
        raise ApiError(403, "forbidden", f"this needs the {' or '.join(roles)} role")
    return who


async def _bearer(request: web.Request, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <token>")
    who = await request.app[DATABASE].store.tokens.resolve(token.strip())
    if who is None:
        raise ApiError(401, "unauthorized", "unknown or revoked token")
    return who


def require_csrf(request: web.Request, expected: str) -> None:
    """403 unless an unsafe request carries the session's CSRF token in `CSRF_HEADER`."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ApiError(403, "csrf_failed", f"send the session's {CSRF_HEADER} header")


@dataclass(frozen=True)
class CallerShop:
    """The caller of a request and its shop."""

    who: Principal
    shop: Shop
    """The shop's settings: name, time zone, currency, locale."""
    store: ShopStore
    """Everything the shop may read and write."""


async def caller_shop(request: web.Request, *roles: str) -> CallerShop:
    """The caller (401/403 as `principal` decides) and its shop; 401 when the shop is gone."""
    who = await principal(request, *roles)
    store = request.app[DATABASE].store
    shop = await store.shops.get(who.shop_id)
    if shop is None:
        raise ApiError(401, "unauthorized", "the token's shop no longer exists")
    return CallerShop(who, shop, store.for_shop(shop.id))


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; 400 when it is not one."""
    try:
        body = await request.json(loads=json.loads)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ApiError(400, "malformed_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "malformed_json", "the body must be a JSON object")
    return body


def query_params(request: web.Request) -> dict[str, list[str]]:
    """The query string as ``{name: [values]}`` (repeated names keep every value).

    422 naming the parameter when a value holds control characters or is not valid Unicode:
    no filter needs them, and the database refuses some of them.
    """
    params: dict[str, list[str]] = {}
    for name, value in request.query.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise DomainError(f"{name} is not valid Unicode text", field=name) from None
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise DomainError(f"{name} must not contain control characters", field=name)
        params.setdefault(name, []).append(value)
    return params
