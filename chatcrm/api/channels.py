"""Channel administration: /api/v1/channels (owner role)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.common import json_media
from chatcrm.api.spec import BEARER, error_responses, items_content, json_content, path_id
from chatcrm.domain import Channel
from chatcrm.http import ApiError, json_body, json_response, principal
from chatcrm.keys import DATABASE, SETTINGS
from connectors.registry import CONNECTORS, PLATFORMS, connector_class, secrets_description

routes = web.RouteTableDef()


def _public(request: web.Request, channel: Channel) -> dict[str, Any]:
    """A channel as the API shows it: with its absolute webhook URL when CHATCRM_PUBLIC_URL is
    set (else null: the dashboard prefixes its own origin)."""
    public_url = request.app[SETTINGS].public_url
    url = public_url.rstrip("/") + channel.webhook_path if public_url else None
    return {**channel.public(), "webhook_url": url}


@routes.get("/api/v1/platforms")
async def list_platforms(request: web.Request) -> web.Response:
    """The platforms a channel connects to and the secrets each needs (the add-channel form)."""
    await principal(request, "owner")
    items = [
        {
            "platform": platform,
            "labels": dict(connector.labels),
            "secrets": [
                {
                    "name": s.name,
                    "help": s.help,
                    "pattern": s.pattern,
                    "max_chars": s.max_chars,
                    "example": s.example,
                }
                for s in connector.secrets
            ],
        }
        for platform, connector in CONNECTORS.items()
    ]
    return json_response({"items": items})


@routes.get("/api/v1/channels")
async def list_channels(request: web.Request) -> web.Response:
    """The shop's channels, without secrets."""
    who = await principal(request, "owner")
    shop = request.app[DATABASE].store.for_shop(who.shop_id)
    return json_response({"items": [_public(request, c) for c in await shop.channels.list()]})


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
    return json_response(_public(request, channel), status=201)


@routes.patch("/api/v1/channels/{id}")
async def edit_channel(request: web.Request) -> web.Response:
    """Enable or disable a channel from ``{"enabled": bool}``; audited. A disabled channel's
    webhook answers 404 and nothing it sends is stored."""
    who = await principal(request, "owner")
    body = await json_body(request)
    for key in body:
        if key != "enabled":
            raise ApiError(422, "invalid", f"unknown field {str(key)[:50]}", str(key)[:50])
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise ApiError(422, "invalid", "enabled must be true or false", "enabled")
    shop = request.app[DATABASE].store.for_shop(who.shop_id)
    channel_id = request.match_info["id"]
    if len(channel_id) > 100 or not await shop.channels.set_enabled(channel_id, enabled):
        raise ApiError(404, "not_found", "no such channel", "id")
    channel = await shop.channels.get(channel_id)
    if channel is None:  # removed meanwhile
        raise ApiError(404, "not_found", "no such channel", "id")
    action = "channel.enable" if enabled else "channel.disable"
    await shop.audit.record(who.actor, action, channel_id=channel.id, platform=channel.platform)
    return json_response(_public(request, channel))


_CHANNEL = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "shop_id": {"type": "string"},
        "platform": {"enum": list(PLATFORMS)},
        "name": {"type": "string"},
        "enabled": {"type": "boolean"},
        "webhook_path": {"type": "string"},
        "webhook_url": {
            "type": ["string", "null"],
            "description": "CHATCRM_PUBLIC_URL + webhook_path; null when it is not set",
        },
        "secrets_set": {"type": "array", "items": {"type": "string"}},
        "config": {"type": "object"},
    },
}

_PLATFORM = {
    "type": "object",
    "properties": {
        "platform": {"enum": list(PLATFORMS)},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "secrets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "help", "max_chars"],
                "properties": {
                    "name": {"type": "string"},
                    "help": {"type": "string", "description": "where to find it (English)"},
                    "pattern": {
                        "type": ["string", "null"],
                        "description": "a full-match regular expression the value must fit",
                    },
                    "max_chars": {"type": "integer"},
                    "example": {"type": ["string", "null"]},
                },
            },
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/platforms": {
        "get": {
            "summary": "The platforms a channel connects to and the secrets each needs (owner)",
            "operationId": "listPlatforms",
            "tags": ["channels"],
            "security": BEARER,
            "responses": {
                "200": items_content(_PLATFORM),
                **error_responses(403),
            },
        }
    },
    "/api/v1/channels/{id}": {
        "patch": {
            "summary": "Enable or disable a channel (owner); audited",
            "description": (
                "A disabled channel's webhook URL answers 404 and nothing it sends is stored; "
                "enabling it again resumes. The only field is `enabled`."
            ),
            "operationId": "editChannel",
            "tags": ["channels"],
            "security": BEARER,
            "parameters": [path_id("Channel id")],
            "requestBody": {
                "required": True,
                "content": json_media(
                    {
                        "type": "object",
                        "required": ["enabled"],
                        "additionalProperties": False,
                        "properties": {"enabled": {"type": "boolean"}},
                    }
                ),
            },
            "responses": {
                "200": json_content(_CHANNEL, "Changed"),
                **error_responses(400, 403, 404, 422),
            },
        }
    },
    "/api/v1/channels": {
        "get": {
            "summary": "The shop's channels, never their secrets (owner)",
            "operationId": "listChannels",
            "tags": ["channels"],
            "security": BEARER,
            "responses": {
                "200": items_content(_CHANNEL),
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
    },
}
"""OpenAPI path items of this module."""
