"""Replies to a customer through the channel they wrote on: POST /api/v1/customers/{id}/messages.

The reply goes out through the channel's connector (LINE push, Telegram ``sendMessage``, the
Messenger and WhatsApp Send APIs) and is stored as the shop's outgoing message, like the
replies the platforms echo; a platform's refusal is answered in its words.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from chatcrm.api.common import json_media
from chatcrm.api.customers import READERS, customer_or_404, message_view
from chatcrm.api.spec import BEARER, error_responses, json_content, path_id, ref
from chatcrm.bot.split import utf16_len
from chatcrm.domain import Channel, DomainError
from chatcrm.http import ApiError, caller_shop, json_body, json_response
from chatcrm.input_rules import clean_text
from chatcrm.keys import CONNECTOR_POOL, SETTINGS
from chatcrm.store import ShopStore
from chatcrm.store.base import utcnow
from connectors.base import (
    BLOCKED,
    REJECTED,
    UNAVAILABLE,
    WINDOW_CLOSED,
    Connector,
    PlatformError,
    PlatformTimeout,
    Refused,
)

routes = web.RouteTableDef()

MAX_REPLY_CHARS = 5000
"""Longest reply, after trimming (a platform may take fewer: its `max_text_chars`)."""

BLOCKING_STATUSES = ("unfollowed", "blocked")
"""Customer statuses a platform reported for a customer who blocked or left the shop's
account: LINE accepts a push to such a user and drops it, so no reply is sent."""

_REFUSALS = {
    WINDOW_CLOSED: (
        409,
        "reply_window_closed",
        "{platform} lets the shop answer only within 24 hours of the customer's last "
        "message; the customer has to write again first",
    ),
    BLOCKED: (409, "customer_blocked", "the customer blocked the shop's {platform} account"),
    UNAVAILABLE: (
        409,
        "customer_unreachable",
        "{platform} cannot deliver to this customer (the account is gone, the customer never "
        "started a chat with the shop, or is not on {platform})",
    ),
    REJECTED: (422, "platform_rejected", "{platform} refused the message"),
}
"""What a platform's `Refused.reason` is answered with: status, code, message."""


def parse_reply(body: dict[str, Any]) -> str:
    """The reply's text: 1-5,000 characters after trimming, no control characters but line
    breaks and tabs; DomainError naming the field otherwise."""
    for name in body:
        if name != "text":
            raise DomainError(f"unknown field {name}", field=str(name)[:100])
    text = clean_text(body.get("text"), "text", MAX_REPLY_CHARS, multiline=True)
    if not text:
        raise DomainError("text is required", field="text")
    return text


async def reply_channel(shop: ShopStore, customer: dict[str, Any]) -> Channel:
    """The enabled channel the customer last wrote on; 409 naming why there is none."""
    channel_id = customer.get("channel_id")
    if not channel_id:
        raise ApiError(
            409,
            "no_chat",
            "the customer has not written to the shop through a connected channel "
            "(imported or named by an order): there is no chat to reply in",
        )
    channel = await shop.channels.get(channel_id)
    if channel is None:
        raise ApiError(409, "channel_removed", "the channel the customer wrote on was removed")
    if not channel.enabled:
        raise ApiError(
            409,
            "channel_disabled",
            f"the channel the customer wrote on ({channel.name or channel.platform}) is "
            "disabled: enable it to reply",
        )
    return channel


def check_length(connector: Connector, text: str) -> None:
    """422 naming ``text`` when the platform takes shorter texts."""
    if utf16_len(text) > connector.max_text_chars:
        platform = connector.labels["en"]
        raise DomainError(
            f"text is at most {connector.max_text_chars} characters on {platform}", field="text"
        )


async def send(connector: Connector, customer: dict[str, Any], text: str, seconds: float) -> str:
    """Send `text`; the platform's message id, or the `ApiError` of the platform's answer.

    Nothing is stored when the send fails: a refusal is 409 or 422 with the platform's words,
    no answer in `seconds` 504 (the message may have arrived), any other failure 502.
    """
    platform = connector.labels["en"]
    try:
        async with asyncio.timeout(seconds):
            return await connector.send_text(customer, text)
    except Refused as err:
        status, code, message = _REFUSALS[err.reason]
        field = "text" if err.reason == REJECTED else None
        said = message.format(platform=platform)
        raise ApiError(status, code, said, field, platform_error=str(err)) from err
    except (TimeoutError, PlatformTimeout) as err:
        raise ApiError(
            504,
            "platform_timeout",
            f"{platform} did not answer within {seconds:g} s; the reply may or may not have "
            "arrived: look at the chat before sending it again",
        ) from err
    except PlatformError as err:
        raise ApiError(
            502,
            "platform_error",
            f"the reply could not be sent through {platform}",
            platform_error=str(err),
        ) from err


@routes.post("/api/v1/customers/{id}/messages")
async def reply_to_customer(request: web.Request) -> web.Response:
    """Send a text to the customer through the channel they wrote on; store it; audit it."""
    caller = await caller_shop(request, *READERS)
    shop = caller.store
    text = parse_reply(await json_body(request))
    customer = await customer_or_404(shop, request.match_info["id"])
    channel = await reply_channel(shop, customer)
    connector = request.app[CONNECTOR_POOL].get(channel)
    if customer.get("status") in BLOCKING_STATUSES:
        platform = connector.labels["en"]
        raise ApiError(409, "customer_blocked", _REFUSALS[BLOCKED][2].format(platform=platform))
    check_length(connector, text)
    timeout = request.app[SETTINGS].send_timeout_seconds
    message_id = await send(connector, customer, text, timeout)
    stored = await record_reply(shop, customer, channel, message_id, text, caller.who.actor)
    return json_response(message_view(stored), status=201)


async def record_reply(
    shop: ShopStore,
    customer: dict[str, Any],
    channel: Channel,
    message_id: str,
    text: str,
    actor: str,
) -> dict[str, Any]:
    """Store a sent reply as the shop's outgoing message (the shape of the platforms' echoes,
    plus ``sent_by``) and audit it; the message as stored."""
    stored = await shop.messages.record(
        {
            "customer_id": customer["_id"],
            "channel": customer.get("channel"),
            "channel_id": channel.id,
            "direction": "out",
            "type": "text",
            "text": text,
            "platform_message_id": message_id,
            "sent_at": utcnow(),
            "conversation_type": "user",
            "conversation_id": None,
            "meta": {},
            "sent_by": actor,
        }
    )
    await shop.audit.record(
        actor,
        "customer.reply",
        customer_id=customer["_id"],
        message_id=stored["_id"],
        channel_id=channel.id,
        after={"text": text},
    )
    return stored


_REPLY_DOC = (
    "Sends `text` to the customer through the channel they last wrote on (LINE push, "
    "Telegram `sendMessage`, the Messenger or WhatsApp Send API) and stores it in the chat "
    "history as an outgoing message (`direction` `out`); audited (`customer.reply`). Owner "
    "and staff; a dashboard session needs its CSRF token. `text`: 1-5,000 characters after "
    "trimming (the platform's own limit where lower: Messenger and WhatsApp 2,000 or 4,096), "
    "line breaks allowed, other control characters refused (422 naming `text`). The "
    "platform's refusal is answered with its words in `platform_error`: 409 "
    "`reply_window_closed` (Messenger's 24-hour window, WhatsApp's customer service window), "
    "409 `customer_blocked` (the customer blocked the shop's account; for LINE, which "
    "accepts and drops such pushes, known from the customer's status), 409 "
    "`customer_unreachable`, 422 `platform_rejected`. 409 `no_chat`, `channel_disabled`, "
    "`channel_removed` when there is no enabled channel to reply through. 502 "
    "`platform_error` when the platform cannot be reached or fails, 504 `platform_timeout` "
    "when it does not answer in time (the reply may have arrived); nothing is stored then."
)

REPLY_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {"text": {"type": "string", "minLength": 1, "maxLength": MAX_REPLY_CHARS}},
}
"""The reply's body."""

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/customers/{id}/messages": {
        "post": {
            "summary": "Reply to a customer through their chat channel",
            "description": _REPLY_DOC,
            "operationId": "replyToCustomer",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": [path_id()],
            "requestBody": {"required": True, "content": json_media(REPLY_SCHEMA)},
            "responses": {
                "201": json_content(ref("Message"), "The reply as stored in the history"),
                **error_responses(400, 403, 404, 409, 413, 422, 502, 504),
            },
        }
    }
}
"""OpenAPI path items of this module."""
