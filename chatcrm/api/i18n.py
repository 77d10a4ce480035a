"""The dashboard's words: GET /api/v1/i18n/{locale}, read from the gettext catalogues.

Translators edit ``chatcrm/locale/{locale}/LC_MESSAGES/dashboard.po`` (Babel reads them; see
docs/architecture.md). Message ids are the keys the page's script and HTML use; the answer adds
the channel labels (connectors/registry.py) and the province names (chatcrm/provinces.py), which
are data, not catalogue entries.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from aiohttp import web
from babel.messages.pofile import read_po

from chatcrm.http import ApiError, json_response
from chatcrm.provinces import all_provinces
from connectors.registry import CUSTOMER_CHANNELS, channel_label

routes = web.RouteTableDef()

LOCALES = ("en", "th")
"""The dashboard's languages; a shop's locale is one of them."""
DOMAIN = "dashboard"


def catalogue_path(locale: str) -> Any:
    """Where the `locale` catalogue of the dashboard lives in the package."""
    return resources.files("chatcrm") / "locale" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_messages(locale: str) -> dict[str, str]:
    """The catalogue's translated messages by id (untranslated entries left out)."""
    with catalogue_path(locale).open("rb") as file:
        catalogue = read_po(file, locale=locale, domain=DOMAIN)
    return {str(m.id): str(m.string) for m in catalogue if m.id and m.string}


@cache
def dashboard_words(locale: str) -> dict[str, Any]:
    """Everything the page shows in `locale`: messages, channel labels, province names."""
    return {
        "locale": locale,
        "messages": read_messages(locale),
        "channels": {c: channel_label(c, locale) for c in CUSTOMER_CHANNELS},
        "provinces": [{"en": p.name_en, "th": p.name_th} for p in all_provinces()],
    }


@routes.get("/api/v1/i18n/{locale}")
async def words(request: web.Request) -> web.Response:
    """The dashboard's words in one language (no sign-in: the sign-in page needs them)."""
    locale = request.match_info["locale"]
    if locale not in LOCALES:
        raise ApiError(404, "not_found", f"locale must be one of {', '.join(LOCALES)}", "locale")
    return json_response(dashboard_words(locale), headers={"Cache-Control": "no-cache"})


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/i18n/{locale}": {
        "get": {
            "summary": "The dashboard's words in one language",
            "description": (
                "Read from the gettext catalogue chatcrm/locale/{locale}/LC_MESSAGES/"
                "dashboard.po: `messages` by key, `channels` (customer channel labels) and "
                "`provinces` (English and Thai names). No sign-in needed."
            ),
            "operationId": "dashboardWords",
            "tags": ["dashboard"],
            "security": [],
            "parameters": [
                {
                    "name": "locale",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "enum": list(LOCALES)},
                }
            ],
            "responses": {
                "200": {
                    "description": "messages, channels, provinces",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "locale": {"type": "string"},
                                    "messages": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "channels": {
                                        "type": "object",
                                        "additionalProperties": {"type": "string"},
                                    },
                                    "provinces": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "properties": {
                                                "en": {"type": "string"},
                                                "th": {"type": "string"},
                                            },
                                        },
                                    },
                                },
                            }
                        }
                    },
                },
                "404": {"description": "not a dashboard language"},
            },
        }
    }
}
"""OpenAPI path items of this module."""
