"""Chat admins: link codes, the list, unlinking (/api/v1/chat-admins, owner role)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.spec import BEARER, error_responses, json_content, path_id
from chatcrm.bot.admins import create_link_code, unlink_chat_admin
from chatcrm.domain import ROLES, DomainError
from chatcrm.http import ApiError, caller_shop, json_body, json_response
from chatcrm.store.chat_admins import CODE_LENGTH, CODE_TTL, public_admin

routes = web.RouteTableDef()


@routes.post("/api/v1/chat-admins/link-codes")
async def create_code(request: web.Request) -> web.Response:
    """A one-time code a seller sends to the shop's bot (``/link CODE``) to become a chat admin."""
    caller = await caller_shop(request, "owner")
    body = await json_body(request) if request.can_read_body else {}
    role = body.get("role", "staff")
    if role not in ROLES:
        raise DomainError(f"role must be one of {', '.join(ROLES)}", field="role")
    code, expires = await create_link_code(caller.store, role, caller.who.actor)
    return json_response({"code": code, "role": role, "expires_at": expires}, status=201)


@routes.get("/api/v1/chat-admins")
async def list_admins(request: web.Request) -> web.Response:
    """The shop's chat admins."""
    caller = await caller_shop(request, "owner")
    return json_response({"items": await caller.store.chat_admins.list()})


@routes.delete("/api/v1/chat-admins/{id}")
async def unlink(request: web.Request) -> web.Response:
    """Unlink a chat admin; its commands get no shop data any more."""
    caller = await caller_shop(request, "owner")
    admin_id = request.match_info["id"]
    removed = None
    if len(admin_id) <= 100:
        removed = await unlink_chat_admin(caller.store, admin_id, caller.who.actor)
    if removed is None:
        raise ApiError(404, "not_found", "no such chat admin")
    return json_response(public_admin(removed))


_ADMIN = {
    "type": "object",
    "required": ["id", "channel", "platform_user_id", "role"],
    "properties": {
        "id": {"type": "string"},
        "channel": {"type": "string", "description": "The customer channel of the chat account"},
        "platform_user_id": {"type": "string"},
        "channel_id": {"type": ["string", "null"], "description": "Linked through this channel"},
        "name": {"type": ["string", "null"]},
        "role": {"enum": list(ROLES)},
        "linked_at": {"type": ["string", "null"], "format": "date-time"},
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/chat-admins/link-codes": {
        "post": {
            "summary": "Create a one-time link code for a chat admin",
            "description": (
                f"A code of {CODE_LENGTH} characters (no 0/O/1/I/L), valid "
                f"{int(CODE_TTL.total_seconds() // 60)} minutes, used once: the seller sends "
                "`/link CODE` (or `ผูก CODE`) to any channel of the shop, and that chat account "
                "becomes a chat admin with the code's role. Shown only in this answer."
            ),
            "operationId": "createLinkCode",
            "tags": ["chat admins"],
            "security": BEARER,
            "requestBody": {
                "required": False,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"role": {"enum": list(ROLES), "default": "staff"}},
                        }
                    }
                },
            },
            "responses": {
                "201": json_content(
                    {
                        "type": "object",
                        "required": ["code", "role", "expires_at"],
                        "properties": {
                            "code": {"type": "string"},
                            "role": {"enum": list(ROLES)},
                            "expires_at": {"type": "string", "format": "date-time"},
                        },
                    },
                    "the code",
                ),
                **error_responses(400, 403, 422),
            },
        }
    },
    "/api/v1/chat-admins": {
        "get": {
            "summary": "The shop's chat admins",
            "operationId": "listChatAdmins",
            "tags": ["chat admins"],
            "security": BEARER,
            "responses": {
                "200": json_content(
                    {"type": "object", "properties": {"items": {"type": "array", "items": _ADMIN}}}
                ),
                **error_responses(403),
            },
        }
    },
    "/api/v1/chat-admins/{id}": {
        "delete": {
            "summary": "Unlink a chat admin",
            "description": "Its customer record, if any, shows in reports again. Audited.",
            "operationId": "unlinkChatAdmin",
            "tags": ["chat admins"],
            "security": BEARER,
            "parameters": [path_id("Chat admin id")],
            "responses": {
                "200": json_content(_ADMIN, "the removed chat admin"),
                **error_responses(403, 404),
            },
        }
    },
}
"""OpenAPI path items of this module."""
