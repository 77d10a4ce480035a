"""One person across channels: merge suggestions, merge and unmerge (owner and staff)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.customers import READERS, customer_or_404, edited_view
from chatcrm.api.spec import (
    BEARER,
    error_responses,
    json_content,
    json_request,
    page_parameters,
    path_id,
    ref,
)
from chatcrm.domain import DomainError
from chatcrm.http import ApiError, caller_shop, json_body, json_response, query_params
from chatcrm.merging import merge, parse_others, parse_versions, unmerge
from chatcrm.report_query import parse_page
from chatcrm.suggestions import dismiss, suggestions_page
from connectors.registry import CUSTOMER_CHANNELS

routes = web.RouteTableDef()


def _identity(body: dict[str, Any]) -> tuple[str, str]:
    """The body's ``identity``: ``{"channel", "platform_user_id"}``."""
    value = body.get("identity")
    if not isinstance(value, dict):
        raise DomainError("identity must be an object", "identity")
    channel, user_id = value.get("channel"), value.get("platform_user_id")
    if channel not in CUSTOMER_CHANNELS:
        raise DomainError("identity.channel is not a customer channel", "identity.channel")
    if not isinstance(user_id, str) or not 0 < len(user_id) <= 128 or not user_id.isprintable():
        raise DomainError(
            "identity.platform_user_id must be a chat id", "identity.platform_user_id"
        )
    return channel, user_id


@routes.post("/api/v1/customers/{id}/merge")
async def merge_customers(request: web.Request) -> web.Response:
    """Merge other customers into this one: one person with every identity; audited."""
    caller = await caller_shop(request, *READERS)
    target = (await customer_or_404(caller.store, request.match_info["id"]))["_id"]
    body = await json_body(request)
    others = parse_others(body.get("others"), target)
    versions = parse_versions(body.get("versions"), [target, *others])
    person = await merge(caller.store, target, others, versions, caller.who.actor)
    return json_response(edited_view(person))


@routes.post("/api/v1/customers/{id}/unmerge")
async def unmerge_customer(request: web.Request) -> web.Response:
    """Split one identity back out of a person as its own customer; audited."""
    caller = await caller_shop(request, *READERS)
    target = (await customer_or_404(caller.store, request.match_info["id"]))["_id"]
    channel, user_id = _identity(await json_body(request))
    split = await unmerge(caller.store, target, channel, user_id, caller.who.actor)
    person = await customer_or_404(caller.store, target)
    return json_response({"person": edited_view(person), "customer": edited_view(split)})


@routes.get("/api/v1/merge-suggestions")
async def list_suggestions(request: web.Request) -> web.Response:
    """Groups of customers that share a phone number or an e-mail address."""
    caller = await caller_shop(request, *READERS)
    params = query_params(request)
    for name in params:
        if name not in ("limit", "cursor"):
            raise ApiError(422, "invalid", f"unknown parameter {name}", name)
    page = parse_page(params)
    items, next_cursor = await suggestions_page(caller.store, page.limit, page.cursor)
    return json_response({"items": items, "next_cursor": next_cursor})


@routes.post("/api/v1/merge-suggestions/{id}/dismiss")
async def dismiss_suggestion(request: web.Request) -> web.Response:
    """Hide a suggestion until its members change."""
    caller = await caller_shop(request, *READERS)
    suggestion = await dismiss(caller.store, request.match_info["id"], caller.who.actor)
    return json_response(suggestion)


_MERGE_DOC = (
    "Merges `others` into this customer: one person holding every chat identity of them "
    "all (`channels`, `identities`); tags united, notes joined, this customer's name, phone, "
    "e-mail and address kept (filled in from the others where it has none; theirs stay in "
    "the audit trail), orders and chat history moved to the person, spend aggregates "
    "recomputed. Later events and orders of any merged identity land on the person; the "
    "merged customers' ids name the person. `versions` (optional, `{id: version}`) guards "
    "against changes since the client read them. 409 `merge_conflict` when a customer "
    "changed, is merged already or is being merged by another request: then nothing was "
    "merged. Audited (`customer.merge`)."
)

_SUGGESTION = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "reason": {
            "type": "object",
            "properties": {"field": {"enum": ["phone", "email"]}, "value": {"type": "string"}},
        },
        "members": {
            "type": "array",
            "items": {
                "type": "object",
                "description": "a customer of the group as the report shows it",
                "properties": {
                    **{
                        name: {"type": ["string", "null"]}
                        for name in ("id", "name", "channel", "platform_user_id", "phone", "email")
                    },
                    "channels": {"type": "array", "items": {"type": "string"}},
                    "paid_total": {"type": "integer", "description": "minor units"},
                    "order_count": {"type": "integer", "description": "paid orders"},
                    "version": {"type": "integer", "description": "for the merge's `versions`"},
                },
            },
        },
    },
}

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/customers/{id}/merge": {
        "post": {
            "summary": "Merge customers into one person",
            "description": _MERGE_DOC,
            "operationId": "mergeCustomers",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": [path_id()],
            "requestBody": json_request(
                ["others"],
                {
                    "others": {
                        "type": "array",
                        "items": {"type": "string"},
                        "minItems": 1,
                        "maxItems": 20,
                    },
                    "versions": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
            ),
            "responses": {
                "200": json_content(ref("Customer"), "The person"),
                **error_responses(400, 403, 404, 409, 422),
            },
        }
    },
    "/api/v1/customers/{id}/unmerge": {
        "post": {
            "summary": "Split one identity back out of a person",
            "description": (
                "The identity becomes its own customer again, with what it had when merged "
                "(name, tags, notes) and its own orders and chat history; both customers' "
                "aggregates are recomputed. The person's first identity cannot be split out "
                "(422). Audited (`customer.unmerge`)."
            ),
            "operationId": "unmergeCustomer",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": [path_id()],
            "requestBody": json_request(
                ["identity"],
                {
                    "identity": {
                        "type": "object",
                        "properties": {
                            "channel": {"enum": list(CUSTOMER_CHANNELS)},
                            "platform_user_id": {"type": "string"},
                        },
                    }
                },
            ),
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {"person": ref("Customer"), "customer": ref("Customer")},
                    }
                ),
                **error_responses(400, 403, 404, 409, 422),
            },
        }
    },
    "/api/v1/merge-suggestions": {
        "get": {
            "summary": "Customers that may be one person",
            "description": (
                "Groups of customers sharing a phone number (normalised: WhatsApp's, a seller's, "
                "an import's, an order's, a Telegram contact's) or an e-mail address (any "
                "case); phone groups first, each in value order. A dismissed group is left out "
                "until its members change."
            ),
            "operationId": "listMergeSuggestions",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": page_parameters(),
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {
                            "items": {"type": "array", "items": _SUGGESTION},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                ),
                **error_responses(403, 422),
            },
        }
    },
    "/api/v1/merge-suggestions/{id}/dismiss": {
        "post": {
            "summary": "Dismiss a merge suggestion until its members change",
            "operationId": "dismissMergeSuggestion",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": [path_id("Suggestion id")],
            "responses": {
                "200": json_content(_SUGGESTION, "The suggestion dismissed"),
                **error_responses(403, 404),
            },
        }
    },
}
"""OpenAPI path items of this module."""
