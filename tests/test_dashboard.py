"""The dashboard page: served with a strict content security policy, data never parsed as HTML."""

from __future__ import annotations

import re
from importlib import resources

from aiohttp.test_utils import TestClient

from chatcrm.api.i18n import LOCALES, read_messages
from chatcrm.customer_edit import EDITABLE
from chatcrm.domain import CUSTOMER_STATUSES, ORDER_STATUSES, ROLES
from chatcrm.report_query import FILTER_NAMES
from chatcrm.schedules import BODY_FIELDS, EVERY
from chatcrm.store.schedules import FAILED, RETRYING, SENDING, SENT, SKIPPED
from connectors.registry import CONNECTORS, CUSTOMER_CHANNELS
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
    for script in SCRIPTS:
        source = (resources.files("chatcrm") / "static" / script).read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, (script, sink)


async def test_shop_endpoint_feeds_the_page(client: TestClient, shop: ShopFixture) -> None:
    assert (await client.get("/api/v1/shop")).status == 401
    got = await (await client.get("/api/v1/shop", headers=shop.auth("staff"))).json()
    assert got == {
        "id": shop.id,
        "name": "Shop A",
        "timezone": "Asia/Bangkok",
        "currency": "THB",
        "locale": "th",
        "auto_merge": False,
        "role": "staff",
    }


def test_every_word_of_the_page_is_in_both_catalogues() -> None:
    static = resources.files("chatcrm") / "static"
    script = "".join((static / name).read_text() for name in SCRIPTS)
    html = (static / "index.html").read_text()
    used = set(re.findall(r'\bt\(\s*"([\w.]+)"', script))
    used |= {k for pair in re.findall(r'\bt\(\w+ \? "(\w+)" : "(\w+)"', script) for k in pair}
    used |= set(re.findall(r'\bbutton\("(\w+)"', script))  # owner.js's row buttons
    used |= set(re.findall(r'data-i18n(?:-label)?="([\w.]+)"', html))
    used |= {f"status_{s}" for s in CUSTOMER_STATUSES} | {f"order_{s}" for s in ORDER_STATUSES}
    used |= {f"field_{name}" for name in (*EDITABLE, *FILTER_NAMES)}
    used |= OWNER_PAGE_WORDS
    assert len(used) > 100
    catalogues = {locale: read_messages(locale) for locale in LOCALES}
    for locale, messages in catalogues.items():
        assert sorted(used - set(messages)) == [], locale
    assert set(catalogues["en"]) == set(catalogues["th"])
    thai = catalogues["th"]
    assert thai["notes"] != thai["save"]  # two controls, two names
    assert all(re.search("[\u0e00-\u0e7f]", thai[k]) for k in used if k not in ("title",)), [
        k for k in used if not re.search("[\u0e00-\u0e7f]", thai[k])
    ]


SCRIPTS = ("app.js", "owner.js", "people.js")
"""The page's scripts (index.html loads them all)."""

OWNER_PAGE_WORDS = (
    {f"field_{s.name}" for c in CONNECTORS.values() for s in c.secrets}
    | {f"help_{p}_{s.name}" for p, c in CONNECTORS.items() for s in c.secrets}
    | {f"field_{name}" for name in BODY_FIELDS if name != "cadence"}
    | {f"field_cadence.{part}" for part in ("every", "at", "weekday", "day")}
    | {f"state_{s}" for s in (SENDING, RETRYING, SENT, FAILED, SKIPPED)}
    | {f"kind_{k}" for k in ("scheduled", "test")}
    | {f"role_{r}" for r in ROLES}
    | {f"every_{e}" for e in EVERY}
)
"""Words owner.js builds keys of: each platform's secrets with their help, schedule fields,
delivery states and kinds, roles."""


async def test_words_are_served_per_language(client: TestClient) -> None:
    thai = await (await client.get("/api/v1/i18n/th")).json()
    assert thai["locale"] == "th" and thai["messages"]["signOut"] == "ออกจากระบบ"
    assert {"en": "Chiang Mai", "th": "เชียงใหม่"} in thai["provinces"]
    assert len(thai["provinces"]) == 77
    assert set(thai["channels"]) == set(CUSTOMER_CHANNELS)
    english = await (await client.get("/api/v1/i18n/en")).json()
    assert english["messages"]["err_wrong_credentials"] == "Wrong e-mail or password"
    missing = await client.get("/api/v1/i18n/fr")
    assert missing.status == 404
    assert (await missing.json())["error"]["field"] == "locale"
