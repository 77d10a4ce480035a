"""Report schedules: /api/v1/report-schedules (owner only), test sends and delivery history."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.spec import BEARER, error_responses, json_content, page_parameters, path_id, ref
from chatcrm.domain import ConflictError, DomainError
from chatcrm.http import ApiError, CallerShop, caller_shop, json_body, json_response, query_params
from chatcrm.keys import DELIVERER, REPORT_SCHEDULER
from chatcrm.report_query import parse_page
from chatcrm.schedules import MAX_SCHEDULES, parse_schedule, schedule_view
from chatcrm.store.base import pack_cursor, unpack_cursor
from chatcrm.store.schedules import delivery_view, ms_of

routes = web.RouteTableDef()

OWNER = "owner"
"""Schedules send customer data out of the service: the owner decides where."""


async def _check_segment(caller: CallerShop, fields: dict[str, Any]) -> None:
    segment_id = fields.get("segment_id")
    if segment_id is not None and await caller.store.segments.get(segment_id) is None:
        raise DomainError("segment_id names no segment of this shop", field="segment_id")


async def _schedule(caller: CallerShop, request: web.Request) -> dict[str, Any]:
    schedule_id = request.match_info["id"]
    doc = await caller.store.schedules.get(schedule_id) if len(schedule_id) <= 100 else None
    if doc is None:
        raise ApiError(404, "not_found", "no such report schedule", "id")
    return doc


def _view(request: web.Request, doc: dict[str, Any]) -> dict[str, Any]:
    return schedule_view(doc, request.app[DELIVERER].clock())


@routes.post("/api/v1/report-schedules")
async def create_schedule(request: web.Request) -> web.Response:
    """Schedule a report e-mail; audited."""
    caller = await caller_shop(request, OWNER)
    fields = parse_schedule(await json_body(request))
    await _check_segment(caller, fields)
    if await caller.store.schedules.tally() >= MAX_SCHEDULES:
        raise ConflictError(f"a shop keeps at most {MAX_SCHEDULES} schedules", code="too_many")
    now_ms = request.app[DELIVERER].now_ms()
    doc = await caller.store.schedules.create(fields, caller.shop.timezone, now_ms)
    await request.app[REPORT_SCHEDULER].refresh(doc)
    view = _view(request, doc)
    await caller.store.audit.record(
        caller.who.actor, "schedule.create", schedule_id=doc["_id"], after=_audited(view)
    )
    headers = {"Location": f"/api/v1/report-schedules/{doc['_id']}"}
    return json_response(view, status=201, headers=headers)


def _audited(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k not in ("next_fire_at", "created_at", "updated_at")}


@routes.get("/api/v1/report-schedules")
async def list_schedules(request: web.Request) -> web.Response:
    """The shop's report schedules by name."""
    caller = await caller_shop(request, OWNER)
    docs = await caller.store.schedules.list()
    return json_response({"items": [_view(request, d) for d in docs]})


@routes.get("/api/v1/report-schedules/{id}")
async def get_schedule(request: web.Request) -> web.Response:
    """One report schedule, with its next fire time."""
    caller = await caller_shop(request, OWNER)
    return json_response(_view(request, await _schedule(caller, request)))


@routes.patch("/api/v1/report-schedules/{id}")
async def edit_schedule(request: web.Request) -> web.Response:
    """Change a schedule (any of its fields); audited."""
    caller = await caller_shop(request, OWNER)
    fields = parse_schedule(await json_body(request), partial=True)
    current = await _schedule(caller, request)
    await _check_segment(caller, fields)
    fields["timezone"] = caller.shop.timezone
    now_ms = request.app[DELIVERER].now_ms()
    updated = await caller.store.schedules.replace(current, fields, now_ms)
    if updated is None:
        raise ApiError(409, "version_conflict", "the schedule changed meanwhile; try again")
    await request.app[REPORT_SCHEDULER].refresh(updated)
    view = _view(request, updated)
    await caller.store.audit.record(
        caller.who.actor,
        "schedule.update",
        schedule_id=current["_id"],
        before=_audited(_view(request, current)),
        after=_audited(view),
    )
    return json_response(view)


@routes.delete("/api/v1/report-schedules/{id}")
async def delete_schedule(request: web.Request) -> web.Response:
    """Delete a schedule and its delivery history; audited."""
    caller = await caller_shop(request, OWNER)
    current = await _schedule(caller, request)
    await caller.store.schedules.delete(current["_id"])
    request.app[REPORT_SCHEDULER].forget(current["_id"])
    await caller.store.audit.record(
        caller.who.actor,
        "schedule.delete",
        schedule_id=current["_id"],
        before=_audited(_view(request, current)),
    )
    return web.Response(status=204)


@routes.post("/api/v1/report-schedules/{id}/send")
async def send_schedule(request: web.Request) -> web.Response:
    """Send the report now (a test send with its own delivery record); answer the delivery."""
    caller = await caller_shop(request, OWNER)
    schedule = await _schedule(caller, request)
    delivery = await request.app[DELIVERER].send_test(schedule, caller.who.actor)
    return json_response(delivery_view(delivery))


@routes.get("/api/v1/report-schedules/{id}/deliveries")
async def list_deliveries(request: web.Request) -> web.Response:
    """The schedule's deliveries, newest fire time first."""
    caller = await caller_shop(request, OWNER)
    params = query_params(request)
    for name in params:
        if name not in ("limit", "cursor"):
            raise DomainError(f"unknown parameter {name}", field=name)
    page = parse_page(params)
    before = None
    if page.cursor is not None:
        before = unpack_cursor(page.cursor).get("f")
        if not isinstance(before, int):
            raise DomainError("cursor is not valid", field="cursor")
    schedule = await _schedule(caller, request)
    docs = await caller.store.deliveries.page(schedule["_id"], page.limit + 1, before)
    items = [delivery_view(d) for d in docs[: page.limit]]
    next_cursor = None
    if len(docs) > page.limit:
        next_cursor = pack_cursor({"f": ms_of(items[-1]["fire_time"])})
    return json_response({"items": items, "next_cursor": next_cursor})


_TAGS = ["report schedules"]
_ID = path_id("Report schedule id")


def _operation(summary: str, operation_id: str, **parts: Any) -> dict[str, Any]:
    return {
        "summary": summary,
        "operationId": operation_id,
        "tags": _TAGS,
        "security": BEARER,
        **parts,
    }


def _body(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/report-schedules": {
        "post": _operation(
            "Schedule a report e-mail (owner)",
            "createReportSchedule",
            description=(
                "Every day, week (on a weekday) or month (on a day 1-28, or `last`) at HH:MM in "
                "the shop's time zone, daylight-saving changes included. Up to 20 recipients, "
                "repeats whatever their case left out. Each fire time is e-mailed exactly once, "
                "however many service processes run. Audited."
            ),
            requestBody=_body("ReportScheduleInput"),
            responses={
                "201": json_content(ref("ReportSchedule"), "The schedule"),
                **error_responses(400, 403, 409, 413, 422),
            },
        ),
        "get": _operation(
            "The shop's report schedules (owner)",
            "listReportSchedules",
            responses={
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {"items": {"type": "array", "items": ref("ReportSchedule")}},
                    }
                ),
                **error_responses(403),
            },
        ),
    },
    "/api/v1/report-schedules/{id}": {
        "get": _operation(
            "One report schedule (owner)",
            "getReportSchedule",
            parameters=[_ID],
            responses={"200": json_content(ref("ReportSchedule")), **error_responses(403, 404)},
        ),
        "patch": _operation(
            "Change a report schedule (owner)",
            "editReportSchedule",
            parameters=[_ID],
            requestBody=_body("ReportScheduleEdit"),
            responses={
                "200": json_content(ref("ReportSchedule")),
                **error_responses(400, 403, 404, 409, 413, 422),
            },
        ),
        "delete": _operation(
            "Delete a report schedule and its deliveries (owner)",
            "deleteReportSchedule",
            parameters=[_ID],
            responses={"204": {"description": "Deleted"}, **error_responses(403, 404)},
        ),
    },
    "/api/v1/report-schedules/{id}/send": {
        "post": _operation(
            "Send the report now, as a test (owner)",
            "sendReportSchedule",
            description="Its own delivery record (kind `test`); answers it once attempted.",
            parameters=[_ID],
            responses={"200": json_content(ref("Delivery")), **error_responses(403, 404)},
        )
    },
    "/api/v1/report-schedules/{id}/deliveries": {
        "get": _operation(
            "A report schedule's deliveries, newest first (owner)",
            "listReportDeliveries",
            parameters=[_ID, *page_parameters()],
            responses={
                "200": json_content(
                    {
                        "type": "object",
                        "properties": {
                            "items": {"type": "array", "items": ref("Delivery")},
                            "next_cursor": {"type": ["string", "null"]},
                        },
                    }
                ),
                **error_responses(403, 404, 422),
            },
        )
    },
}
"""OpenAPI path items of this module."""
