"""Every platform of the registry is offered everywhere: channel API, CLI, filters, exports, docs.

Nothing here names a platform: a platform added to `connectors.registry` is covered as it is.
"""

from __future__ import annotations

import csv
import io

import pytest
from aiohttp.test_utils import TestClient

from chatcrm.cli import build_parser
from chatcrm.store import Store
from connectors.base import Connector
from connectors.registry import CHANNEL_LABELS, CONNECTORS, CUSTOMER_CHANNELS, PLATFORMS
from reports.columns import COLUMNS
from tests.conftest import ShopFixture
from tests.test_customer_query import customer

SAMPLE_SECRET = "sample-Secret_value-1"
"""A value the secret rules accept, for secrets without an example of their shape."""


def sample_secrets(connector: type[Connector]) -> dict[str, str]:
    return {secret.name: secret.example or SAMPLE_SECRET for secret in connector.secrets}


@pytest.mark.parametrize("platform", PLATFORMS)
async def test_channel_api_connects_every_platform(
    client: TestClient, shop: ShopFixture, platform: str
) -> None:
    connector = CONNECTORS[platform]
    body = {"platform": platform, "secrets": sample_secrets(connector)}
    resp = await client.post("/api/v1/channels", json=body, headers=shop.auth())
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["secrets_set"] == sorted(s.name for s in connector.secrets)
    path = created["webhook_path"]
    assert path == f"/webhooks/{platform}/{created['id']}"
    unsigned = await client.post(path, data=b"{}")
    assert unsigned.status == 401
    check = await client.get(path)
    if connector.handshake:
        assert check.status == 403  # no token given
    else:
        assert check.status == 405
        assert check.headers["Allow"] == "POST"
        assert (await check.json())["error"]["code"] == "method_not_allowed"
    one_missing = dict(body["secrets"])
    missing = connector.secrets[-1].name
    del one_missing[missing]
    resp = await client.post(
        "/api/v1/channels", json={"platform": platform, "secrets": one_missing}, headers=shop.auth()
    )
    assert resp.status == 422 and (await resp.json())["error"]["field"] == missing


async def test_unknown_platform_webhook_is_404(client: TestClient) -> None:
    resp = await client.post("/webhooks/icq/ch_123", data=b"{}")
    assert resp.status == 404


def test_cli_offers_every_platform_and_its_secrets() -> None:
    parser = build_parser()
    for platform, connector in CONNECTORS.items():
        argv = ["channel", "add", "--shop", "shop_1", "--platform", platform]
        for secret in connector.secrets:
            argv += ["--" + secret.name.replace("_", "-"), SAMPLE_SECRET]
        args = parser.parse_args(argv)
        assert args.platform == platform
        assert all(getattr(args, s.name) == SAMPLE_SECRET for s in connector.secrets)


async def test_openapi_describes_every_platform(client: TestClient) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    paths = document["paths"]
    for platform, connector in CONNECTORS.items():
        item = paths[f"/webhooks/{platform}/{{channel_id}}"]
        assert "post" in item
        assert ("get" in item) == bool(connector.handshake)
    add = paths["/api/v1/channels"]["post"]
    schema = add["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"]["platform"]["enum"] == list(PLATFORMS)
    channel_param = next(
        p for p in paths["/api/v1/customers"]["get"]["parameters"] if p["name"] == "channel"
    )
    assert channel_param["schema"]["items"]["enum"] == list(CUSTOMER_CHANNELS)


async def test_every_channel_filters_and_exports_with_its_label(
    client: TestClient, store: Store, shop: ShopFixture
) -> None:
    docs = [customer(shop.id, i, channel=ch) for i, ch in enumerate(CUSTOMER_CHANNELS)]
    await store.db["customers"].insert_many(docs)
    for i, channel in enumerate(CUSTOMER_CHANNELS):
        resp = await client.get(f"/api/v1/customers?channel={channel}", headers=shop.auth())
        assert resp.status == 200
        assert [row["id"] for row in (await resp.json())["items"]] == [docs[i]["_id"]]
    resp = await client.post(
        "/api/v1/exports",
        json={"mode": "all", "format": "csv"},
        headers=shop.auth(),
    )
    assert resp.status == 200, await resp.text()
    rows = list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    header = next(c.th for c in COLUMNS if c.key == "channel")  # the shop's locale is Thai
    assert sorted(r[header] for r in rows) == sorted(
        CHANNEL_LABELS[c]["th"] for c in CUSTOMER_CHANNELS
    )
