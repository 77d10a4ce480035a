"""Browser-test fixtures: the real service on a free port, Debian's headless Chromium, axe-core.

One service (on the session's database server, a database of its own) and one browser serve
every browser test; each test gets a fresh browser context (cookies, locale) and page.
`scripts/setup-browser` installs the browser; Playwright drives it, never downloads one.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from axe_playwright_python.base import AXE_SCRIPT
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright

from chatcrm import auth
from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.demo import seed_demo
from chatcrm.keys import DATABASE
from chatcrm.store import Store
from reports.exports import ExportLimits
from tests.conftest import SECRET_KEY

T = TypeVar("T")

PACKAGE = "chromium-headless-shell"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
"""Where the tests leave pictures of the pages for reviewers (README names it)."""
PASSWORD = "browser password 1"
EXPORT_ROWS = 100
"""Rows per export file in the browser tests' service: the demo's 120 customers need the ZIP."""


def chromium_executable() -> str:
    """The headless shell's binary as Debian installs it (the /usr/bin name is a wrapper)."""
    dpkg = shutil.which("dpkg") or "dpkg"
    try:
        files = subprocess.run(
            [dpkg, "-L", PACKAGE], capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.fail(f"{PACKAGE} is not installed: run scripts/setup-browser")
    binaries = [f for f in files if f.startswith("/usr/lib/") and f.endswith("/" + PACKAGE)]
    assert binaries, f"no {PACKAGE} binary in dpkg -L {PACKAGE}"
    return binaries[0]


class LiveServer:
    """The app served on 127.0.0.1 by an event loop in a thread of its own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None
        self.url = ""

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (the store lives there) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=120)

    @property
    def store(self) -> Store:
        """The running app's store."""
        assert self.runner is not None
        return self.runner.app[DATABASE].store

    def start(self) -> None:
        """Start the loop and the app; `url` is where it answers."""
        self.thread.start()
        self.run(self._start())

    async def _start(self) -> None:
        app = create_app(self.settings, export_limits=ExportLimits(rows=EXPORT_ROWS))
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        """Drop the database, stop the app and the loop."""
        if self.runner is not None:
            self.run(self.store.client.drop_database(self.settings.mongodb_db))
            self.run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)

    def add_user(self, shop_id: str, role: str = "owner", password: str = PASSWORD) -> str:
        """A user of `shop_id` with a fresh e-mail address (returned) and `password`."""
        email = f"{role}-{uuid.uuid4().hex[:8]}@shop.example"

        async def create() -> None:
            await self.store.users.create(shop_id, email, role, await auth.hash_password(password))

        self.run(create())
        return email


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps its event loop running in the
    main thread from the first browser test to the end of the session, where no asyncio test
    could run."""
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))


@dataclass
class Demo:
    """The demo shop as `chatcrm serve --demo` makes it (fewer customers)."""

    shop_id: str
    sign_in_token: str
    summary: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="session")
def live(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real service for the browser tests, on a database of its own."""
    settings = Settings(
        mongodb_uri=mongo_uri,
        mongodb_db=f"b_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path_factory.mktemp("live"),
        secret_key=SECRET_KEY,
        inbox_workers=0,
    )
    server = LiveServer(settings)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo(live: LiveServer) -> Demo:
    """The demo shop, seeded in the live service."""
    summary = live.run(seed_demo(live.store, customers=120))
    return Demo(summary["shop_id"], summary["sign_in_token"], summary)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    """Playwright's driver (sync API)."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    chromium = playwright.chromium.launch(executable_path=chromium_executable(), args=LAUNCH_ARGS)
    yield chromium
    chromium.close()


class Console:
    """Errors a page reported: console.error calls, failed loads, uncaught exceptions."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


def new_page(browser: Browser, locale: str = "en-US") -> tuple[Page, Console]:
    """A page in a fresh context (no cookies) whose browser language is `locale`."""
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    page = context.new_page()
    return page, Console(page)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """An English-speaking browser page; closed after the test."""
    tab, _ = new_page(browser)
    yield tab
    tab.context.close()


def serious_accessibility_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.evaluate(AXE_SCRIPT)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:5]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def screenshot(page: Page, name: str) -> None:
    """Save a full-page picture as docs/screenshots/`name`.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)
