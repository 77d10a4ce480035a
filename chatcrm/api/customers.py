"""The customer report and customer edits: /api/v1/customers (owner or staff)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.spec import (
    BEARER,
    FILTER_PARAMETERS,
    SORT_PARAMETERS,
    error_responses,
    json_content,
    page_parameters,
    path_id,
    ref,
)
from chatcrm.customer_edit import as_seller_changes, etag, parse_customer_edit, parse_version
from chatcrm.http import ApiError, caller_shop, json_body, json_response, query_params
from chatcrm.provinces import province_key
from chatcrm.report_query import PAGE_NAMES, parse_filters, parse_page, parse_sort
from chatcrm.segments import resolve_segment
from chatcrm.store import ShopStore
from reports.rows import customer_row

routes = web.RouteTableDef()

READERS = ("owner", "staff")
"""Roles that may read and edit customers."""


async def customer_or_404(shop: ShopStore, customer_id: str) -> dict[str, Any]:
    """This shop's customer (for a customer merged into a person, the person); 404 when it is
    unknown or another shop's."""
    if len(customer_id) > 100 or not customer_id.isprintable():
        raise ApiError(404, "not_found", "no such customer")
    doc = await shop.customers.get_person(customer_id)
    if doc is None:
        raise ApiError(404, "not_found", "no such customer")
    return doc


def edited_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A customer after an edit: the report row plus the editable contact fields and notes."""
    return {
        **customer_row(doc),
        "phone": doc.get("phone"),
        "email": doc.get("email"),
        "notes": doc.get("notes") or "",
    }


@routes.get("/api/v1/customers")
async def list_customers(request: web.Request) -> web.Response:
    """One page of the customer report with the total matching and the next cursor."""
    caller = await caller_shop(request, *READERS)
    shop = caller.store
    params = query_params(request)
    filters = parse_filters(params, caller.shop.timezone, allowed_extra=PAGE_NAMES)
    filters, segment_sort = await resolve_segment(shop, caller.shop.timezone, filters)
    sort = parse_sort(params, segment_sort)
    page = parse_page(params)
    docs, next_cursor = await shop.customers.search(
        filters, sort, limit=page.limit, cursor=page.cursor
    )
    total = await shop.customers.count_matching(filters)
    return json_response(
        {"items": [customer_row(d) for d in docs], "total": total, "next_cursor": next_cursor}
    )


@routes.patch("/api/v1/customers/{id}")
async def edit_customer(request: web.Request) -> web.Response:
    """Edit name, tags, notes, contact or address under optimistic concurrency; audited."""
    caller = await caller_shop(request, *READERS)
    shop = caller.store
    customer_id = request.match_info["id"]
    body = await json_body(request)
    changes = parse_customer_edit(body)
    version = parse_version(request.headers.get("If-Match"), body.get("version"))
    current = await customer_or_404(shop, customer_id)
    customer_id = current["_id"]
    if version is None:
        raise ApiError(
            428,
            "precondition_required",
            'send If-Match: "<version>" (or "version" in the body)',
            "If-Match",
            current_version=current.get("version"),
        )
    changes = as_seller_changes(current, changes)
    if "province" in changes or "postal_code" in changes:
        changes["province_key"] = province_key(
            changes.get("province", current.get("province")),
            changes.get("postal_code", current.get("postal_code")),
        )
    updated = await shop.customers.update_guarded(customer_id, version, changes)
    if updated is None:
        now = await customer_or_404(shop, customer_id)
        raise ApiError(
            409,
            "version_conflict",
            "the customer was changed since that version; reload and edit again",
            "version",
            current_version=now.get("version"),
        )
    internal = ("province_key", "seller_fields")
    changed = [k for k in changes if k not in internal and current.get(k) != updated.get(k)]
    if changed:
        await shop.audit.record(
            caller.who.actor,
            "customer.update",
            customer_id=customer_id,
            version=updated["version"],
            before={k: current.get(k) for k in changed},
            after={k: updated.get(k) for k in changed},
        )
    return json_response(edited_view(updated), headers={"ETag": etag(updated["version"])})


def message_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A message as the chat history shows it."""
    return {
        "id": doc["_id"],
        "channel": doc.get("channel"),
        "direction": doc.get("direction"),
        "type": doc.get("type"),
        "text": doc.get("text"),
        "sent_at": doc.get("sent_at"),
        "meta": doc.get("meta") or {},
        "edited_at": doc.get("edited_at"),
        "earlier_texts": doc.get("earlier_texts") or [],
        "unsent_at": doc.get("unsent_at"),
    }


@routes.get("/api/v1/customers/{id}/messages")
async def customer_messages(request: web.Request) -> web.Response:
    """A customer's chat history as a chat app shows it: the newest page first, each page
    oldest to newest, `next_cursor` for the messages before it."""
    shop = (await caller_shop(request, *READERS)).store
    customer_id = request.match_info["id"]
    params = query_params(request)
    for name in params:
        if name not in ("limit", "cursor"):
            raise ApiError(422, "invalid", f"unknown parameter {name}", name)
    page = parse_page(params)
    customer_id = (await customer_or_404(shop, customer_id))["_id"]
    docs, next_cursor = await shop.messages.page_for_customer(
        customer_id, limit=page.limit, cursor=page.cursor
    )
    return json_response({"items": [message_view(d) for d in docs], "next_cursor": next_cursor})


@routes.get("/api/v1/customers/{id}/audit")
async def customer_audit(request: web.Request) -> web.Response:
    """The customer's audit trail (owner): who changed what, when, before and after."""
    shop = (await caller_shop(request, "owner")).store
    customer_id = (await customer_or_404(shop, request.match_info["id"]))["_id"]
    entries = await shop.audit.for_customer(customer_id)
    items = [
        {
            "id": e["_id"],
            "at": e.get("at"),
            "actor": e.get("actor"),
            "action": e.get("action"),
            "before": e.get("before"),
            "after": e.get("after"),
            "version": e.get("version"),
            **({"reason": e["reason"]} if e.get("reason") else {}),
        }
        for e in entries
    ]
    return json_response({"items": items})


_LIST_DOC = (
    "Every customer of the shop matching the filters, including contacts known only by a "
    "chat platform id. Default sort: paid_total ascending. Keyset cursor pagination, stable "
    "under concurrent writes."
)

_HISTORY_DOC = (
    "Pages for a chat view: the first page (no `cursor`) holds the newest `limit` messages; "
    '`next_cursor` asks for the `limit` messages before them ("older messages"), null once '
    "the conversation's first message is shown. Within a page, `items` are oldest first, so a "
    "page of older messages goes above the ones shown. Keyset pages on the time in "
    "milliseconds and the id: no message is repeated or skipped, however many share a second "
    "and whatever arrives meanwhile; new messages appear on the first page when it is read "
    "again."
)

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/customers": {
        "get": {
            "summary": "The customer report",
            "description": _LIST_DOC,
            "operationId": "listCustomers",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": [*FILTER_PARAMETERS, *SORT_PARAMETERS, *page_parameters()],
            "responses": {
                "200": json_content(ref("CustomerPage")),
                **error_responses(403, 422),
            },
        }
    },
    "/api/v1/customers/{id}": {
        "patch": {
            "summary": "Edit a customer",
            "description": (
                'Optimistic concurrency: send `If-Match: "<version>"` (or `version` in the '
                "body). A stale version gets 409 `version_conflict` with `current_version`; "
                "no version gets 428. The response's ETag is the new version. Audited. "
                "A name, phone or e-mail given here is the seller's: no platform profile "
                "overwrites it (the platform's name stays in `profile_name`); null gives it "
                "back to the platforms (a null name shows `profile_name` at once)."
            ),
            "operationId": "editCustomer",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": [
                path_id(),
                {
                    "name": "If-Match",
                    "in": "header",
                    "description": 'The ETag of the version edited, like "3"',
                    "schema": {"type": "string", "maxLength": 20},
                },
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("CustomerEdit")}},
            },
            "responses": {
                "200": {
                    **json_content(ref("Customer"), "The edited customer"),
                    "headers": {"ETag": {"schema": {"type": "string"}}},
                },
                **error_responses(400, 403, 404, 409, 413, 422, 428),
            },
        }
    },
    "/api/v1/customers/{id}/messages": {
        "get": {
            "summary": "A customer's chat history, as a chat app shows it",
            "description": _HISTORY_DOC,
            "operationId": "customerMessages",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": [path_id(), *page_parameters()],
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {
                            "items": {"type": "array", "items": ref("Message")},
                            "next_cursor": {
                                "type": ["string", "null"],
                                "description": "the cursor of the older messages; null at "
                                "the start of the conversation",
                            },
                        },
                    }
                ),
                **error_responses(403, 404, 422),
            },
        }
    },
    "/api/v1/customers/{id}/audit": {
        "get": {
            "summary": "A customer's audit trail (owner)",
            "operationId": "customerAudit",
            "tags": ["customers"],
            "security": BEARER,
            "parameters": [path_id()],
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {"items": {"type": "array", "items": ref("AuditEntry")}},
                    }
                ),
                **error_responses(403, 404),
            },
        }
    },
}
"""OpenAPI path items of this module."""
