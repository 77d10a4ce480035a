"""The report summary: /api/v1/report/summary (owner or staff)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from chatcrm.api.customers import READERS
from chatcrm.api.spec import BEARER, FILTER_PARAMETERS, error_responses, json_content, ref
from chatcrm.http import caller_shop, json_response, query_params
from chatcrm.report_query import parse_filters
from chatcrm.segments import resolve_segment
from reports.summary import shape_summary

routes = web.RouteTableDef()


@routes.get("/api/v1/report/summary")
async def report_summary(request: web.Request) -> web.Response:
    """Customers and paid total matching the filters, per channel, tag and province."""
    caller = await caller_shop(request, *READERS)
    params = query_params(request)
    filters = parse_filters(params, caller.shop.timezone)
    filters, _ = await resolve_segment(caller.store, caller.shop.timezone, filters)
    raw = await caller.store.customers.summary(filters)
    return json_response(shape_summary(raw, caller.shop.currency))


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/report/summary": {
        "get": {
            "summary": "Summary of the customer report",
            "description": (
                "With the same filters as the report: customers, paid total, customers per "
                "channel (most first, with the most and fewest), per tag and per province "
                "(unknown under `unknown`)."
            ),
            "operationId": "reportSummary",
            "tags": ["report"],
            "security": BEARER,
            "parameters": list(FILTER_PARAMETERS),
            "responses": {"200": json_content(ref("Summary")), **error_responses(403, 422)},
        }
    }
}
"""OpenAPI path items of this module."""
