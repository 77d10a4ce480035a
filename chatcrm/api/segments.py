"""Saved filters: /api/v1/segments (owner or staff); ``segment=<id>`` applies one to a report."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.customers import READERS
from chatcrm.api.spec import BEARER, error_responses, json_content, path_id, ref
from chatcrm.domain import ConflictError
from chatcrm.http import ApiError, caller_shop, json_body, json_response
from chatcrm.segments import MAX_SEGMENTS, find_segment, parse_segment, segment_view
from chatcrm.store import ShopStore

routes = web.RouteTableDef()


@routes.post("/api/v1/segments")
async def create_segment(request: web.Request) -> web.Response:
    """Save a named set of report filters and a sort; audited."""
    caller = await caller_shop(request, *READERS)
    fields = parse_segment(await json_body(request), caller.shop.timezone)
    if await caller.store.segments.tally() >= MAX_SEGMENTS:
        raise ConflictError(f"a shop keeps at most {MAX_SEGMENTS} segments", code="too_many")
    doc = await caller.store.segments.create(fields)
    await caller.store.audit.record(
        caller.who.actor, "segment.create", segment_id=doc["_id"], after=segment_view(doc)
    )
    location = f"/api/v1/segments/{doc['_id']}"
    return json_response(segment_view(doc), status=201, headers={"Location": location})


@routes.get("/api/v1/segments")
async def list_segments(request: web.Request) -> web.Response:
    """The shop's segments by name."""
    caller = await caller_shop(request, *READERS)
    docs = await caller.store.segments.list()
    return json_response({"items": [segment_view(d) for d in docs]})


@routes.get("/api/v1/segments/{id}")
async def get_segment(request: web.Request) -> web.Response:
    """One segment."""
    caller = await caller_shop(request, *READERS)
    return json_response(segment_view(await _segment(caller.store, request)))


@routes.patch("/api/v1/segments/{id}")
async def edit_segment(request: web.Request) -> web.Response:
    """Rename a segment or change its filters or sort; audited."""
    caller = await caller_shop(request, *READERS)
    body = await json_body(request)
    current = await _segment(caller.store, request)
    fields = parse_segment(body, caller.shop.timezone, current)
    updated = await caller.store.segments.replace(current, fields)
    if updated is None:
        raise ApiError(409, "version_conflict", "the segment changed meanwhile; try again")
    await caller.store.audit.record(
        caller.who.actor,
        "segment.update",
        segment_id=current["_id"],
        before=segment_view(current),
        after=segment_view(updated),
    )
    return json_response(segment_view(updated))


@routes.delete("/api/v1/segments/{id}")
async def delete_segment(request: web.Request) -> web.Response:
    """Delete a segment no report schedule uses; audited."""
    caller = await caller_shop(request, *READERS)
    current = await _segment(caller.store, request)
    using = await caller.store.schedules.using_segment(current["_id"])
    if using:
        names = ", ".join(d["name"] for d in using)
        raise ConflictError(f"report schedules send this segment: {names}", code="segment_in_use")
    await caller.store.segments.delete(current["_id"])
    await caller.store.audit.record(
        caller.who.actor, "segment.delete", segment_id=current["_id"], before=segment_view(current)
    )
    return web.Response(status=204)


async def _segment(store: ShopStore, request: web.Request) -> dict[str, Any]:
    """The segment the path names; 404 (field ``id``) when the shop has none by that id."""
    return await find_segment(store, request.match_info["id"], field="id")


_TAGS = ["segments"]

OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/segments": {
        "post": {
            "summary": "Save a segment (named report filters and sort)",
            "description": (
                "`filters` holds the report's query parameters and is checked exactly as the "
                "report checks them (422 with `field` like `filters.province`). Names are "
                f"unique per shop (409 name_taken); at most {MAX_SEGMENTS} per shop (409 "
                "too_many). Roles: owner, staff. Audited."
            ),
            "operationId": "createSegment",
            "tags": _TAGS,
            "security": BEARER,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("SegmentInput")}},
            },
            "responses": {
                "201": json_content(ref("Segment"), "The segment"),
                **error_responses(400, 403, 409, 413, 422),
            },
        },
        "get": {
            "summary": "The shop's segments",
            "operationId": "listSegments",
            "tags": _TAGS,
            "security": BEARER,
            "responses": {
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {"items": {"type": "array", "items": ref("Segment")}},
                    }
                ),
                **error_responses(403),
            },
        },
    },
    "/api/v1/segments/{id}": {
        "get": {
            "summary": "One segment",
            "operationId": "getSegment",
            "tags": _TAGS,
            "security": BEARER,
            "parameters": [path_id("Segment id")],
            "responses": {"200": json_content(ref("Segment")), **error_responses(403, 404)},
        },
        "patch": {
            "summary": "Change a segment's name, filters or sort",
            "operationId": "editSegment",
            "tags": _TAGS,
            "security": BEARER,
            "parameters": [path_id("Segment id")],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": ref("SegmentEdit")}},
            },
            "responses": {
                "200": json_content(ref("Segment")),
                **error_responses(400, 403, 404, 409, 413, 422),
            },
        },
        "delete": {
            "summary": "Delete a segment (409 segment_in_use while a report schedule uses it)",
            "operationId": "deleteSegment",
            "tags": _TAGS,
            "security": BEARER,
            "parameters": [path_id("Segment id")],
            "responses": {"204": {"description": "Deleted"}, **error_responses(403, 404, 409)},
        },
    },
}
"""OpenAPI path items of this module."""
