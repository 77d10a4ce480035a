"""LINE webhook: POST /webhooks/line/{channel_id}."""

from __future__ import annotations

from aiohttp import web

from webhooks.common import receive

routes = web.RouteTableDef()


@routes.post("/webhooks/line/{channel_id}")
async def line_webhook(request: web.Request) -> web.Response:
    """Events signed with `X-Line-Signature`; the console's verify request gets 200 too."""
    return await receive(request, "line")
