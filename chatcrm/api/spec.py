"""Building blocks of the OpenAPI 3.1 description shared by the route modules."""

from __future__ import annotations

from typing import Any

from chatcrm.domain import CUSTOMER_STATUSES
from chatcrm.report_query import REPORT_FILTERS, SORT_FIELDS
from chatcrm.schedules import EVERY, MAX_RECIPIENTS, PERIODS, WEEKDAYS
from chatcrm.schedules import FORMATS as SCHEDULE_FORMATS
from connectors.registry import CUSTOMER_CHANNELS
from reports.rows import ROW_FIELDS

_ERROR_TEXT = {
    400: "Malformed request body",
    401: "No or unknown bearer token",
    403: "The token's role may not do this",
    404: "Not found (or another shop's)",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Wrong content type",
    422: "An invalid value; `field` names it",
    428: "A precondition (If-Match) is required",
    502: "The chat platform cannot be reached or failed",
    503: "The database does not answer",
    504: "The chat platform did not answer in time",
}

BEARER = [{"bearerAuth": []}, {"sessionCookie": []}]
"""Security requirement of the authenticated routes: an API token or a dashboard session."""


def ref(name: str) -> dict[str, str]:
    """A reference to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    """A response with a JSON body of `schema`."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def items_content(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    """A response listing `schema` objects: ``{"items": [...]}``."""
    return json_content(
        {"type": "object", "properties": {"items": {"type": "array", "items": schema}}},
        description,
    )


def json_request(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    """A required JSON object request body with these `properties`."""
    schema = {"type": "object", "required": required, "properties": properties}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def error_responses(*statuses: int) -> dict[str, Any]:
    """The JSON error responses for `statuses` (401 and 503 always included)."""
    wanted = sorted({401, 503, *statuses})
    return {str(s): json_content(ref("Error"), _ERROR_TEXT[s]) for s in wanted}


def path_id(description: str = "Customer id") -> dict[str, Any]:
    """The ``{id}`` path parameter."""
    return {
        "name": "id",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "maxLength": 100},
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "description": description}
    param["schema"] = schema
    if schema.get("type") == "array":
        param.update({"style": "form", "explode": True})
    return param


FILTER_PARAMETERS = [_query(f.name, f.parameter_schema, f.description) for f in REPORT_FILTERS]
"""Query parameters of the customer report filters (list, summary)."""


def page_parameters(default_limit: int = 50) -> list[dict[str, Any]]:
    """``limit`` (1-200) and ``cursor``."""
    return [
        _query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": 200, "default": default_limit},
            "Page size",
        ),
        _query(
            "cursor",
            {"type": "string", "maxLength": 1000},
            "Opaque `next_cursor` of the previous page",
        ),
    ]


SORT_PARAMETERS = [
    _query("sort", {"enum": list(SORT_FIELDS), "default": "paid_total"}, "Sort field"),
    _query("order", {"enum": ["asc", "desc"], "default": "asc"}, "Sort direction"),
]

FILTER_VALUE: dict[str, Any] = {
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
}
"""One report filter's value in a JSON body: a text, or a list of texts."""


def filters_object(description: str) -> dict[str, Any]:
    """The schema of a JSON object of report filters (an export's, a segment's)."""
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": {f.name: FILTER_VALUE for f in REPORT_FILTERS},
    }


_DATETIME = {"type": ["string", "null"], "format": "date-time"}
_SCHEDULE_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 100},
    "segment_id": {"type": ["string", "null"], "maxLength": 100},
    "cadence": {"$ref": "#/components/schemas/Cadence"},
    "recipients": {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_RECIPIENTS,
        "items": {"type": "string", "format": "email", "maxLength": 254},
    },
    "format": {"enum": list(SCHEDULE_FORMATS), "default": "xlsx"},
    "period": {
        "enum": list(PERIODS),
        "default": "cadence",
        "description": "cadence: customers updated since the previous fire time (whole "
        "days: yesterday, the previous 7 days, the previous month); all: every customer",
    },
    "enabled": {"type": "boolean", "default": True},
}
_MONEY = {"type": "integer", "description": "Minor units (satang for THB)"}

COMPONENTS: dict[str, Any] = {
    "securitySchemes": {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "description": "A shop user's API token (role owner or staff)",
        },
        "sessionCookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": "chatcrm_session",
            "description": "The dashboard's session (POST /api/v1/session); unsafe methods "
            "also need the session's X-CSRF-Token header",
        },
    },
    "schemas": {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "field"],
                    "properties": {
                        "code": {"type": "string"},
                        "message": {"type": "string"},
                        "field": {"type": ["string", "null"]},
                    },
                }
            },
        },
        "CustomerRow": {
            "type": "object",
            "required": list(ROW_FIELDS),
            "properties": {
                "id": {"type": "string"},
                "name": {
                    "type": ["string", "null"],
                    "description": "the name the seller typed, else the platform's",
                },
                "profile_name": {
                    "type": ["string", "null"],
                    "description": "the name the platform's profile gives",
                },
                "channel": {"enum": list(CUSTOMER_CHANNELS)},
                "platform_user_id": {
                    "type": "string",
                    "description": "with `channel`: the person's first chat identity",
                },
                "channels": {
                    "type": "array",
                    "items": {"enum": list(CUSTOMER_CHANNELS)},
                    "description": "the channels of all the person's identities (merged "
                    "customers); the `channel` filter matches any of them",
                },
                "identities": {
                    "type": "array",
                    "description": "every chat identity of the person, the first one first",
                    "items": {
                        "type": "object",
                        "properties": {
                            "channel": {"enum": list(CUSTOMER_CHANNELS)},
                            "platform_user_id": {"type": "string"},
                        },
                    },
                },
                "province": {
                    "type": ["string", "null"],
                    "description": "English name: own, else from the postal code; null unknown",
                },
                "postal_code": {"type": ["string", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "status": {"enum": list(CUSTOMER_STATUSES)},
                "paid_total": _MONEY,
                "order_count": {"type": "integer"},
                "average_order_value": {"type": ["integer", "null"]},
                "unpaid_total": _MONEY,
                "currency": {"type": "string"},
                "last_order_at": _DATETIME,
                "updated_at": _DATETIME,
                "version": {"type": "integer", "description": 'The ETag is `"<version>"`'},
            },
        },
        "CustomerPage": {
            "type": "object",
            "required": ["items", "total", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": ref("CustomerRow")},
                "total": {"type": "integer"},
                "next_cursor": {"type": ["string", "null"]},
            },
        },
        "CustomerEdit": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": ["string", "null"], "maxLength": 200},
                "tags": {
                    "type": "array",
                    "maxItems": 50,
                    "items": {"type": "string", "maxLength": 100},
                },
                "notes": {"type": ["string", "null"], "maxLength": 5000},
                "phone": {
                    "type": ["string", "null"],
                    "maxLength": 40,
                    "description": "9-15 digits (Thai digits too) with an optional leading +, "
                    "spaces, dashes, dots, parentheses; stored as imports and orders store it, "
                    "a Thai number in the local form (`+66 81-234-5678` -> `0812345678`)",
                },
                "email": {
                    "type": ["string", "null"],
                    "maxLength": 254,
                    "description": "stored trimmed and in lower case, as imports and orders",
                },
                "province": {"type": ["string", "null"], "maxLength": 100},
                "postal_code": {"type": ["string", "null"], "maxLength": 10},
                "version": {
                    "type": "integer",
                    "description": "The version edited, when If-Match is not sent",
                },
            },
        },
        "Customer": {
            "allOf": [
                ref("CustomerRow"),
                {
                    "type": "object",
                    "properties": {
                        "phone": {"type": ["string", "null"]},
                        "email": {"type": ["string", "null"]},
                        "notes": {"type": "string"},
                    },
                },
            ]
        },
        "ChannelCount": {
            "type": "object",
            "properties": {"channel": {"type": "string"}, "customers": {"type": "integer"}},
        },
        "Summary": {
            "type": "object",
            "required": ["customers", "paid_total", "currency", "channels", "tags", "provinces"],
            "properties": {
                "customers": {"type": "integer"},
                "paid_total": _MONEY,
                "currency": {"type": "string"},
                "paid_totals": {
                    "type": "array",
                    "description": "Per currency, when customers pay in several",
                    "items": {
                        "type": "object",
                        "properties": {
                            "currency": {"type": ["string", "null"]},
                            "customers": {"type": "integer"},
                            "paid_total": _MONEY,
                        },
                    },
                },
                "channels": {"type": "array", "items": ref("ChannelCount")},
                "most": {"oneOf": [ref("ChannelCount"), {"type": "null"}]},
                "fewest": {"oneOf": [ref("ChannelCount"), {"type": "null"}]},
                "tags": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "tag": {"type": "string"},
                            "customers": {"type": "integer"},
                        },
                    },
                },
                "provinces": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "province": {"type": "string"},
                            "province_th": {"type": ["string", "null"]},
                            "customers": {"type": "integer"},
                        },
                    },
                },
            },
        },
        "Message": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "channel": {"type": "string"},
                "direction": {"enum": ["in", "out"]},
                "type": {"type": "string"},
                "text": {
                    "type": ["string", "null"],
                    "description": "the current text; null for media and withdrawn messages",
                },
                "sent_at": _DATETIME,
                "meta": {
                    "type": "object",
                    "description": "what the message carries besides text: a sticker, a "
                    "location or venue, a shared contact's phone number, a poll's options",
                },
                "edited_at": {
                    **_DATETIME,
                    "description": "when the sender last edited it (null: never)",
                },
                "earlier_texts": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "the texts it had before the edits, oldest first",
                },
                "unsent_at": {
                    **_DATETIME,
                    "description": "when the sender withdrew it (null: not withdrawn); a "
                    "withdrawn message keeps no text",
                },
            },
        },
        "Segment": {
            "type": "object",
            "required": ["id", "name", "filters", "sort", "order"],
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "filters": {"type": "object"},
                "sort": {"enum": list(SORT_FIELDS)},
                "order": {"enum": ["asc", "desc"]},
                "created_at": _DATETIME,
                "updated_at": _DATETIME,
            },
        },
        "SegmentInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "filters": filters_object("The report's query parameters (not `segment`)"),
                "sort": {"enum": list(SORT_FIELDS), "default": "paid_total"},
                "order": {"enum": ["asc", "desc"], "default": "asc"},
            },
        },
        "SegmentEdit": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
                "filters": filters_object("The report's query parameters (not `segment`)"),
                "sort": {"enum": list(SORT_FIELDS)},
                "order": {"enum": ["asc", "desc"]},
            },
        },
        "Cadence": {
            "type": "object",
            "additionalProperties": False,
            "required": ["every", "at"],
            "properties": {
                "every": {"enum": list(EVERY)},
                "at": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"},
                "weekday": {"enum": [*WEEKDAYS, None], "description": "every week"},
                "day": {
                    "oneOf": [
                        {"type": "integer", "minimum": 1, "maximum": 28},
                        {"const": "last"},
                        {"type": "null"},
                    ],
                    "description": "every month",
                },
            },
        },
        "ReportSchedule": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "name": {"type": "string"},
                "segment_id": {"type": ["string", "null"]},
                "cadence": ref("Cadence"),
                "timezone": {"type": "string"},
                "recipients": {"type": "array", "items": {"type": "string"}},
                "format": {"enum": list(SCHEDULE_FORMATS)},
                "period": {"enum": list(PERIODS)},
                "enabled": {"type": "boolean"},
                "next_fire_at": _DATETIME,
                "created_at": _DATETIME,
                "updated_at": _DATETIME,
            },
        },
        "ReportScheduleInput": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name", "cadence", "recipients"],
            "properties": _SCHEDULE_FIELDS,
        },
        "ReportScheduleEdit": {
            "type": "object",
            "additionalProperties": False,
            "properties": _SCHEDULE_FIELDS,
        },
        "Delivery": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "schedule_id": {"type": "string"},
                "kind": {"enum": ["scheduled", "test"]},
                "fire_time": _DATETIME,
                "state": {"enum": ["sending", "retrying", "sent", "failed", "skipped"]},
                "attempts": {"type": "integer"},
                "last_error": {"type": ["string", "null"]},
                "rows": {"type": ["integer", "null"]},
                "message_id": {"type": ["string", "null"]},
                "recipients": {"type": "array", "items": {"type": "string"}},
                "delivered_to": {"type": "array", "items": {"type": "string"}},
                "sent_at": _DATETIME,
            },
        },
        "AuditEntry": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "at": _DATETIME,
                "actor": {"type": "string"},
                "action": {"type": "string"},
                "before": {"type": ["object", "null"]},
                "after": {"type": ["object", "null"]},
                "version": {
                    "type": ["integer", "null"],
                    "description": "customer.update: the customer's version the edit made",
                },
                "reason": {
                    "type": "object",
                    "description": (
                        "only on a customer.merge made automatically (actor "
                        "`system:auto-merge`): the shared phone (`field`, `value`) and the "
                        "platform that gave it (`source`)"
                    ),
                },
            },
        },
    },
}
"""The ``components`` section of the document."""
