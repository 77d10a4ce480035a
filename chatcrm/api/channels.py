"""Channel administration: /api/v1/channels (owner role)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.spec import BEARER, error_responses, json_content
from chatcrm.http import ApiError, json_body, json_response, principal
from chatcrm.keys import DATABASE
from connectors.registry import PLATFORMS, connector_class, secrets_description

routes = web.RouteTableDef()


@routes.get("/api/v1/channels")
async def list_channels(request: web.Request) -> web.Response:
    """The shop's channels, without secrets."""
    who = await principal(request, "owner")
    shop = request.app[DATABASE].store.for_shop(who.shop_id)
    return json_response({"items": [c.public() for c in await shop.channels.list()]})


@routes.post("/api/v1/channels")
async def add_channel(request: web.Request) -> web.Response:
    """Connect a channel from ``{"platform", "name", "secrets"}``; 201, without secrets."""
    who = await principal(request, "owner")
    body = await json_body(request)
    connector = connector_class(body.get("platform"))
    secrets = body.get("secrets")
    if not isinstance(secrets, dict) or not all(isinstance(v, str) for v in secrets.values()):
        raise ApiError(422, "invalid", "secrets must be an object of strings", "secrets")
    clean = connector.validate_secrets(secrets)
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise ApiError(422, "invalid", "name must be a string", "name")
    database = request.app[DATABASE]
    shop = database.store.for_shop(who.shop_id)
    channel = await shop.channels.add(connector.platform, clean, name=name)
    await shop.audit.record(
        who.actor, "channel.add", channel_id=channel.id, platform=connector.platform
    )
    return json_response(channel.public(), status=201)


_CHANNEL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "shop_id": {"type": "string"},
        "platform": {"enum": list(PLATFORMS)},
        "name": {"type": "string"},
        "enabled": {"type": "boolean"},
        "webhook_path": {"type": "string"},
        "secrets_set": {"type": "array", "items": {"type": "string"}},
        "config": {"type": "object"},
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/channels": {
        "get": {
            "summary": "The shop's channels, never their secrets (owner)",
            "operationId": "listChannels",
            "tags": ["channels"],
            "security": BEARER,
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {"items": {"type": "array", "items": _CHANNEL}},
                    }
                ),
                **error_responses(403),
            },
        },
        "post": {
            "summary": "Connect a chat channel: " + ", ".join(PLATFORMS) + " (owner)",
            "operationId": "addChannel",
            "tags": ["channels"],
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["platform", "secrets"],
                            "properties": {
                                "platform": {"enum": list(PLATFORMS)},
                                "name": {"type": "string", "maxLength": 200},
                                "secrets": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                    "description": secrets_description(),
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": json_content(_CHANNEL, "Connected"),
                **error_responses(400, 403, 413, 422),
            },
        },
    }
}
"""OpenAPI path items of this module."""
