"""The seller's dashboard: a static page over the JSON API, served with a strict CSP."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

routes = web.RouteTableDef()

STATIC = resources.files("chatcrm") / "static"
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: https:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> web.Response:
    path = STATIC / name
    suffix = "." + name.rsplit(".", 1)[-1]
    if "/" in name or suffix not in CONTENT_TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=path.read_bytes(),
        content_type=CONTENT_TYPES[suffix],
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    """The customer report page; it signs in with an API token and calls the JSON API."""
    return _asset("index.html")


@routes.get("/static/{name}")
async def static(request: web.Request) -> web.Response:
    """The page's script and style sheet."""
    return _asset(request.match_info["name"])


OPENAPI_PATHS: dict[str, dict[str, object]] = {
    "/": {
        "get": {
            "summary": "The seller's dashboard (HTML)",
            "security": [],
            "responses": {"200": {"description": "HTML page", "content": {"text/html": {}}}},
        }
    },
    "/static/{name}": {
        "get": {
            "summary": "Dashboard assets",
            "security": [],
            "parameters": [
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "script or style sheet"},
                "404": {"description": "no such asset"},
            },
        }
    },
}
