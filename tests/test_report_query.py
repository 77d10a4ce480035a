"""The report vocabulary: the API description offers exactly the filters that parsing knows."""

from __future__ import annotations

from typing import Any

import pytest

from chatcrm.api import MODULES
from chatcrm.api.openapi import openapi_document
from chatcrm.domain import DomainError
from chatcrm.report_query import FILTER_NAMES, REPORT_FILTERS, parse_filters
from connectors.registry import CUSTOMER_CHANNELS


def _document() -> dict[str, Any]:
    """The API's description, assembled as the app factory does (the webhooks left out)."""
    return openapi_document(*(module.OPENAPI_PATHS for module in MODULES))


def _parameters(doc: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}


@pytest.mark.parametrize("path", ["/api/v1/customers", "/api/v1/report/summary"])
def test_report_routes_describe_every_filter(path: str) -> None:
    params = _parameters(_document(), path)
    for report_filter in REPORT_FILTERS:
        described = params[report_filter.name]
        assert described["in"] == "query"
        assert described["description"] == report_filter.description
        assert described["schema"] == report_filter.parameter_schema
    channel = params["channel"]
    assert channel["schema"] == {"type": "array", "items": {"enum": list(CUSTOMER_CHANNELS)}}
    assert channel["style"] == "form" and channel["explode"] is True
    assert params["tag_mode"]["schema"] == {"enum": ["any", "all"], "default": "any"}


def test_export_body_takes_every_filter() -> None:
    export = _document()["paths"]["/api/v1/exports"]["post"]
    schema = export["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]["filters"]["properties"]) == set(FILTER_NAMES)


def test_parsing_knows_every_described_filter_and_no_other() -> None:
    for name in FILTER_NAMES:
        parse_filters({name: ""}, "Asia/Bangkok")  # known: no "unknown parameter"
    with pytest.raises(DomainError) as err:
        parse_filters({"colour": "red"}, "Asia/Bangkok")
    assert err.value.field == "colour"
