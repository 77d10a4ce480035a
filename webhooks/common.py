"""What every webhook route does: find the channel, verify, store raw events, answer."""

from __future__ import annotations

import logging

from aiohttp import web

from chatcrm.domain import Channel
from chatcrm.http import ApiError, json_response
from chatcrm.keys import CONNECTOR_POOL, DATABASE, INGEST_ACTIVITY
from connectors.base import PayloadError, SignatureError

log = logging.getLogger(__name__)


async def webhook_channel(request: web.Request, platform: str) -> Channel:
    """The enabled channel named by the URL; 404 for an unknown or disabled one."""
    channel_id = request.match_info["channel_id"]
    channel = await request.app[DATABASE].store.channel_for_webhook(platform, channel_id)
    if channel is None:
        raise ApiError(404, "not_found", f"no enabled {platform} channel {channel_id}")
    return channel


async def receive(request: web.Request, platform: str) -> web.Response:
    """Verify the request, store its events in the inbox, then answer 200.

    401 bad or missing signature (nothing stored), 400 malformed body, 413 body too large,
    404 unknown or disabled channel, 503 when the database does not answer (the platform
    then retries). A redelivered event is not stored again and still gets 200.

    One database round trip on the usual path: the channel comes from the cache and every
    event of the request is stored by one unordered ``insert_many``.
    """
    activity = request.app[INGEST_ACTIVITY]
    with activity.acknowledging():
        channel = await webhook_channel(request, platform)
        body = await request.read()  # 413 above the app's client_max_size
        connector = request.app[CONNECTOR_POOL].get(channel)
        try:
            events = connector.verify_request(body, request.headers)
        except SignatureError as err:
            log.warning("%s webhook for channel %s rejected: %s", platform, channel.id, err)
            raise ApiError(401, "bad_signature", str(err)) from None
        except PayloadError as err:
            raise ApiError(400, "malformed_payload", str(err)) from None
        shop = request.app[DATABASE].store.for_shop(channel.shop_id)
        new = await shop.inbox.put(platform, channel.id, events)
    if new:
        activity.stored()
    return json_response({"received": len(events), "new": new})
