"""The owner's pages in a real browser: chat channels, the team, scheduled report e-mails; in
English and Thai, on a phone, and never for staff. Fixtures: tests/browser_support.py; checks
are on what the page shows, on what the service then answers, and on the e-mail written.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import LiveServer, screenshot, serious_accessibility_violations
from tests.test_browser_report import ROWS, shop_with_customers, signed_in

pytestmark = pytest.mark.slow  # a browser and a service

LINE_SECRETS = {"channel_secret": "0123456789abcdef", "access_token": "line-access-token-1"}
SENDING_MS = 60_000
"""How long a test send may take to answer (an export and an e-mail on a loaded machine)."""
WEBHOOK = re.compile(r"^http://127\.0\.0\.1:\d+/webhooks/line/ch_\w+$")


def open_page(page: Page, link: str, heading: str) -> None:
    """Follow a link of the owner's navigation and wait for the page's heading."""
    page.locator("#owner-nav").get_by_role("link", name=link).click()
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def connect_line(page: Page, name: str, secrets: dict[str, str]) -> None:
    """Fill and send the add-channel form for a LINE channel (`secrets` by input name)."""
    form = page.locator("#channel-form")
    form.locator("select[name=platform]").select_option("line")
    form.locator("input[name=name]").fill(name)
    for secret, value in secrets.items():
        form.locator(f"input[name={secret}]").fill(value)
    form.locator("button[type=submit]").click()


def api_json(page: Page, path: str) -> Any:
    """GET an API path with the page's session; its JSON."""
    resp = page.request.get(page.url.split("/#")[0].split("?")[0].rstrip("/") + path)
    assert resp.ok, (path, resp.status)
    return resp.json()


def test_channels_add_a_line_channel_see_its_webhook_and_disable_it(
    browser: Browser, live: LiveServer
) -> None:
    page, console = signed_in(browser, live, shop_with_customers(live))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_page(page, "Channels", "Chat channels")
    expect(page.locator("#channels-empty")).to_be_visible()
    form = page.locator("#channel-form")
    form.get_by_label("Platform").select_option("line")
    expect(
        form.get_by_text("LINE Developers console > Basic settings > Channel secret")
    ).to_be_visible()
    connect_line(page, "Shop LINE", {"channel_secret": "0123456789abcdef"})  # no access token
    expect(form.locator("[data-error-for=access_token]")).to_have_text("Access token: required")
    assert api_json(page, "/api/v1/channels")["items"] == []

    connect_line(page, "Shop LINE", LINE_SECRETS)
    status = page.locator("#channels-status")
    expect(status).to_have_text(
        "LINE channel “Shop LINE” connected: paste its webhook URL into the platform's console"
    )
    url_box = page.get_by_label("Webhook URL: Shop LINE", exact=True)
    expect(url_box).to_have_value(WEBHOOK)
    channel = api_json(page, "/api/v1/channels")["items"][0]
    url = url_box.input_value()
    assert url == live.url + channel["webhook_path"]
    page.get_by_role("button", name="Copy: Webhook URL: Shop LINE").click()
    expect(status).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == url
    expect(form.locator("input[name=channel_secret]")).to_have_value("")  # not kept on the page
    unsigned = page.request.post(url, data="{}", fail_on_status_code=False)
    assert unsigned.status == 401  # enabled: the request is checked, not refused as unknown
    assert serious_accessibility_violations(page) == []
    screenshot(page, "channels-en")

    page.get_by_role("button", name="Disable: Shop LINE").click()
    expect(status).to_have_text("“Shop LINE” is disabled: its webhook now answers 404")
    card = page.locator("#channel-list li")
    expect(card.locator(".badge")).to_have_text("Disabled")
    assert page.request.post(url, data="{}", fail_on_status_code=False).status == 404
    page.get_by_role("button", name="Enable: Shop LINE").click()
    expect(card.locator(".badge")).to_have_text("Receiving")
    assert page.request.post(url, data="{}", fail_on_status_code=False).status == 401

    merging = page.get_by_label("Merge automatically when WhatsApp or Telegram gives", exact=False)
    expect(merging).not_to_be_checked()
    merging.check()
    expect(page.locator("#auto-merge-status")).to_have_text(
        "Customers are now merged automatically on a platform's own phone number"
    )
    assert api_json(page, "/api/v1/shop")["auto_merge"] is True
    page.reload()
    expect(page.get_by_label("Merge automatically when WhatsApp", exact=False)).to_be_checked()
    assert console.errors == []
    page.context.close()


def test_team_invite_staff_make_a_link_code_remove_a_user(
    browser: Browser, live: LiveServer
) -> None:
    shop_id = shop_with_customers(live)
    page, console = signed_in(browser, live, shop_id)
    colleague = live.add_user(shop_id, "staff")
    admins = live.store.for_shop(shop_id).chat_admins
    live.run(admins.link(("telegram", "4242"), "ch_bot", "staff", "Somsak"))  # as /link does
    open_page(page, "Team", "Team")
    users = page.locator("#user-table tbody tr")
    expect(users).to_have_count(2)
    expect(users.filter(has_text="you")).to_contain_text("Owner")
    expect(users.filter(has_text=colleague)).to_contain_text("Staff")

    invite = page.locator("#invite-form")
    invite.get_by_label("E-mail").fill("new.staff@shop.example")
    invite.get_by_role("button", name="Invite").click()
    result = page.locator("#invite-text")
    expect(result).to_contain_text("Send this link to new.staff@shop.example yourself")
    expect(page.get_by_label("Invitation link")).to_have_value(re.compile(r"/#invite=[\w-]+$"))
    invitations = page.locator("#invitation-list li")
    expect(invitations).to_have_count(1)
    expect(invitations).to_contain_text("new.staff@shop.example · Staff · link valid until")
    invite.get_by_label("E-mail").fill(colleague)
    invite.get_by_role("button", name="Invite").click()
    expect(invite.locator("[data-error-for=email]")).to_have_text(
        "E-mail: this address already has an account"
    )

    page.locator("#link-code-form").get_by_role("button", name="Make a link code").click()
    code = page.locator("#link-code-value")
    expect(code).to_have_text(re.compile(r"^[A-Z2-9]{6,}$"))
    expect(page.locator("#link-code-text")).to_contain_text(f"Send /link {code.inner_text()} ")
    expect(page.locator("#link-code-text")).to_contain_text("The code works once.")
    admin = page.locator("#admin-list li")
    expect(admin).to_contain_text("Somsak (4242) · Telegram · Staff · linked")
    assert serious_accessibility_violations(page) == []
    screenshot(page, "team-en")
    page.get_by_role("button", name="Unlink: Somsak (4242)").click()
    expect(page.locator("#admins-status")).to_have_text("Somsak (4242) is no longer a chat admin")
    expect(admin).to_have_text("No chat admin linked yet")
    assert live.run(admins.list()) == []

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=f"Remove: {colleague}").click()
    expect(page.locator("#users-status")).to_have_text(f"{colleague} was removed")
    expect(users).to_have_count(1)
    errors = [e for e in console.errors if "409" not in e]  # the refused invitation
    assert errors == []
    page.context.close()


def fill_schedule(page: Page, **fields: str) -> None:
    """Fill the schedule form's fields by their labels."""
    form = page.locator("#schedule-form")
    for label, value in fields.items():
        control = form.get_by_label(label, exact=False).first
        if control.evaluate("e => e.tagName") == "SELECT":
            control.select_option(label=value)
        else:
            control.fill(value)


def test_schedules_create_send_a_test_see_the_history_edit_and_pause(
    browser: Browser, live: LiveServer
) -> None:
    page, console = signed_in(browser, live, shop_with_customers(live))
    created = page.request.post(
        live.url + "/api/v1/segments",
        data={"name": "Phuket buyers", "filters": {"postal_code": "83*"}},
        headers={"X-CSRF-Token": page.evaluate("state.csrf")},
    )
    assert created.status == 201
    open_page(page, "Scheduled e-mails", "Scheduled report e-mails")
    expect(page.locator("#schedules-empty")).to_be_visible()
    page.get_by_role("button", name="New scheduled e-mail").click()
    fill_schedule(
        page,
        **{
            "Name": "Weekly Phuket",
            "Segment": "Phuket buyers",
            "Every": "week",
            "Weekday": "Friday",
            "At (shop time)": "09:30",
            "Customers in the e-mail": "all of them",
            "Recipients": "boss@shop.example\nnot an address",
        },
    )
    form = page.locator("#schedule-form")
    form.get_by_role("button", name="Save schedule").click()
    expect(form.locator("[data-error-for=recipients]")).to_have_text(
        "Recipients: one e-mail address per line, at most 20"
    )
    fill_schedule(page, Recipients="boss@shop.example\naccounts@shop.example")
    form.get_by_role("button", name="Save schedule").click()
    expect(page.locator("#schedules-status")).to_have_text("“Weekly Phuket” saved")
    row = page.locator("#schedule-table tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Every Friday at 09:30")
    expect(row).to_contain_text("Phuket buyers")
    expect(row).to_contain_text("boss@shop.example, accounts@shop.example")
    expect(form).to_be_hidden()

    page.get_by_role("button", name="Send a test: Weekly Phuket").click()
    expect(page.locator("#schedules-status")).to_have_text(
        "Test of “Weekly Phuket”: sent", timeout=SENDING_MS
    )
    history = page.locator("#delivery-table tbody tr")
    expect(history).to_have_count(1)
    expect(history).to_contain_text("test")
    expect(history.locator("td").nth(2)).to_have_text("sent")
    expect(history.locator("td").nth(3)).to_have_text("3")  # the Phuket customers
    mails = list((live.settings.data_dir / "outbox").glob("*.eml"))
    sent = [message_from_bytes(p.read_bytes()) for p in mails]
    assert any("boss@shop.example" in str(m["To"]) for m in sent), [m["To"] for m in sent]
    assert serious_accessibility_violations(page) == []
    screenshot(page, "schedules-en")

    page.get_by_role("button", name="Edit: Weekly Phuket").click()
    expect(form.get_by_label("Name")).to_have_value("Weekly Phuket")
    fill_schedule(page, Every="month", **{"Day of the month": "last day"})
    form.get_by_role("button", name="Save schedule").click()
    expect(row).to_contain_text("Monthly on the last day at 09:30")
    page.get_by_role("button", name="Pause: Weekly Phuket").click()
    expect(page.locator("#schedules-status")).to_have_text("“Weekly Phuket” is paused")
    expect(row).to_contain_text("Paused")
    expect(row.locator("td").nth(4)).to_have_text("–")  # no next e-mail
    page.get_by_role("button", name="History: Weekly Phuket").click()
    expect(history).to_have_count(1)
    errors = [e for e in console.errors if "422" not in e]  # the refused recipients
    assert errors == []
    page.context.close()


def test_owner_pages_in_thai(browser: Browser, live: LiveServer) -> None:
    page, console = signed_in(browser, live, shop_with_customers(live, "th"), locale="th-TH")
    open_page(page, "ช่องทางแชท", "ช่องทางแชท")
    connect_line(page, "ไลน์ร้าน", LINE_SECRETS)
    expect(page.locator("#channels-status")).to_contain_text("เชื่อมต่อช่องทาง LINE “ไลน์ร้าน” แล้ว")
    expect(page.get_by_label("ที่อยู่ Webhook (URL): ไลน์ร้าน", exact=True)).to_have_value(WEBHOOK)
    expect(
        page.get_by_text("คอนโซล LINE Developers > Basic settings > Channel secret")
    ).to_be_visible()
    assert serious_accessibility_violations(page) == []
    screenshot(page, "channels-th")

    open_page(page, "ทีมงาน", "ทีมงาน")
    expect(page.locator("#user-table tbody tr")).to_contain_text("เจ้าของร้าน")
    page.locator("#invite-form").get_by_label("อีเมล").fill("staff.th@shop.example")
    page.get_by_role("button", name="เชิญ", exact=True).click()
    expect(page.locator("#invitation-list li")).to_contain_text("พนักงาน")
    expiry = page.locator("#invitation-list li").inner_text()
    assert re.search(r"25\d\d", expiry), expiry  # Buddhist era
    page.get_by_role("button", name="สร้างรหัสผูกบัญชี").click()
    expect(page.locator("#link-code-text")).to_contain_text("ส่ง /link ")
    assert serious_accessibility_violations(page) == []
    screenshot(page, "team-th")

    open_page(page, "อีเมลรายงานตามกำหนด", "อีเมลรายงานตามกำหนด")
    page.get_by_role("button", name="สร้างอีเมลรายงานใหม่").click()
    form = page.locator("#schedule-form")
    form.get_by_label("ชื่อ").fill("รายงานประจำวัน")
    form.get_by_label("ผู้รับ").fill("owner@shop.example")
    form.get_by_role("button", name="บันทึกกำหนดการ").click()
    row = page.locator("#schedule-table tbody tr")
    expect(row).to_contain_text("ทุกวัน เวลา 08:00")
    expect(row).to_contain_text("ลูกค้าทั้งหมด")
    page.get_by_role("button", name="ส่งทดสอบ: รายงานประจำวัน").click()
    expect(page.locator("#schedules-status")).to_have_text(
        "ผลการส่งทดสอบ “รายงานประจำวัน”: ส่งแล้ว", timeout=SENDING_MS
    )
    expect(page.locator("#delivery-table tbody tr")).to_contain_text("ทดสอบ")
    assert serious_accessibility_violations(page) == []
    screenshot(page, "schedules-th")

    page.get_by_label("ภาษา").select_option("en")  # the page in view follows the switch
    expect(page.get_by_role("heading", name="Scheduled report e-mails")).to_be_visible()
    expect(row).to_contain_text("Every day at 08:00")
    expect(page.locator("#deliveries-title")).to_have_text("Sent e-mails of “รายงานประจำวัน”")
    expect(page.locator("#delivery-table tbody tr")).to_contain_text("sent")
    for head in ("#schedule-table thead", "#delivery-table thead"):
        assert not re.search("[\u0e00-\u0e7f]", page.locator(head).inner_text())
    assert console.errors == []
    page.context.close()


def test_staff_see_none_of_the_owner_pages(browser: Browser, live: LiveServer) -> None:
    shop_id = shop_with_customers(live)
    page, console = signed_in(browser, live, shop_id, role="staff", query="#channels")
    expect(page.locator(ROWS).first).to_be_visible()
    links = page.locator("#owner-nav").get_by_role("link")  # the pages staff share with owners
    expect(links).to_have_text(["Customers", "Same person?"])
    for name in ("channels", "team", "schedules"):
        page.goto(f"{live.url}/#{name}")
        expect(page.locator(ROWS).first).to_be_visible()
        expect(page.locator(f"#{name}-page")).to_be_hidden()
    for path in ("/api/v1/users", "/api/v1/channels", "/api/v1/report-schedules"):
        assert page.request.get(live.url + path, fail_on_status_code=False).status == 403
    assert console.errors == []
    page.context.close()


@pytest.mark.parametrize("language", ["en", "th"])
def test_owner_pages_fit_a_phone(browser: Browser, live: LiveServer, language: str) -> None:
    locale = "th-TH" if language == "th" else "en-US"
    page, console = signed_in(browser, live, shop_with_customers(live), locale=locale, width=390)
    page.evaluate(f"localStorage.setItem('chatcrm.language', '{language}')")
    page.reload()
    expect(page.locator(ROWS).first).to_be_visible()
    for name in ("channels", "team", "schedules"):
        page.goto(f"{live.url}/#{name}")
        expect(page.locator(f"#{name}-page h2")).to_be_visible()
        expect(page.locator(f"#{name}-page")).not_to_contain_text("undefined")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390, name
        assert serious_accessibility_violations(page) == [], name
    page.goto(f"{live.url}/#channels")
    expect(page.locator("#channel-secrets input").first).to_be_visible()
    screenshot(page, f"channels-phone-{language}")
    assert console.errors == []
    page.context.close()
