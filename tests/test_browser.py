"""The dashboard in a real browser (headless Chromium): signing in and out, links, looks.

Fixtures: tests/browser_support.py. The pages are the ones a seller sees; every check is on
what the page shows (or, for CSRF, on what the server answers the browser's own cookie).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, Page, expect

from chatcrm import auth
from chatcrm.imports import run_import
from tests.browser_support import (
    LIVE_LINE_TOKEN,
    PASSWORD,
    Demo,
    LiveServer,
    new_page,
    screenshot,
    serious_accessibility_violations,
)

pytestmark = pytest.mark.slow  # a browser and a service

PEOPLE = [
    ("line", "Alice Brown", "Bangkok", "10110"),
    ("telegram", "Somchai", "Chiang Mai", "50200"),
    ("messenger", "Nok 🌸", "Phuket", "83000"),
    ("line", "David Lee", "Khon Kaen", "40000"),
] * 3
CUSTOMERS_CSV = "channel,platform_user_id,name,province,postal_code,tags\n" + "".join(
    f"{channel},U{n:04d},{name} {n},{province},{postal},VIP;COD\n"
    for n, (channel, name, province, postal) in enumerate(PEOPLE)
)
ORDERS_CSV = (
    "order_id,amount,customer_channel,customer_platform_user_id,status,paid_at\n"
    + "".join(
        f"A-{n},{(n + 1) * 375}.50,{PEOPLE[n][0]},U{n:04d},paid,2026-01-0{n % 9 + 1}T10:00+07:00\n"
        for n in range(0, 12, 2)
    )
)


def sign_in(page: Page, live: LiveServer, email: str, password: str = PASSWORD) -> None:
    """Open the dashboard and submit the sign-in form."""
    page.goto(live.url + "/")
    form = page.locator("#sign-in-form")
    form.get_by_label("E-mail").fill(email)
    form.get_by_label("Password", exact=True).fill(password)
    form.get_by_role("button", name="Sign in").click()


def english_shop(live: LiveServer) -> str:
    """A shop whose locale is English, with a dozen imported customers and a few orders."""

    async def make() -> str:
        shop = await live.store.shops.create("Corner Store", locale="en")
        scoped = live.store.for_shop(shop.id)
        await run_import(scoped, "customers", CUSTOMERS_CSV.encode(), "THB", "test", source="test")
        report = await run_import(
            scoped, "orders", ORDERS_CSV.encode(), "THB", "test", source="test"
        )
        assert report.as_dict()["rejected"] == 0, report.as_dict()
        return shop.id

    return live.run(make())


def test_sign_in_and_sign_out(page: Page, live: LiveServer) -> None:
    shop_id = english_shop(live)
    email = live.add_user(shop_id)
    sign_in(page, live, email)
    expect(page.locator("#shop-name")).to_have_text("Corner Store")
    expect(page.locator("#user-email")).to_have_text(email)
    expect(page.locator("#customers tbody tr")).to_have_count(12)
    expect(page.locator("#sum-customers")).to_have_text("12")
    # the cookie alone does not make a state-changing request: the CSRF token is needed
    refused = page.request.post(
        live.url + "/api/v1/orders", data={"order_id": "X", "amount": 1}, fail_on_status_code=False
    )
    assert refused.status == 403 and refused.json()["error"]["code"] == "csrf_failed"
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in to your shop")).to_be_visible()
    expect(page.locator("#shop-name")).to_be_empty()
    expect(page.locator("#report")).to_be_hidden()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in to your shop")).to_be_visible()
    assert page.request.get(live.url + "/api/v1/shop", fail_on_status_code=False).status == 401


def test_wrong_password_is_refused(page: Page, live: LiveServer, demo: Demo) -> None:
    email = live.add_user(demo.shop_id)
    sign_in(page, live, email, "not the password")
    expect(page.get_by_role("alert")).to_have_text("Wrong e-mail or password")
    expect(page.locator("#report")).to_be_hidden()


def test_lockout_after_repeated_failures(page: Page, live: LiveServer, demo: Demo) -> None:
    email = live.add_user(demo.shop_id)
    sign_in(page, live, email, "guess 0")
    for n in range(1, auth.ACCOUNT_LIMIT):
        page.get_by_label("Password", exact=True).fill(f"guess {n}")
        page.get_by_role("button", name="Sign in", exact=True).click()
    locked = re.compile(r"Too many failed sign-ins: try again in \d+ min")
    expect(page.get_by_role("alert")).to_have_text(locked)
    page.get_by_label("Password", exact=True).fill(PASSWORD)  # the right one, too late
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text(locked)
    expect(page.locator("#report")).to_be_hidden()


def test_invited_staff_member_joins_in_the_browser(
    page: Page, live: LiveServer, demo: Demo
) -> None:
    email = "new-staff@shop.example"
    token, _ = live.run(auth.invite(live.store, demo.shop_id, email, "staff", "test"))
    page.goto(f"{live.url}/#invite={token}")
    expect(page.get_by_role("heading", name="Join the shop: choose your password")).to_be_visible()
    assert "#invite" not in page.url  # the token leaves the address bar
    page.get_by_label("New password").fill("staff password 1")
    page.get_by_label("Repeat the password").fill("staff password 2")
    page.get_by_role("button", name="Save password and sign in").click()
    expect(page.get_by_role("alert")).to_have_text("The two passwords differ")
    page.get_by_label("Repeat the password").fill("staff password 1")
    page.get_by_role("button", name="Save password and sign in").click()
    expect(page.locator("#user-email")).to_have_text(email)
    expect(page.locator("#shop-name")).to_contain_text("Demo Shop")
    # the link was for one use only
    again, _ = new_page(page.context.browser)  # type: ignore[arg-type]
    again.goto(f"{live.url}/#invite={token}")
    again.get_by_label("New password").fill("staff password 3")
    again.get_by_label("Repeat the password").fill("staff password 3")
    again.get_by_role("button", name="Save password and sign in").click()
    expect(again.get_by_role("alert")).to_have_text(
        "This link has expired or was already used: ask for a new one"
    )
    again.context.close()


def test_reset_link_sets_a_new_password(
    browser: Browser, page: Page, live: LiveServer, demo: Demo
) -> None:
    email = live.add_user(demo.shop_id, "staff")
    user = live.run(live.store.users.by_email(email))
    assert user is not None
    token, _ = live.run(auth.reset_link(live.store, user))
    page.goto(f"{live.url}/#reset={token}")
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password").fill("a fresh password")
    page.get_by_label("Repeat the password").fill("a fresh password")
    page.get_by_role("button", name="Save password and sign in").click()
    expect(page.locator("#user-email")).to_have_text(email)
    other, _ = new_page(browser)
    sign_in(other, live, email)  # the old password no longer works
    expect(other.get_by_role("alert")).to_have_text("Wrong e-mail or password")
    other.get_by_label("Password", exact=True).fill("a fresh password")
    other.get_by_role("button", name="Sign in", exact=True).click()
    expect(other.locator("#user-email")).to_have_text(email)
    other.context.close()


def test_demo_link_signs_in_with_one_click_across_restarts(
    browser: Browser, live: LiveServer, demo: Demo
) -> None:
    again = live.run(live.store.users.by_email("demo@example.com"))
    assert again is not None
    restarted = live.run(auth.demo_link(live.store, again))  # what the next start prints
    assert restarted == demo.sign_in_token
    page, console = new_page(browser, "th-TH")
    page.goto(f"{live.url}/#demo={demo.sign_in_token}")
    expect(page.locator("#user-email")).to_have_text("demo@example.com")
    expect(page.locator("#customers tbody tr")).to_have_count(50)
    expect(page.get_by_role("button", name="ออกจากระบบ")).to_be_visible()
    assert "#demo" not in page.url
    page.reload()  # the session outlives the page
    expect(page.locator("#user-email")).to_have_text("demo@example.com")
    assert console.errors == []
    page.context.close()


def test_pages_have_no_console_error_nor_serious_accessibility_violation(
    browser: Browser, live: LiveServer, demo: Demo
) -> None:
    english = english_shop(live)
    for language, shop_id in (("en", english), ("th", demo.shop_id)):
        page, console = new_page(browser, f"{language}-TH" if language == "th" else "en-US")
        page.goto(live.url + "/")
        expect(page.locator("#sign-in-form button[type=submit]")).to_be_visible()
        assert serious_accessibility_violations(page) == [], language
        screenshot(page, f"sign-in-{language}")
        email = live.add_user(shop_id)
        page.locator("#email-input").fill(email)
        page.locator("#password-input").fill(PASSWORD)
        page.locator("#sign-in-form button[type=submit]").click()
        expect(page.locator("#customers tbody tr").first).to_be_visible()
        expect(page.locator("#sum-channels li").first).to_be_visible()
        assert serious_accessibility_violations(page) == [], language
        screenshot(page, f"report-{language}")
        assert console.errors == [], language
        page.context.close()


def add_chat(live: LiveServer, shop_id: str, platform_user_id: str, count: int) -> None:
    """`count` messages of a customer, three to a second (milliseconds apart), stored newest
    first: "message 0" is the oldest."""
    second = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)

    async def add() -> None:
        scoped = live.store.for_shop(shop_id)
        customer = await live.store.db.customers.find_one(
            {"shop_id": shop_id, "platform_user_id": platform_user_id}
        )
        assert customer is not None
        for n in reversed(range(count)):
            sent_at = second + timedelta(seconds=n // 3, milliseconds=n % 3 * 7)
            await scoped.messages.add(
                {
                    "customer_id": customer["_id"],
                    "channel": customer["channel"],
                    "channel_id": None,
                    "direction": "out" if n % 2 else "in",
                    "type": "text",
                    "text": f"message {n}",
                    "platform_message_id": f"chat-{n}",
                    "sent_at": sent_at,
                }
            )

    live.run(add())


def test_chat_history_reads_oldest_at_the_top_and_opens_twice_without_duplicates(
    page: Page, live: LiveServer
) -> None:
    shop_id = english_shop(live)
    add_chat(live, shop_id, "U0000", 45)
    sign_in(page, live, live.add_user(shop_id))
    page.get_by_role("cell", name="Alice Brown 0", exact=True).click()
    history = page.get_by_role("button", name="View conversation history")
    messages = page.locator("#detail-messages li")
    history.click()
    expect(messages).to_have_count(30)  # the newest page, oldest of it at the top
    expect(messages.first).to_contain_text("message 15")
    expect(messages.last).to_contain_text("message 44")
    history.click()  # opened again: the same messages, once each
    expect(messages).to_have_count(30)
    expect(messages.first).to_contain_text("message 15")
    page.get_by_role("button", name="Older messages").click()
    expect(messages).to_have_count(45)
    texts = [t.split("message ")[-1] for t in messages.all_inner_texts()]
    assert texts == [str(n) for n in range(45)]
    expect(page.get_by_role("button", name="Older messages")).to_be_hidden()
    history.click()
    expect(messages).to_have_count(30)


LINE_USER = "U4af4980629a1b2c3d4e5f60718293a4b"


def line_customer(live: LiveServer, shop_id: str, status: str | None = None) -> str:
    """A customer who wrote to the shop's LINE channel (pushes go to the fake LINE API)."""

    async def make() -> str:
        scoped = live.store.for_shop(shop_id)
        secrets = {"channel_secret": "s" * 32, "access_token": LIVE_LINE_TOKEN}
        channel = await scoped.channels.add("line", secrets)
        customer = await scoped.customers.upsert_contact(
            "line",
            LINE_USER,
            channel_id=channel.id,
            at=datetime.now(UTC),
            set_fields={"name": "Mali LINE"},
            status=status,
        )
        return str(customer["_id"])

    return live.run(make())


def test_a_reply_goes_out_and_joins_the_chat(page: Page, live: LiveServer) -> None:
    shop_id = english_shop(live)
    line_customer(live, shop_id)
    sign_in(page, live, live.add_user(shop_id, "staff"))
    page.get_by_role("cell", name="Mali LINE", exact=True).click()
    page.get_by_role("button", name="View conversation history").click()
    page.get_by_label("Reply to the customer").fill("  ส่งของพรุ่งนี้นะคะ 📦  ")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#reply-status")).to_have_text("Sent")
    expect(page.locator("#detail-messages li.out")).to_contain_text("ส่งของพรุ่งนี้นะคะ 📦")
    pushes = [p for p in live.line.pushed() if p["to"] == LINE_USER]
    assert [m["text"] for p in pushes for m in p["messages"]] == ["ส่งของพรุ่งนี้นะคะ 📦"]
    page.get_by_role("button", name="View conversation history").click()  # opened again
    expect(page.locator("#detail-messages li")).to_have_count(1)
    assert serious_accessibility_violations(page) == []


def test_a_refused_reply_says_why(page: Page, live: LiveServer) -> None:
    shop_id = english_shop(live)
    line_customer(live, shop_id, status="unfollowed")
    sign_in(page, live, live.add_user(shop_id))
    page.get_by_role("cell", name="Mali LINE", exact=True).click()
    page.get_by_label("Reply to the customer").fill("hello")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator("#reply-status")).to_have_text("The customer blocked the shop's account")
    expect(page.locator("#detail-messages li")).to_have_count(0)
