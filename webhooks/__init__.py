"""Webhook routes: one handler for every platform, dispatching through the connector registry.

``POST /webhooks/{platform}/{channel_id}``: verify the platform's signature, store the raw
events, acknowledge. ``GET`` of the same URL answers a platform's check of the URL (Meta's
``hub.challenge``) where the platform has one. The URL is registered once per platform of
`connectors.registry`, so an unknown platform is a 404 and a GET to a platform without a check
a 405, and the OpenAPI document lists exactly what is served.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from chatcrm.domain import Channel
from chatcrm.http import ApiError, json_response
from chatcrm.keys import COMMAND_LANE, CONNECTOR_POOL, DATABASE, INGEST_ACTIVITY
from connectors.base import Connector, PayloadError, SignatureError
from connectors.registry import CONNECTORS

log = logging.getLogger(__name__)


def _path(platform: str) -> str:
    return f"/webhooks/{platform}/{{channel_id}}"


async def _channel(request: web.Request) -> tuple[Channel, Connector]:
    """The enabled channel named by the URL and its connector; 404 for unknown or disabled."""
    platform = request.path.split("/")[2]
    channel_id = request.match_info["channel_id"]
    channel = await request.app[DATABASE].store.channel_for_webhook(platform, channel_id)
    if channel is None:
        raise ApiError(404, "not_found", f"no enabled {platform} channel {channel_id[:64]}")
    return channel, request.app[CONNECTOR_POOL].get(channel)


async def receive(request: web.Request) -> web.Response:
    """Verify the request, store its events in the inbox, then answer 200.

    401 bad or missing signature (nothing stored), 400 malformed body, 413 body too large,
    404 unknown or disabled channel, 503 when the database does not answer (the platform
    then retries). A redelivered event is not stored again and still gets 200.

    One database round trip on the usual path: the channel comes from the cache and every
    event of the request is stored by one unordered ``insert_many``. Once stored, text that
    looks like a bot command goes to the command lane, not behind the inbox backlog.
    """
    activity = request.app[INGEST_ACTIVITY]
    with activity.acknowledging():
        channel, connector = await _channel(request)
        body = await request.read()  # 413 above the app's client_max_size
        try:
            events = connector.verify_request(body, request.headers)
        except SignatureError as err:
            log.warning("%s webhook for channel %s rejected: %s", channel.platform, channel.id, err)
            raise ApiError(401, "bad_signature", str(err)) from None
        except PayloadError as err:
            raise ApiError(400, "malformed_payload", str(err)) from None
        shop = request.app[DATABASE].store.for_shop(channel.shop_id)
        new = await shop.inbox.put(channel.platform, channel.id, events)
    if new:
        activity.stored()
        request.app[COMMAND_LANE].offer(channel, connector, events)  # stored: answer at once
    return json_response({"received": len(events), "new": new})


async def subscribe(request: web.Request) -> web.Response:
    """The platform's check of the webhook URL; 403 when its token does not match."""
    _, connector = await _channel(request)
    try:
        challenge = connector.verify_subscription(request.query)
    except SignatureError as err:
        raise ApiError(403, "forbidden", str(err)) from None
    return web.Response(text=challenge)


def setup_routes(app: web.Application) -> None:
    """Register the webhook routes of every platform on `app`."""
    for platform, connector in CONNECTORS.items():
        app.router.add_post(_path(platform), receive)
        if connector.handshake:
            app.router.add_get(_path(platform), subscribe, allow_head=False)


_CHANNEL_ID = {"name": "channel_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _post(connector: type[Connector]) -> dict[str, Any]:
    return {
        "summary": f"{connector.labels['en']} webhook",
        "operationId": f"{connector.platform}Webhook",
        "tags": ["webhooks"],
        "security": [],
        "description": f"Called by {connector.labels['en']}, authenticated by "
        f"{connector.signature}. The events are stored before the answer; a redelivery is a "
        "no-op.",
        "parameters": [_CHANNEL_ID],
        "requestBody": {"required": True, "content": {"application/json": {"schema": {}}}},
        "responses": {
            "200": {"description": "events stored"},
            "400": {"description": "malformed body"},
            "401": {"description": "bad or missing signature: nothing stored"},
            "404": {"description": "unknown or disabled channel"},
            "413": {"description": "body over the size limit"},
            "503": {"description": "database not answering: the platform retries"},
        },
    }


def _get(connector: type[Connector]) -> dict[str, Any]:
    query = [
        {"name": name, "in": "query", "schema": {"type": "string"}} for name in connector.handshake
    ]
    return {
        "summary": f"{connector.labels['en']} check of the webhook URL",
        "operationId": f"{connector.platform}WebhookCheck",
        "tags": ["webhooks"],
        "security": [],
        "parameters": [_CHANNEL_ID, *query],
        "responses": {
            "200": {"description": "the platform's challenge, as text"},
            "403": {"description": "verify token does not match"},
            "404": {"description": "unknown or disabled channel"},
        },
    }


def openapi_paths() -> dict[str, dict[str, Any]]:
    """OpenAPI path items of the webhook route, one per registered platform."""
    paths: dict[str, dict[str, Any]] = {}
    for platform, connector in CONNECTORS.items():
        item = {"post": _post(connector)}
        if connector.handshake:
            item["get"] = _get(connector)
        paths[_path(platform)] = item
    return paths
