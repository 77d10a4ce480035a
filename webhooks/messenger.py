"""Messenger / Instagram webhook: GET (subscription handshake) and POST /webhooks/messenger/{id}."""

from __future__ import annotations

from aiohttp import web

from chatcrm.http import ApiError
from chatcrm.keys import CONNECTOR_POOL
from connectors.messenger import MessengerConnector
from webhooks.common import receive, webhook_channel

routes = web.RouteTableDef()


@routes.get("/webhooks/messenger/{channel_id}")
async def messenger_subscribe(request: web.Request) -> web.Response:
    """Answer ``hub.challenge`` when ``hub.verify_token`` matches the channel's; else 403."""
    channel = await webhook_channel(request, "messenger")
    connector = request.app[CONNECTOR_POOL].get(channel)
    assert isinstance(connector, MessengerConnector)
    mode = request.query.get("hub.mode", "")
    token = request.query.get("hub.verify_token", "")
    if not connector.verify_subscription(mode, token):
        raise ApiError(403, "forbidden", "hub.verify_token does not match")
    return web.Response(text=request.query.get("hub.challenge", "")[:200])


@routes.post("/webhooks/messenger/{channel_id}")
async def messenger_webhook(request: web.Request) -> web.Response:
    """Page or Instagram events signed with `X-Hub-Signature-256`."""
    return await receive(request, "messenger")
