"""The OpenAPI document describes every route, and schemathesis finds no server error."""

from __future__ import annotations

import asyncio
from typing import Any

import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from aiohttp.test_utils import TestClient
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from chatcrm.store import Store
from tests.conftest import ShopFixture
from tests.test_api_customers import seed_shop

MAX_EXAMPLES = 30
"""Examples per operation and mode: enough to meet odd input, small enough to stay quick."""


async def test_document_describes_every_route(client: TestClient) -> None:
    resp = await client.get("/api/openapi.json")  # no token needed
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    described = {
        (path, method)
        for path, item in doc["paths"].items()
        for method in item
        if method in methods
    }
    registered = {
        (route.resource.canonical, route.method.lower())
        for route in client.app.router.routes()
        if route.method not in ("HEAD", "OPTIONS") and route.resource is not None
    }
    assert registered, "no routes found"
    assert registered <= described, registered - described
    for (path, method), operation in (
        ((p, m), op) for p, item in doc["paths"].items() for m, op in item.items() if m in methods
    ):
        assert operation.get("responses"), f"{method} {path} lists no responses"
        if operation.get("security") != []:
            assert "401" in operation["responses"], f"{method} {path} lacks 401"


def _nothing_to_negate(doc: dict[str, Any], path: str, method: str) -> bool:
    """Whether every request is valid: only free-text path parameters and bodies of any JSON.

    Schemathesis would spend hundreds of rejected draws (seconds) finding no negative case.
    """
    item = doc["paths"][path]
    operation = item[method.lower()]
    parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
    bodies = operation.get("requestBody", {}).get("content", {}).values()
    return all(
        p.get("in") == "path" and p.get("schema") == {"type": "string"} for p in parameters
    ) and all(body.get("schema") == {} for body in bodies)


def _fuzz(doc: dict[str, Any], base_url: str, headers: dict[str, str], real_id: str) -> int:
    """Run every operation's positive and negative cases; return how many were sent."""
    schema = schemathesis.openapi.from_dict(doc)
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [schemathesis.GenerationMode.POSITIVE]
        if not _nothing_to_negate(doc, operation.path, operation.method):
            modes.append(schemathesis.GenerationMode.NEGATIVE)
        for mode in modes:
            strategy = operation.as_strategy(mode, headers=headers)
            if "{id}" in operation.path:  # half of the cases hit a real customer
                strategy = st.one_of(
                    strategy,
                    operation.as_strategy(mode, headers=headers, path_parameters={"id": real_id}),
                )

            @hypothesis.settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
                suppress_health_check=list(hypothesis.HealthCheck),
            )
            @hypothesis.given(case=strategy)
            def check(case: schemathesis.Case) -> None:
                nonlocal sent
                response = case.call(base_url=base_url, headers=headers, timeout=30)
                sent += 1
                case.validate_response(response, checks=[not_a_server_error])

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                # no parameter or body to break: nothing negative to send
                assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    return sent


@pytest.mark.slow  # about 850 requests
async def test_schemathesis_finds_no_server_error(
    client: TestClient, store: Store, shop: ShopFixture, other_shop: ShopFixture
) -> None:
    await seed_shop(store, other_shop.id, start=100)
    await seed_shop(store, shop.id)
    doc = await (await client.get("/api/openapi.json")).json()
    base_url = str(client.make_url("/")).rstrip("/")
    assert base_url.startswith("http://127.0.0.1:")
    # the server runs on this event loop; schemathesis' blocking client runs beside it
    sent = await asyncio.to_thread(_fuzz, doc, base_url, shop.auth("owner"), "cus_0001")
    assert sent > 100
