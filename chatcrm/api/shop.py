"""GET /api/v1/shop: the caller's shop and role (what the dashboard shows and formats with)."""

from __future__ import annotations

from aiohttp import web

from chatcrm.http import caller_shop, json_response

routes = web.RouteTableDef()


@routes.get("/api/v1/shop")
async def get_shop(request: web.Request) -> web.Response:
    """The shop the token belongs to: name, time zone, currency, locale, and the caller's role."""
    caller = await caller_shop(request)
    shop = caller.shop
    return json_response(
        {
            "id": shop.id,
            "name": shop.name,
            "timezone": shop.timezone,
            "currency": shop.currency,
            "locale": shop.locale,
            "role": caller.who.role,
        }
    )


OPENAPI_PATHS: dict[str, dict[str, object]] = {
    "/api/v1/shop": {
        "get": {
            "summary": "The caller's shop and role",
            "responses": {
                "200": {
                    "description": "the shop",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "string"},
                                    "name": {"type": "string"},
                                    "timezone": {"type": "string"},
                                    "currency": {"type": "string"},
                                    "locale": {"type": "string"},
                                    "role": {"type": "string", "enum": ["owner", "staff"]},
                                },
                            }
                        }
                    },
                },
                "401": {"description": "no or bad token"},
                "404": {"description": "shop deleted"},
            },
        }
    }
}
