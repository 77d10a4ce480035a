"""The dashboard page: served with a strict content security policy, data never parsed as HTML."""

from __future__ import annotations

from importlib import resources

from aiohttp.test_utils import TestClient

from tests.conftest import ShopFixture


async def test_page_and_assets_are_served_with_csp(client: TestClient) -> None:
    page = await client.get("/")
    assert page.status == 200
    assert page.content_type == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    html = await page.text()
    assert '<script src="/static/app.js"' in html and "<script>" not in html
    script = await client.get("/static/app.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert (await client.get("/static/app.css")).content_type == "text/css"
    for bad in ("/static/nope.js", "/static/..%2Fapp.py", "/static/index.py"):
        assert (await client.get(bad)).status == 404, bad


def test_script_never_renders_data_as_html() -> None:
    source = (resources.files("chatcrm") / "static" / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, sink


async def test_shop_endpoint_feeds_the_page(client: TestClient, shop: ShopFixture) -> None:
    assert (await client.get("/api/v1/shop")).status == 401
    got = await (await client.get("/api/v1/shop", headers=shop.auth("staff"))).json()
    assert got == {
        "id": shop.id,
        "name": "Shop A",
        "timezone": "Asia/Bangkok",
        "currency": "THB",
        "locale": "th",
        "role": "staff",
    }
