"""Webhook routes: verify the platform's signature, store the raw events, acknowledge."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from webhooks import line, messenger, telegram


def _operation(summary: str, signature: str, ok: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "tags": ["webhooks"],
        "security": [],
        "description": f"Called by the platform, authenticated by {signature}. "
        "The events are stored before the answer; a redelivery is a no-op.",
        "parameters": [
            {"name": "channel_id", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {
            "200": {"description": ok},
            "400": {"description": "malformed body"},
            "401": {"description": "bad or missing signature: nothing stored"},
            "404": {"description": "unknown or disabled channel"},
            "413": {"description": "body over the size limit"},
            "503": {"description": "database not answering: the platform retries"},
        },
    }


OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    "/webhooks/line/{channel_id}": {
        "post": _operation("LINE webhook", "X-Line-Signature", "events stored")
    },
    "/webhooks/telegram/{channel_id}": {
        "post": _operation("Telegram webhook", "X-Telegram-Bot-Api-Secret-Token", "update stored")
    },
    "/webhooks/messenger/{channel_id}": {
        "post": _operation("Messenger / Instagram webhook", "X-Hub-Signature-256", "stored"),
        "get": {
            "summary": "Messenger subscription check (hub.challenge)",
            "tags": ["webhooks"],
            "security": [],
            "parameters": [
                {
                    "name": "channel_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                {"name": "hub.mode", "in": "query", "schema": {"type": "string"}},
                {"name": "hub.verify_token", "in": "query", "schema": {"type": "string"}},
                {"name": "hub.challenge", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": "the challenge, as text"},
                "403": {"description": "verify token does not match"},
                "404": {"description": "unknown or disabled channel"},
            },
        },
    },
}
"""OpenAPI path items of the webhook routes."""


def setup_routes(app: web.Application) -> None:
    """Register the three platforms' webhook routes on `app`."""
    app.router.add_routes(line.routes)
    app.router.add_routes(telegram.routes)
    app.router.add_routes(messenger.routes)
