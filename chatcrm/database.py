"""Opening the database: the configured MongoDB, or the embedded nx-27017 default."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pymongo
from pymongo.errors import ConnectionFailure, PyMongoError

from chatcrm.config import Settings
from chatcrm.embedded import EmbeddedMongo
from chatcrm.secrets_box import SecretBox, load_secret_box
from chatcrm.store import Store

log = logging.getLogger(__name__)

STARTUP_CHECK_SECONDS = 3.0
"""How long start-up waits for a configured MONGODB_URI to answer before giving up."""


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be used or reached (one line naming MONGODB_URI)."""


@dataclass
class Database:
    """An open store and what it runs on."""

    store: Store
    kind: str  # "embedded" or "mongodb"
    settings: Settings | None = None


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Open the store (starting nx-27017 when no MONGODB_URI is set) and close it after."""
    box = load_secret_box(settings.secret_key, settings.data_dir)
    embedded: EmbeddedMongo | None = None
    if settings.embedded:
        embedded = EmbeddedMongo(settings.data_dir)
        uri = embedded.start()
        kind = "embedded"
    else:
        assert settings.mongodb_uri is not None
        uri = settings.mongodb_uri
        kind = "mongodb"
    try:
        store = await _connect(uri, settings.mongodb_db, box, check=not settings.embedded)
        store.channel_cache_seconds = settings.channel_cache_seconds
        try:
            await store.ensure_indexes()
            log.info("database: %s (%s), db %s", kind, _redact(uri), settings.mongodb_db)
            yield Database(store=store, kind=kind, settings=settings)
        finally:
            await store.close()
    finally:
        if embedded is not None:
            embedded.stop()


async def _connect(uri: str, db_name: str, box: SecretBox, *, check: bool) -> Store:
    """The store on `uri`; with `check`, DatabaseUnavailable unless it answers in a few seconds."""
    if not check:
        return Store.connect(uri, db_name, box)
    try:
        store = Store.connect(uri, db_name, box)  # an unknown mongodb+srv host fails here
    except (PyMongoError, ValueError) as err:  # ValueError: a port out of range
        raise DatabaseUnavailable(f"MONGODB_URI: {_reason(err)}") from None
    try:
        with pymongo.timeout(STARTUP_CHECK_SECONDS):
            await store.ping()
    except PyMongoError as err:
        await store.close()
        if isinstance(err, ConnectionFailure):
            problem = f"does not answer within {STARTUP_CHECK_SECONDS:g} s"
        else:  # refused by the server: authentication, authorisation
            problem = "refuses the connection"
        message = f"MONGODB_URI: {_redact(uri)} {problem}: {_reason(err)}"
        raise DatabaseUnavailable(message) from None
    return store


def _reason(err: Exception) -> str:
    """The first clause of a driver error, on one line, without the topology dump."""
    text = " ".join(str(err).split())
    for tail in (" (configured timeouts", ", Timeout:", ", full error:"):
        text = text.split(tail, 1)[0]
    return text


def _redact(uri: str) -> str:
    """Hide credentials of a connection string for the log."""
    scheme, sep, rest = uri.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest
