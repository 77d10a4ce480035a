"""Test fixtures: one real database server per session, a fresh database per test, no internet."""

from __future__ import annotations

import ipaddress
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pymongo import MongoClient

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.embedded import EmbeddedMongo
from chatcrm.secrets_box import SecretBox
from chatcrm.store import Store

SECRET_KEY = SecretBox.generate_key()


def _local(host: Any) -> bool:
    if not isinstance(host, str):
        return True  # AF_UNIX paths and the like
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True, scope="session")
def _no_internet() -> Iterator[None]:
    """Fail any test that reaches anything but the loopback interface."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guard(address: Any) -> None:
        if not isinstance(address, tuple):
            return  # a Unix socket path (the export writers' fork server): never the network
        if not _local(address[0]):
            raise RuntimeError(f"test tried to reach {address!r}: only 127.0.0.1 is allowed")

    def connect(self: socket.socket, address: Any) -> None:
        guard(address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes):
            host = host.decode()
        guard((host,))
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    yield
    socket.socket.connect = real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = real_getaddrinfo


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MONGODB_URI when set (a real MongoDB), else one nx-27017 for the whole session."""
    if os.environ.get("MONGODB_URI"):
        yield os.environ["MONGODB_URI"]
        return
    server = EmbeddedMongo(tmp_path_factory.mktemp("mongo"))
    uri = server.start()
    yield uri
    server.stop()


class DatabasePool:
    """A database of its own for every test, dropped when the next test starts.

    Handing emptied databases on (to spare building indexes) was tried: nx-27017 then answered
    a date-range query on a collection emptied by an earlier test differently from a new one,
    so a test passed alone and failed after another. Every test gets a new database.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.returned: list[str] = []
        self.created: list[str] = []

    async def take(self) -> tuple[Store, bool]:
        """A store on a new database of the test's own (no indexes yet)."""
        while self.returned:
            store = self._connect(self.returned.pop())
            await store.client.drop_database(store.db.name)
            await store.close()
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.created.append(name)
        return self._connect(name), False

    def _connect(self, name: str) -> Store:
        return Store.connect(self.uri, name, SecretBox(SECRET_KEY))


@pytest.fixture(scope="session")
def database_pool(mongo_uri: str) -> Iterator[DatabasePool]:
    """The session's test databases; on MONGODB_URI every one is dropped at the end."""
    pool = DatabasePool(mongo_uri)
    yield pool
    if os.environ.get("MONGODB_URI"):
        with MongoClient(mongo_uri) as client:
            for name in pool.created:
                client.drop_database(name)


@pytest.fixture
async def own_database(database_pool: DatabasePool) -> AsyncIterator[tuple[Store, bool]]:
    """The test's own database, empty: a store on it and whether its indexes exist."""
    store, indexed = await database_pool.take()
    yield store, indexed
    database_pool.returned.append(store.db.name)
    await store.close()


@pytest.fixture
def settings(mongo_uri: str, tmp_path: Path, own_database: tuple[Store, bool]) -> Settings:
    """Settings of a service on the session's server, with a database of its own."""
    return Settings(
        mongodb_uri=mongo_uri,
        mongodb_db=own_database[0].db.name,
        data_dir=tmp_path / "var",
        secret_key=SECRET_KEY,
    )


@pytest.fixture
async def store(
    settings: Settings, own_database: tuple[Store, bool], database_pool: DatabasePool
) -> Store:
    """A store on the test's own database, every index created, no documents."""
    st, indexed = own_database
    if not indexed:
        await st.ensure_indexes()
    return st


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, store: Store) -> TestClient:
    """The real service on the test's database."""
    return await aiohttp_client(create_app(settings))


class ShopFixture:
    """A shop with an owner token and a staff token."""

    def __init__(self, shop_id: str, owner: str, staff: str) -> None:
        self.id = shop_id
        self.owner = owner
        self.staff = staff

    def auth(self, role: str = "owner") -> dict[str, str]:
        """Authorization header for the role."""
        return {"Authorization": f"Bearer {self.owner if role == 'owner' else self.staff}"}


async def make_shop(store: Store, name: str = "ร้านทดสอบ") -> ShopFixture:
    """Create a shop with tokens."""
    shop = await store.shops.create(name)
    return ShopFixture(
        shop.id,
        await store.tokens.create(shop.id, "owner", "owner"),
        await store.tokens.create(shop.id, "staff", "staff"),
    )


@pytest.fixture
async def shop(store: Store) -> ShopFixture:
    """Shop A."""
    return await make_shop(store, "Shop A")


@pytest.fixture
async def other_shop(store: Store) -> ShopFixture:
    """Shop B, whose data shop A must never see."""
    return await make_shop(store, "Shop B")


from tests.bot_support import bot, thai_bot  # noqa: E402, F401 - chat bot test fixtures
from tests.browser_support import (  # noqa: E402, F401 - browser fixtures, run last
    browser,
    demo,
    live,
    page,
    playwright,
    pytest_collection_modifyitems,
)
from tests.ingest_support import fakes, ingest  # noqa: E402, F401 - ingestion test fixtures
from tests.schedule_support import smtp, start_service  # noqa: E402, F401 - report e-mails
