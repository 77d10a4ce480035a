"""Customer exports: POST /api/v1/exports answers an XLSX or CSV file (a ZIP when split)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from chatcrm.api.spec import filters_object
from chatcrm.domain import CustomerFilters, Shop, Sort
from chatcrm.http import ApiError, caller_shop, json_body
from chatcrm.keys import DATABASE, EXPORT_LIMITS
from chatcrm.report_query import SORT_FIELDS
from chatcrm.store import ShopStore
from reports.exports import (
    EXPORT_ROW_LIMIT,
    MODES,
    ExportRequest,
    ExportTooLarge,
    export_customers,
    export_workdir,
    parse_export_request,
)
from reports.writers import FORMATS

routes = web.RouteTableDef()

CHUNK = 256 * 1024


@routes.post("/api/v1/exports")
async def create_export(request: web.Request) -> web.StreamResponse:
    """Export selected, filtered or all customers; the answer is the file itself."""
    caller = await caller_shop(request, "owner", "staff")
    body = await json_body(request)
    export = parse_export_request(body, caller.shop.timezone)
    return await _export_response(request, caller.store, caller.shop, export, caller.who.actor)


@routes.get("/api/v1/exports/{token}")
async def download_export(request: web.Request) -> web.StreamResponse:
    """A download link the chat bot handed out: every customer, once, within 15 minutes."""
    store = request.app[DATABASE].store
    link = await store.export_links.redeem(request.match_info["token"])
    shop = await store.shops.get(link["shop_id"]) if link else None
    if link is None or shop is None:
        raise ApiError(404, "not_found", "unknown, used or expired download link")
    export = ExportRequest("all", link["format"], CustomerFilters(), Sort())
    return await _export_response(request, store.for_shop(shop.id), shop, export, link["actor"])


async def _export_response(
    request: web.Request, store: ShopStore, shop: Shop, export: ExportRequest, actor: str
) -> web.StreamResponse:
    """Run the export and stream its file; 422 export_too_large beyond one file."""
    async with export_workdir() as workdir:
        try:
            result = await export_customers(
                store, shop, export, actor=actor, workdir=workdir, limits=request.app[EXPORT_LIMITS]
            )
        except ExportTooLarge as err:
            raise ApiError(
                422, err.code, str(err), None, count=err.count, limit=err.limit
            ) from None
        response = web.StreamResponse(
            headers={
                "Content-Type": result.content_type,
                "Content-Disposition": f'attachment; filename="{result.filename}"',
                "X-Export-Rows": str(result.rows),
                "X-Export-Parts": str(result.parts),
                "Cache-Control": "no-store",
            }
        )
        response.content_length = result.path.stat().st_size
        await response.prepare(request)
        with result.path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/exports": {
        "post": {
            "summary": "Export customers as XLSX or CSV",
            "description": (
                f"Up to {EXPORT_ROW_LIMIT} rows the answer is the file itself "
                "(Content-Disposition: attachment; the file name has the shop id and the "
                "shop-local date). More rows answer 422 export_too_large with `count` and "
                "`limit`, unless `split` is true: then a ZIP of parts of at most "
                f"{EXPORT_ROW_LIMIT} rows each. Roles: owner, staff. Recorded in the audit trail."
            ),
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "additionalProperties": False,
                            "required": ["mode", "format"],
                            "properties": {
                                "mode": {"type": "string", "enum": list(MODES)},
                                "format": {"type": "string", "enum": list(FORMATS)},
                                "filters": filters_object("mode filtered: the report's filters"),
                                "ids": {
                                    "type": "array",
                                    "description": "mode selected: customer ids",
                                    "items": {"type": "string", "maxLength": 100},
                                    "minItems": 1,
                                    "maxItems": EXPORT_ROW_LIMIT,
                                },
                                "sort": {
                                    "type": "string",
                                    "enum": list(SORT_FIELDS),
                                    "default": "paid_total",
                                },
                                "order": {
                                    "type": "string",
                                    "enum": ["asc", "desc"],
                                    "default": "asc",
                                },
                                "split": {"type": "boolean", "default": False},
                            },
                        },
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "the export file (a ZIP of parts when split)",
                    "headers": {
                        "Content-Disposition": {"schema": {"type": "string"}},
                        "X-Export-Rows": {"schema": {"type": "integer"}},
                        "X-Export-Parts": {"schema": {"type": "integer"}},
                    },
                    "content": {
                        FORMATS["xlsx"][0]: {"schema": {"type": "string", "format": "binary"}},
                        "text/csv": {"schema": {"type": "string"}},
                        "application/zip": {"schema": {"type": "string", "format": "binary"}},
                    },
                },
                "400": _error("the body is not a JSON object"),
                "401": _error("no or bad token"),
                "403": _error("role not allowed"),
                "404": _error("the shop no longer exists"),
                "413": _error("body too large"),
                "422": _error(
                    "invalid value (field names it), or export_too_large with count and limit"
                ),
                "503": _error("the database does not answer"),
            },
        }
    },
    "/api/v1/exports/{token}": {
        "get": {
            "summary": "Download an export through a link the chat bot gave",
            "description": (
                "The chat bot's `/export` on LINE, Messenger and WhatsApp answers a link to "
                "this route: every customer of the link's shop in the format asked for, the same "
                "file as POST /api/v1/exports. The link is the credential: it works once, "
                "within 15 minutes. Recorded in the audit trail as the chat admin's export."
            ),
            "operationId": "downloadExport",
            "tags": ["exports"],
            "security": [],
            "parameters": [
                {
                    "name": "token",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "maxLength": 100},
                }
            ],
            "responses": {
                "200": {
                    "description": "the export file",
                    "content": {
                        FORMATS["xlsx"][0]: {"schema": {"type": "string", "format": "binary"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "404": _error("unknown, used or expired link"),
                "422": _error("export_too_large: more customers than one file holds"),
                "503": _error("the database does not answer"),
            },
        }
    },
}
"""OpenAPI 3.1 path items of this module's routes."""
