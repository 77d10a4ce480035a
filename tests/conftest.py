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


@pytest.fixture
def settings(mongo_uri: str, tmp_path: Path) -> Settings:
    """Settings of a service on the session's server, with a database of its own."""
    return Settings(
        mongodb_uri=mongo_uri,
        mongodb_db=f"t_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path / "var",
        secret_key=SECRET_KEY,
    )


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[Store]:
    """A store on the test's own database, indexes created; dropped after the test."""
    assert settings.mongodb_uri is not None
    st = Store.connect(settings.mongodb_uri, settings.mongodb_db, SecretBox(SECRET_KEY))
    await st.ensure_indexes()
    yield st
    await st.client.drop_database(settings.mongodb_db)
    await st.close()


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
from tests.ingest_support import fakes, ingest  # noqa: E402, F401 - ingestion test fixtures
