"""The report page and the customer page in a real browser: filters, the address bar, sorting,
paging, selection and exports, segments, the customer edit and its conflict, both languages,
a phone-sized screen. Fixtures: tests/browser_support.py; checks are on what the page shows and
on the files it downloads.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Browser, Page, Route, expect

from chatcrm.imports import run_import
from tests.browser_support import (
    EXPORT_ROWS,
    PASSWORD,
    Demo,
    LiveServer,
    new_page,
    screenshot,
    serious_accessibility_violations,
)

pytestmark = pytest.mark.slow  # a browser and a service

PEOPLE = [
    ("line", "Alice Brown", "Bangkok", "10110", "VIP;COD"),
    ("telegram", "Somchai", "Chiang Mai", "50200", "VIP"),
    ("messenger", "Nok 🌸", "Phuket", "83000", "COD"),
    ("line", "David Lee", "Khon Kaen", "40000", ""),
] * 3
CUSTOMERS_CSV = "channel,platform_user_id,name,province,postal_code,tags\n" + "".join(
    f"{channel},U{n:04d},{name} {n},{province},{postal},{tags}\n"
    for n, (channel, name, province, postal, tags) in enumerate(PEOPLE)
)
ORDERS_CSV = (
    "order_id,amount,customer_channel,customer_platform_user_id,status,paid_at\n"
    + "".join(
        f"A-{n},{(n + 1) * 375}.50,{PEOPLE[n][0]},U{n:04d},paid,2026-01-0{n % 9 + 1}T10:00+07:00\n"
        for n in range(12)
    )
)
ROWS = "#customers tbody tr"


def shop_with_customers(live: LiveServer, locale: str = "en") -> str:
    """A shop with the dozen customers above, each with one paid order."""

    async def make() -> str:
        shop = await live.store.shops.create("Corner Store", locale=locale)
        scoped = live.store.for_shop(shop.id)
        await run_import(scoped, "customers", CUSTOMERS_CSV.encode(), "THB", "test", source="test")
        await run_import(scoped, "orders", ORDERS_CSV.encode(), "THB", "test", source="test")
        return shop.id

    return live.run(make())


def signed_in(browser: Browser, live: LiveServer, shop_id: str, **options: Any) -> tuple[Page, Any]:
    """A fresh page signed in as a new owner of `shop_id`; the page and its console."""
    page, console = new_page(browser, options.pop("locale", "en-US"))
    if "width" in options:
        page.set_viewport_size({"width": options["width"], "height": 844})
    email = live.add_user(shop_id, options.get("role", "owner"))
    page.goto(live.url + "/" + options.get("query", ""))
    page.locator("#email-input").fill(email)
    page.locator("#password-input").fill(PASSWORD)
    page.locator("#sign-in-form button[type=submit]").click()
    expect(page.locator(ROWS).first).to_be_visible()
    return page, console


def apply(page: Page) -> None:
    page.locator("#filters button[type=submit]").click()


def names(page: Page) -> list[str]:
    return page.locator(f"{ROWS} td:nth-child(2)").all_inner_texts()


def test_every_filter_and_the_address_bar(browser: Browser, live: LiveServer) -> None:
    page, console = signed_in(browser, live, shop_with_customers(live))
    filters = page.locator("#filters")
    expect(page.locator(ROWS)).to_have_count(12)
    page.get_by_label("Telegram", exact=True).check()
    page.get_by_label("Messenger", exact=True).check()
    apply(page)
    expect(page.locator(ROWS)).to_have_count(6)
    expect(page.locator("#sum-customers")).to_have_text("6")
    assert "channel=telegram&channel=messenger" in page.url
    # province in Thai on an English page; the suggestions hold every province
    assert page.locator("#province-list option[value='Chiang Mai']").count() == 1
    filters.get_by_label("Province").fill("เชียงใหม่")
    apply(page)
    expect(page.locator(ROWS)).to_have_count(3)
    assert all(n.startswith("Somchai") for n in names(page))
    expect(page.locator(f"{ROWS} td:nth-child(4)").first).to_have_text("Chiang Mai")
    page.reload()  # the address bar alone restores the view
    expect(page.locator(ROWS)).to_have_count(3)
    expect(filters.get_by_label("Province")).to_have_value("เชียงใหม่")
    expect(page.get_by_label("Telegram", exact=True)).to_be_checked()
    page.go_back()  # the two channels, without the province
    expect(page.locator(ROWS)).to_have_count(6)
    expect(filters.get_by_label("Province")).to_have_value("")
    page.go_forward()
    expect(page.locator(ROWS)).to_have_count(3)
    page.get_by_role("button", name="Clear").click()
    expect(page.locator(ROWS)).to_have_count(12)

    filters.get_by_label("Postal code").fill("83*")
    apply(page)
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.locator("#sum-channels li")).to_have_count(1)
    filters.get_by_label("Postal code").fill("8x")  # rejected: no stale figures stay
    apply(page)
    expect(page.get_by_role("alert")).to_have_text(re.compile("^Postal code: five digits"))
    expect(page.locator(ROWS)).to_have_count(0)
    expect(page.locator("#sum-customers")).to_have_text("–")
    expect(page.locator("#sum-channels li")).to_have_count(0)
    expect(page.locator("#more")).to_be_hidden()
    filters.get_by_label("Postal code").fill("")

    today = datetime.now(ZoneInfo("Asia/Bangkok")).date().isoformat()
    filters.get_by_label("Updated from").fill(today)
    apply(page)
    expect(page.locator(ROWS)).to_have_count(12)
    filters.get_by_label("Updated to").fill("2020-01-01")
    apply(page)
    expect(page.locator("#empty")).to_have_text("No customer matches these filters.")
    expect(page.locator(ROWS)).to_have_count(0)
    filters.get_by_label("Updated from").fill("")
    filters.get_by_label("Updated to").fill("")

    assert page.locator("#tag-list option[value=VIP]").count() == 1  # the shop's tags
    filters.get_by_label("Add a tag").fill("VIP")
    filters.get_by_label("Add a tag").press("Enter")
    filters.get_by_label("Add a tag").fill("COD")
    filters.get_by_label("Add a tag").press("Enter")
    expect(page.get_by_role("button", name="Remove tag COD")).to_be_visible()
    apply(page)
    expect(page.locator(ROWS)).to_have_count(9)  # any of them
    filters.get_by_label("Match").select_option("all")
    apply(page)
    expect(page.locator(ROWS)).to_have_count(3)
    assert all(n.startswith("Alice") for n in names(page))
    assert "tag_mode=all" in page.url
    page.get_by_role("button", name="Remove tag VIP").click()
    filters.get_by_label("Search").fill("Nok")
    apply(page)
    expect(page.locator(ROWS)).to_have_count(3)
    assert all(n.startswith("Nok 🌸") for n in names(page))
    assert serious_accessibility_violations(page) == []
    assert console.errors and all("422" in e for e in console.errors)  # the rejected postal code
    page.context.close()


def test_sort_toggles_and_load_more(browser: Browser, live: LiveServer, demo: Demo) -> None:
    page, console = signed_in(browser, live, demo.shop_id, locale="th-TH")
    paid = page.locator("th[data-sort=paid_total]")
    expect(paid).to_have_attribute("aria-sort", "ascending")
    expect(page.locator(ROWS)).to_have_count(50)
    first_ascending = page.locator(f"{ROWS} td.num").first.inner_text()
    page.locator("#sort-paid").click()
    expect(paid).to_have_attribute("aria-sort", "descending")
    assert "order=desc" in page.url
    expect(page.locator(f"{ROWS} td.num").first).not_to_have_text(first_ascending)
    page.locator("th[data-sort=name] button").click()
    expect(page.locator("th[data-sort=name]")).to_have_attribute("aria-sort", "ascending")
    expect(paid).to_have_attribute("aria-sort", "none")
    api = page.request.get(live.url + "/api/v1/customers?sort=name&order=asc&limit=3").json()
    expected = [c["name"] or c["platform_user_id"] for c in api["items"]]
    expect(page.locator(f"{ROWS} td:nth-child(2) button").first).to_have_text(
        re.compile("^" + re.escape(expected[0]))
    )
    more = page.get_by_role("button", name="โหลดเพิ่ม")
    more.click()
    expect(page.locator(ROWS)).to_have_count(100)
    more.click()
    expect(page.locator(ROWS)).to_have_count(120)
    expect(more).to_be_hidden()
    page.go_back()  # the paid sort, descending, again
    expect(paid).to_have_attribute("aria-sort", "descending")
    expect(page.locator(ROWS)).to_have_count(50)
    assert console.errors == []
    page.context.close()


def downloaded(page: Page, button: str, click: str | None = None) -> tuple[str, bytes]:
    """Click an export button; the downloaded file's name and bytes."""
    with page.expect_download() as info:
        page.get_by_role("button", name=button, exact=True).click()
    download = info.value
    path = download.path()
    assert path is not None
    return download.suggested_filename, path.read_bytes()


def test_select_and_the_three_exports(browser: Browser, live: LiveServer, demo: Demo) -> None:
    page, console = signed_in(browser, live, demo.shop_id, locale="en-US")
    page.locator("#language").select_option("en")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    export_selected = page.get_by_role("button", name="Export selected")
    expect(export_selected).to_be_disabled()
    boxes = page.locator(f"{ROWS} input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(3).check()
    expect(page.locator("#selected-count")).to_have_text("2 selected")
    page.get_by_label("Format").select_option("csv")
    name, data = downloaded(page, "Export selected")
    assert name.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert len(rows) == 2
    expect(page.locator("#export-status")).to_have_text("Downloaded: 2 customers")

    # the whole page, then every matching customer: more than one file holds here
    page.get_by_label("Select the customers on this page").check()
    expect(page.locator("#selected-count")).to_have_text("50 selected")
    page.get_by_role("button", name="Select all 120 matching customers").click()
    expect(page.locator("#selected-count")).to_have_text("120 selected")
    page.get_by_label("Format").select_option("xlsx")
    page.get_by_role("button", name="Export selected").click()
    expect(page.locator("#export-status")).to_have_text(
        f"120 customers: more than one file holds ({EXPORT_ROWS} rows)"
    )
    split = page.get_by_role(
        "button", name=f"Download as a ZIP of 2 files of up to {EXPORT_ROWS} rows"
    )
    with page.expect_download() as info:
        split.click()
    path = info.value.path()
    assert path is not None
    with zipfile.ZipFile(path) as archive:
        parts = archive.namelist()
        assert len(parts) == 2 and all(p.endswith(".xlsx") for p in parts)
        counts = [
            load_workbook(io.BytesIO(archive.read(p)), read_only=True).active.max_row - 1
            for p in parts
        ]
    assert sorted(counts) == [20, EXPORT_ROWS]

    # filtered: the report's filters travel with the export
    page.get_by_label("LINE", exact=True).check()
    page.locator("#filters button[type=submit]").click()
    expect(page.locator("#selected-count")).to_have_text("")  # a new query clears the ticks
    expect(export_selected).to_be_disabled()
    expect(page.locator("#sum-customers")).to_have_text(re.compile(r"^\d+$"))
    line_count = int(page.locator("#sum-customers").inner_text())
    name, data = downloaded(page, "Export all matching")
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    assert name.endswith(".xlsx") and sheet.max_row - 1 == line_count

    # all customers, slower than a second: progress shows until the file arrives
    held: list[Route] = []
    page.route("**/api/v1/exports", lambda route: held.append(route))
    page.get_by_role("button", name="Export all customers").click()
    expect(page.locator("#export-progress")).to_be_visible()
    assert serious_accessibility_violations(page) == []
    held[0].continue_()
    page.unroute("**/api/v1/exports")
    expect(page.locator("#export-progress")).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile("^Download as a ZIP"))).to_be_visible()
    assert all("422" in e for e in console.errors)  # the exports too large for one file
    page.context.close()


def test_segments_save_apply_delete(browser: Browser, live: LiveServer) -> None:
    page, console = signed_in(browser, live, shop_with_customers(live))
    filters = page.locator("#filters")
    filters.get_by_label("Postal code").fill("83*")
    page.locator("#sort-paid").click()  # the sort is saved with the filters
    page.locator("#filters button[type=submit]").click()
    expect(page.locator(ROWS)).to_have_count(3)
    page.get_by_label("New segment name").fill("Phuket buyers")
    page.get_by_role("button", name="Save current filters").click()
    expect(page.locator("#segment-status")).to_have_text("Segment “Phuket buyers” saved")
    page.get_by_role("button", name="Clear").click()
    expect(page.locator(ROWS)).to_have_count(12)
    page.locator("#segment-select").select_option(label="Phuket buyers")
    page.get_by_role("button", name="Apply segment").click()
    expect(page.locator(ROWS)).to_have_count(3)
    expect(filters.get_by_label("Postal code")).to_have_value("83*")
    expect(page.locator("th[data-sort=paid_total]")).to_have_attribute("aria-sort", "descending")
    assert "postal_code=83*" in page.url.replace("%2A", "*")
    assert serious_accessibility_violations(page) == []
    page.get_by_role("button", name="Delete segment").click()
    expect(page.locator("#segment-status")).to_have_text("Segment “Phuket buyers” deleted")
    expect(page.locator("#segment-select option")).to_have_count(1)
    assert page.request.get(live.url + "/api/v1/segments").json()["items"] == []
    assert console.errors == []
    page.context.close()


def test_customer_edit_and_a_stale_edit(browser: Browser, live: LiveServer) -> None:
    shop_id = shop_with_customers(live)
    page, console = signed_in(browser, live, shop_id)
    page.get_by_role("button", name="David Lee 3").click()
    detail = page.locator("#detail")
    expect(detail.get_by_role("heading", name="David Lee 3")).to_be_visible()
    expect(detail.locator("#detail-orders li")).to_have_count(1)
    expect(detail.locator(".badge")).to_have_text("Paid")
    form = page.locator("#edit-form")
    form.get_by_label("Phone").fill("081-234-5678")
    form.get_by_label("E-mail").fill("david@example.com")
    form.get_by_label("Province").fill("เชียงใหม่")
    form.get_by_label("Postal code").fill("50200")
    form.get_by_label("Notes").fill("<b>likes</b> blue")
    form.get_by_label("Tags (comma-separated)").fill("VIP, wholesale")
    form.get_by_role("button", name="Save changes").click()
    expect(page.locator("#edit-status")).to_have_text("Saved")
    # the form shows what the server stored
    expect(form.get_by_label("Phone")).to_have_value("0812345678")
    expect(form.get_by_label("E-mail")).to_have_value("david@example.com")
    expect(form.get_by_label("Province")).to_have_value("Chiang Mai")
    expect(form.get_by_label("Notes")).to_have_value("<b>likes</b> blue")
    expect(page.locator("#audit-list li").first).to_contain_text("Edited")
    row = page.locator(ROWS).filter(has_text="David Lee 3")
    expect(row.locator("td:nth-child(4)")).to_have_text("Chiang Mai")
    screenshot(page, "customer-en")

    # someone else saves between this page's load and its save
    other, _ = new_page(browser)
    other_email = live.add_user(shop_id, "staff")
    other.request.post(
        live.url + "/api/v1/session", data={"email": other_email, "password": PASSWORD}
    )
    session = other.request.get(live.url + "/api/v1/session").json()
    customer_id = page.evaluate("location.hash").split("=", 1)[1]
    current = other.request.get(f"{live.url}/api/v1/customers/{customer_id}").json()
    changed = other.request.patch(
        f"{live.url}/api/v1/customers/{customer_id}",
        data={"name": "David L."},
        headers={"If-Match": f'"{current["version"]}"', "X-CSRF-Token": session["csrf_token"]},
    )
    assert changed.ok, changed.text()
    other.context.close()
    form.get_by_label("Notes").fill("my note")
    form.get_by_role("button", name="Save changes").click()
    conflict = page.locator("#conflict")
    expect(conflict).to_contain_text(f"{other_email} changed this customer meanwhile")
    expect(conflict.get_by_role("listitem")).to_have_text(["Name is now: David L."])
    expect(form.get_by_label("Notes")).to_have_value("my note")  # the typing is not lost
    assert serious_accessibility_violations(page) == []
    page.get_by_role("button", name="Reload the customer").click()
    expect(form.get_by_label("Name")).to_have_value("David L.")
    expect(form.get_by_label("Notes")).to_have_value("<b>likes</b> blue")
    expect(conflict).to_be_hidden()
    errors = [e for e in console.errors if "409" not in e]
    assert errors == []
    page.context.close()


def test_thai_and_english_and_a_phone_screen(
    browser: Browser, live: LiveServer, demo: Demo
) -> None:
    page, console = signed_in(browser, live, demo.shop_id, locale="th-TH")
    expect(page.get_by_role("button", name="ออกจากระบบ")).to_be_visible()
    expect(page.locator("#sum-paid")).to_have_text(re.compile(r"^฿[\d,]+\.\d\d$"))
    table = page.locator("#customers")
    expect(table.locator("td", has_text="ติดตามอยู่").first).to_be_visible()
    expect(table.locator("td", has_text="กรุงเทพมหานคร").first).to_be_visible()
    assert "following" not in table.inner_text() and "Bangkok" not in table.inner_text()
    updated = page.locator(f"{ROWS} td:last-child").first.inner_text()
    assert re.search(r"25\d\d", updated), updated  # Buddhist era
    assert serious_accessibility_violations(page) == []
    page.locator(f"{ROWS} td:nth-child(2) button").first.click()
    expect(page.get_by_role("button", name="บันทึกการแก้ไข")).to_be_visible()
    expect(page.get_by_label("หมายเหตุ")).to_be_visible()
    expect(page.locator("#detail-stats dt").first).to_have_text("ยอดชำระรวม")
    assert serious_accessibility_violations(page) == []
    screenshot(page, "customer-th")
    page.get_by_role("button", name="ปิด").click()

    page.get_by_label("ภาษา").select_option("en")  # per user, kept by the browser
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(table.locator("td", has_text="Following").first).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert not re.search("[\u0e00-\u0e7f]", page.locator("#filters").inner_text())
    assert console.errors == []
    page.context.close()


@pytest.mark.parametrize("language", ["en", "th"])
def test_phone_width_has_no_page_overflow(
    browser: Browser, live: LiveServer, demo: Demo, language: str
) -> None:
    locale = "th-TH" if language == "th" else "en-US"
    page, console = signed_in(browser, live, demo.shop_id, locale=locale, width=390)
    page.evaluate(f"localStorage.setItem('chatcrm.language', '{language}')")
    page.reload()
    expect(page.locator(ROWS).first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    scroller = page.locator(".table-scroll")
    assert scroller.evaluate("e => e.scrollWidth > e.clientWidth")  # the table scrolls instead
    assert serious_accessibility_violations(page) == []
    screenshot(page, f"report-phone-{language}")
    page.locator(f"{ROWS} td:nth-child(2) button").first.click()
    expect(page.locator("#detail")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert console.errors == []
    page.context.close()


def test_figures_of_a_superseded_query_never_show(browser: Browser, live: LiveServer) -> None:
    page, console = signed_in(browser, live, shop_with_customers(live))
    held: list[Route] = []
    page.route(re.compile(r"channel=telegram"), lambda route: held.append(route))
    page.get_by_label("Telegram", exact=True).check()
    page.locator("#filters button[type=submit]").click()  # answers held back
    page.get_by_label("Telegram", exact=True).uncheck()
    page.get_by_label("Postal code", exact=True).first.fill("83000")
    page.locator("#filters button[type=submit]").click()
    expect(page.locator(ROWS)).to_have_count(3)
    expect(page.locator("#sum-customers")).to_have_text("3")
    assert len(held) == 2  # summary and page of the telegram query, late
    for route in held:
        with page.expect_response(route.request.url) as late:
            route.continue_()
        late.value.finished()
    page.evaluate("fetch('/api/v1/shop').then((r) => r.json())")  # the late answers were read
    expect(page.locator(ROWS)).to_have_count(3)
    assert all(n.startswith("Nok") for n in names(page))
    expect(page.locator("#sum-customers")).to_have_text("3")
    page.unroute(re.compile(r"channel=telegram"))
    assert console.errors == []
    page.context.close()


def test_keyboard_opens_and_closes_a_customer(browser: Browser, live: LiveServer) -> None:
    page, console = signed_in(browser, live, shop_with_customers(live))
    page.get_by_role("button", name="Somchai 1").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#detail-name")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#detail")).to_be_hidden()
    expect(page.get_by_role("button", name="Somchai 1")).to_be_focused()
    assert "#customer" not in page.url
    assert console.errors == []
    page.context.close()
