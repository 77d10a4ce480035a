"""Telegram webhook: POST /webhooks/telegram/{channel_id}."""

from __future__ import annotations

from aiohttp import web

from webhooks.common import receive

routes = web.RouteTableDef()


@routes.post("/webhooks/telegram/{channel_id}")
async def telegram_webhook(request: web.Request) -> web.Response:
    """One update, authenticated by `X-Telegram-Bot-Api-Secret-Token`."""
    return await receive(request, "telegram")
