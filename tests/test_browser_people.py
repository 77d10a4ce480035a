"""One person across channels in a real browser: the "Same person?" page (suggestions with their
reason, a merge with a preview of the person, a conflicting merge, "not the same person") and
splitting an identity back off from the customer panel; in English and Thai, on a phone.
Fixtures: tests/browser_support.py; checks are on what the page shows and the API then answers.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from chatcrm.imports import run_import
from tests.browser_support import LiveServer, screenshot, serious_accessibility_violations
from tests.test_browser_report import ROWS, signed_in

pytestmark = pytest.mark.slow  # a browser and a service

CUSTOMERS_CSV = (
    "channel,platform_user_id,name,phone,email,tags,notes\n"
    "line,U-nok,Nok,0812345678,,VIP,likes blue\n"
    "telegram,555001,Nok T,+66 81-234-5678,,COD,pays by transfer\n"
    "messenger,psid-ann,Ann,,ann@example.com,,\n"
    "instagram,ig-ann,Ann IG,,ANN@Example.com,,\n"
    "line,U-solo,Solo,,,,\n"
)
ORDERS_CSV = (
    "order_id,amount,customer_channel,customer_platform_user_id,status,paid_at\n"
    "N-1,1000.00,line,U-nok,paid,2026-01-05T10:00+07:00\n"
    "N-2,500.50,telegram,555001,paid,2026-01-06T10:00+07:00\n"
)
PHONE_REASON = "Same phone number: 0812345678"
MAIL_REASON = "Same e-mail: ann@example.com"


def shop_with_doubles(live: LiveServer, locale: str = "en") -> str:
    """Five customers: Nok on LINE and Telegram (one phone number, an order each, a message
    each), Ann on Messenger and Instagram (one e-mail address), Solo."""

    async def make() -> str:
        shop = await live.store.shops.create("Double Shop", locale=locale)
        scoped = live.store.for_shop(shop.id)
        await run_import(scoped, "customers", CUSTOMERS_CSV.encode(), "THB", "test", source="test")
        await run_import(scoped, "orders", ORDERS_CSV.encode(), "THB", "test", source="test")
        for n, user in enumerate(("U-nok", "555001")):
            customer = await live.store.db.customers.find_one(
                {"shop_id": shop.id, "platform_user_id": user}
            )
            assert customer is not None
            await scoped.messages.add(
                {
                    "customer_id": customer["_id"],
                    "channel": customer["channel"],
                    "channel_id": None,
                    "direction": "in",
                    "type": "text",
                    "text": f"hello {n}",
                    "platform_message_id": f"people-{n}",
                    "sent_at": datetime(2026, 11, 1, 9, n, tzinfo=UTC),
                }
            )
        return shop.id

    return live.run(make())


def open_people(page: Page, link: str = "Same person?") -> None:
    page.locator("#owner-nav").get_by_role("link", name=link).click()
    expect(page.locator("#people-page h2")).to_be_visible()


def card(page: Page, reason: str) -> Locator:
    return page.locator("#suggestion-list > li").filter(has_text=reason)


def figure(group: Locator, field: str) -> Locator:
    return group.locator(f".preview-figures dd[data-field={field}]")


def api(page: Page, live: LiveServer, method: str, path: str, **kwargs: Any) -> Any:
    """Call the API with the page's session (and its CSRF token); the JSON answer."""
    session = page.request.get(live.url + "/api/v1/session").json()
    headers = {"X-CSRF-Token": session["csrf_token"], **kwargs.pop("headers", {})}
    resp = page.request.fetch(live.url + path, method=method, headers=headers, **kwargs)
    assert resp.ok, (path, resp.status, resp.text())
    return resp.json()


def test_merge_with_a_preview_then_split_off_from_the_customer_panel(
    browser: Browser, live: LiveServer
) -> None:
    page, console = signed_in(browser, live, shop_with_doubles(live), role="staff")
    expect(page.locator(ROWS)).to_have_count(5)
    expect(page.locator("#sum-customers")).to_have_text("5")
    open_people(page)
    group = card(page, PHONE_REASON)
    expect(group.locator("tbody tr")).to_have_count(2)
    nok_row = group.locator("tbody tr").filter(has_text="Nok T")
    expect(nok_row.locator("td")).to_have_text(
        ["Nok T", "Telegram", "0812345678", "", "THB\u00a0500.50", "1"]
    )
    expect(card(page, MAIL_REASON).locator("tbody tr")).to_have_count(2)

    group.get_by_role("button", name="Merge…").click()
    group.get_by_label("Nok · LINE").check()
    expect(figure(group, "name")).to_have_text("Nok")
    expect(figure(group, "paidTotal")).to_have_text("THB\u00a01,500.50")
    expect(figure(group, "orders")).to_have_text("2")
    expect(figure(group, "tags")).to_have_text("VIP, COD")
    expect(figure(group, "notes")).to_have_text("likes blue\n\npays by transfer")
    expect(figure(group, "channels")).to_have_text("LINE, Telegram")
    expect(figure(group, "identitiesTitle").locator("li")).to_have_text(
        ["LINE · U-nok", "Telegram · 555001"]
    )
    group.get_by_label("Nok T · Telegram").check()  # the other one kept: its name, tags first
    expect(figure(group, "name")).to_have_text("Nok T")
    expect(figure(group, "tags")).to_have_text("COD, VIP")
    expect(figure(group, "channels")).to_have_text("Telegram, LINE")
    group.get_by_label("Nok · LINE").check()
    assert serious_accessibility_violations(page) == []
    group.get_by_role("button", name="Merge", exact=True).click()
    expect(page.locator("#people-status")).to_have_text("Nok is now one person (2 profiles merged)")
    expect(card(page, PHONE_REASON)).to_have_count(0)

    # the report: one row with both channels, one customer fewer
    page.locator("#owner-nav").get_by_role("link", name="Customers").click()
    expect(page.locator(ROWS)).to_have_count(4)
    expect(page.locator("#sum-customers")).to_have_text("4")
    row = page.locator(ROWS).filter(has_text="Nok")
    expect(row.locator("td:nth-child(3)")).to_have_text("LINE, Telegram")
    expect(row.locator("td:nth-child(8)")).to_have_text("THB\u00a01,500.50")

    # the customer panel: both identities, the chat of both channels, the second split off
    row.get_by_role("button", name="Nok").click()
    identities = page.locator("#identity-list li")
    expect(identities).to_have_count(2)
    expect(identities.first).to_contain_text("LINE U-nok")
    expect(identities.first.get_by_role("button")).to_have_count(0)  # the person's own
    expect(identities.last).to_contain_text(re.compile(r"Telegram 555001.*first seen"))
    page.get_by_role("button", name="View conversation history").click()
    messages = page.locator("#detail-messages li")
    expect(messages).to_have_count(2)
    expect(messages.locator(".msg-channel")).to_have_text(["LINE", "Telegram"])
    page.get_by_role("button", name="Split off: Telegram 555001").click()
    expect(page.locator("#split-text")).to_have_text(
        "Split Telegram 555001 off as a customer of its own, with its own messages and orders?"
    )
    assert serious_accessibility_violations(page) == []
    page.get_by_role("button", name="Split off", exact=True).click()
    expect(page.locator("#identity-status")).to_have_text(
        "Telegram 555001 is a customer of its own again"
    )
    expect(identities).to_have_count(1)
    expect(page.locator(ROWS)).to_have_count(5)
    expect(page.locator("#sum-customers")).to_have_text("5")
    expect(page.locator(ROWS).filter(has_text="Nok T").locator("td:nth-child(3)")).to_have_text(
        "Telegram"
    )
    open_people(page)
    expect(card(page, PHONE_REASON)).to_be_visible()  # a suggestion again
    assert console.errors == []
    page.context.close()


def test_not_the_same_person_and_a_merge_that_meets_a_change(
    browser: Browser, live: LiveServer
) -> None:
    page, console = signed_in(browser, live, shop_with_doubles(live))
    open_people(page)
    card(page, MAIL_REASON).get_by_role("button", name="Not the same person").click()
    expect(page.locator("#people-status")).to_have_text(f"Not the same person: {MAIL_REASON}")
    expect(card(page, MAIL_REASON)).to_have_count(0)
    page.reload()
    expect(card(page, PHONE_REASON)).to_be_visible()
    expect(card(page, MAIL_REASON)).to_have_count(0)  # stays dismissed

    group = card(page, PHONE_REASON)
    group.get_by_role("button", name="Merge…").click()
    expect(figure(group, "tags")).to_contain_text("VIP")
    # someone tags Nok T between the preview and the merge
    nok_t = next(
        m
        for m in api(page, live, "GET", "/api/v1/merge-suggestions")["items"][0]["members"]
        if m["name"] == "Nok T"
    )
    api(
        page,
        live,
        "PATCH",
        f"/api/v1/customers/{nok_t['id']}",
        data={"tags": ["COD", "Gold"]},
        headers={"If-Match": f'"{nok_t["version"]}"'},
    )
    group.get_by_role("button", name="Merge", exact=True).click()
    conflict = group.locator(".conflict")
    expect(conflict).to_have_text(re.compile("^A customer changed meanwhile: nothing was merged"))
    assert api(page, live, "GET", "/api/v1/report/summary")["customers"] == 5  # nothing merged
    conflict.get_by_role("button", name="Reload the group").click()
    expect(figure(group, "tags")).to_contain_text("Gold")
    group.get_by_role("button", name="Merge", exact=True).click()
    expect(page.locator("#people-status")).to_contain_text("is now one person (2 profiles merged)")
    expect(page.locator("#people-empty")).to_be_visible()
    assert api(page, live, "GET", "/api/v1/report/summary")["customers"] == 4
    assert [e for e in console.errors if "409" not in e] == []
    page.context.close()


@pytest.mark.parametrize("language", ["en", "th"])
def test_the_suggestions_page_in_both_languages_on_a_phone(
    browser: Browser, live: LiveServer, language: str
) -> None:
    locale = "th-TH" if language == "th" else "en-US"
    page, console = signed_in(browser, live, shop_with_doubles(live, language), locale=locale)
    page.evaluate(f"localStorage.setItem('chatcrm.language', '{language}')")
    page.goto(f"{live.url}/#people")
    page.reload()
    heading = "คนเดียวกันไหม?" if language == "th" else "Same person?"
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    reason = "เบอร์โทรเดียวกัน: 0812345678" if language == "th" else PHONE_REASON
    group = card(page, reason)
    group.get_by_role("button", name="รวม…" if language == "th" else "Merge…").click()
    paid = "฿1,500.50" if language == "th" else "THB\u00a01,500.50"
    expect(figure(group, "paidTotal")).to_have_text(paid)
    if language == "th":
        expect(group.locator(".preview h4")).to_have_text("ลูกค้าหลังรวมเป็นคนเดียว")
        assert not re.search(
            r"\b(Merge|Cancel|Name|Tags)\b", page.locator("#people-page").inner_text()
        )
    assert serious_accessibility_violations(page) == []
    screenshot(page, f"people-{language}")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(group.locator(".preview")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert serious_accessibility_violations(page) == []
    assert console.errors == []
    page.context.close()
