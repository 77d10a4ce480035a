"""Opening the database: the configured MongoDB, or the embedded nx-27017 default."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from chatcrm.config import Settings
from chatcrm.embedded import EmbeddedMongo
from chatcrm.secrets_box import load_secret_box
from chatcrm.store import Store

log = logging.getLogger(__name__)


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
        store = Store.connect(uri, settings.mongodb_db, box)
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


def _redact(uri: str) -> str:
    """Hide credentials of a connection string for the log."""
    scheme, sep, rest = uri.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest
