"""The shop's team: /api/v1/users and the pending /api/v1/invitations (owner role).

Invitations are made by ``POST /api/v1/invitations`` (chatcrm/api/auth.py); this module lists
the ones not used yet. Users are listed without their password hashes; removing a user ends
every session of theirs at once.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.spec import BEARER, error_responses, items_content, json_content, path_id
from chatcrm.domain import ROLES, ConflictError
from chatcrm.http import ApiError, caller_shop, json_response
from chatcrm.keys import DATABASE

routes = web.RouteTableDef()


@routes.get("/api/v1/users")
async def list_users(request: web.Request) -> web.Response:
    """The shop's users by e-mail; ``you`` marks the caller's own account."""
    caller = await caller_shop(request, "owner")
    users = await request.app[DATABASE].store.users.listing(caller.shop.id)
    for user in users:
        user["you"] = user["email"] == caller.who.user
    return json_response({"items": users})


@routes.delete("/api/v1/users/{id}")
async def remove_user(request: web.Request) -> web.Response:
    """Remove a user of the shop (not yourself, not the last owner); their sessions end."""
    caller = await caller_shop(request, "owner")
    store = request.app[DATABASE].store
    user_id = request.match_info["id"]
    users = await store.users.of_shop(caller.shop.id) if len(user_id) <= 100 else []
    user = next((u for u in users if u.id == user_id), None)
    if user is None:
        raise ApiError(404, "not_found", "no such user", "id")
    if user.email == caller.who.user:
        raise ConflictError("you cannot remove yourself", field="id", code="remove_self")
    if user.role == "owner" and sum(u.role == "owner" for u in users) == 1:
        raise ConflictError("the shop's last owner stays", field="id", code="last_owner")
    removed = await store.users.remove(caller.shop.id, user.id)
    if removed is None:  # removed meanwhile
        raise ApiError(404, "not_found", "no such user", "id")
    ended = await store.sessions.end_all(caller.shop.id, user.id)
    await caller.store.audit.record(
        caller.who.actor, "user.remove", user_id=user.id, email=user.email, role=user.role
    )
    return json_response({"id": user.id, "email": user.email, "role": user.role, "sessions": ended})


@routes.get("/api/v1/invitations")
async def list_invitations(request: web.Request) -> web.Response:
    """The shop's invitations not used yet and not expired, soonest to expire first."""
    caller = await caller_shop(request, "owner")
    links = request.app[DATABASE].store.links
    return json_response({"items": await links.pending_invitations(caller.shop.id)})


_DATETIME = {"type": ["string", "null"], "format": "date-time"}
_USER = {
    "type": "object",
    "required": ["id", "email", "role", "has_password", "you"],
    "properties": {
        "id": {"type": "string"},
        "email": {"type": "string"},
        "role": {"enum": list(ROLES)},
        "has_password": {"type": "boolean", "description": "false until a password is set"},
        "created_at": _DATETIME,
        "you": {"type": "boolean", "description": "the caller's own account"},
    },
}
_INVITATION = {
    "type": "object",
    "required": ["email", "role", "expires_at"],
    "properties": {
        "email": {"type": "string"},
        "role": {"enum": list(ROLES)},
        "invited_by": {"type": ["string", "null"], "description": "the audit actor who invited"},
        "created_at": _DATETIME,
        "expires_at": {"type": "string", "format": "date-time"},
    },
}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/users": {
        "get": {
            "summary": "The shop's users and roles, never a password hash (owner)",
            "operationId": "listUsers",
            "tags": ["team"],
            "security": BEARER,
            "responses": {"200": items_content(_USER), **error_responses(403)},
        }
    },
    "/api/v1/users/{id}": {
        "delete": {
            "summary": "Remove a user of the shop (owner); every session of theirs ends",
            "description": (
                "409 `remove_self` for the caller's own account, 409 `last_owner` for the "
                "shop's only owner. Audited as `user.remove`."
            ),
            "operationId": "removeUser",
            "tags": ["team"],
            "security": BEARER,
            "parameters": [path_id("User id")],
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string"},
                            "email": {"type": "string"},
                            "role": {"enum": list(ROLES)},
                            "sessions": {"type": "integer", "description": "sessions ended"},
                        },
                    },
                    "Removed",
                ),
                **error_responses(403, 404, 409),
            },
        }
    },
    "/api/v1/invitations": {
        "get": {
            "summary": "Invitations not used yet and not expired (owner)",
            "description": "Soonest to expire first; the links themselves are never shown again.",
            "operationId": "listInvitations",
            "tags": ["team"],
            "security": BEARER,
            "responses": {"200": items_content(_INVITATION), **error_responses(403)},
        }
    },
}
"""OpenAPI path items of this module."""
