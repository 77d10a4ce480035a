"""Shared pieces of the store: ids, clocks, and the shop-scoped repository base class."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo import IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, ServerSelectionTimeoutError

from chatcrm.domain import DomainError, whole_ms
from chatcrm.json_input import parse_json

Doc = dict[str, Any]

DATABASE_ERRORS = (ConnectionFailure, ServerSelectionTimeoutError)
"""Driver errors meaning the database does not answer (AutoReconnect is a ConnectionFailure)."""


def new_id(prefix: str) -> str:
    """Return a random id like ``cus_3f9a...``; string ids read alike on MongoDB and nx-27017."""
    return f"{prefix}_{secrets.token_hex(10)}"


def utcnow() -> datetime:
    """Return the current time, timezone-aware, truncated to milliseconds as BSON keeps it."""
    return whole_ms(datetime.now(UTC))


def pack_cursor(data: Mapping[str, Any]) -> str:
    """An opaque page cursor carrying `data` (JSON, URL-safe base64 without padding)."""
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def unpack_cursor(cursor: str) -> dict[str, Any]:
    """The data of a cursor made by `pack_cursor`; DomainError(field="cursor") when bad.

    A cursor comes back from the client: its JSON is read within `parse_json`'s bounds.
    """
    try:
        data = parse_json(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):  # MalformedJson and DomainError are ValueErrors
        data = None
    if not isinstance(data, dict):
        raise DomainError("cursor is not valid", field="cursor")
    return data


def index(*keys: str, unique: bool = False, name: str | None = None, **options: Any) -> IndexModel:
    """Build an ascending compound index; every index of the project is led by ``shop_id``."""
    kwargs: dict[str, Any] = {"unique": unique, **options}
    if name:
        kwargs["name"] = name
    return IndexModel([(k, 1) for k in keys], **kwargs)


class ShopScoped:
    """Base of the per-shop repositories: every query it builds carries the shop id."""

    collection_name: str = ""

    def __init__(self, db: AsyncDatabase[Doc], shop_id: str) -> None:
        if not shop_id:
            raise ValueError("shop_id is required")
        self.shop_id = shop_id
        self.coll: AsyncCollection[Doc] = db[self.collection_name]

    def scope(self, query: Mapping[str, Any] | None = None) -> Doc:
        """Return `query` restricted to this shop (a caller's own shop_id cannot widen it)."""
        return {**(query or {}), "shop_id": self.shop_id}

    def where(self, query: Mapping[str, Any] | None = None) -> Doc:
        """Return the read filter `query` restricted to this shop, as ``{"$eq": shop_id}``.

        The same match as `scope` on MongoDB; on nx-27017 only the ``$eq`` form becomes an
        indexable SQL comparison (a bare value adds an array-containment test that rules out
        every index). For filters only: `scope` builds documents too.
        """
        return {**(query or {}), "shop_id": {"$eq": self.shop_id}}

    def exact(self, query: Mapping[str, Any]) -> Doc:
        """`where` with every equality of `query` written as ``{"$eq": value}`` too.

        For hot lookups by a unique key: nx-27017 serves ``$eq`` from a compound index but
        turns a bare equality into an array-containment test that no index serves.
        """
        return self.where({k: {"$eq": v} for k, v in query.items()})

    async def tally(self, query: Mapping[str, Any] | None = None) -> int:
        """How many of this shop's documents match `query`.

        ``$match`` + ``$count``: nx-27017 runs it as one SQL ``COUNT`` over the shop's index
        range, where it runs ``count_documents`` in Python over the whole collection.
        """
        pipeline = [{"$match": self.where(query)}, {"$count": "n"}]
        result = await (await self.coll.aggregate(pipeline)).to_list(None)
        return int(result[0]["n"]) if result else 0

    async def insert_new(self, docs: list[Doc]) -> int:
        """Insert this shop's prepared documents, skipping duplicates of unique keys.

        Used by seeds, imports and the webhook inbox, whose documents may arrive again;
        returns how many were inserted. Any other write error is raised.
        """
        outcome = await self.insert_unordered(docs)
        if outcome.errors:
            raise BulkWriteError(outcome.details)
        return outcome.inserted

    async def insert_unordered(self, docs: list[Doc]) -> InsertOutcome:
        """Insert this shop's documents with one unordered ``insert_many``, reporting per document.

        A document whose unique key exists already is a duplicate, not an error; the others
        are inserted even when some fail.
        """
        if not docs:
            return InsertOutcome(0, set(), {}, {})
        if any(d.get("shop_id") != self.shop_id for d in docs):
            raise ValueError("document belongs to another shop")
        try:
            result = await self.coll.insert_many(docs, ordered=False)
        except BulkWriteError as err:
            duplicates: set[int] = set()
            errors: dict[int, str] = {}
            for error in err.details.get("writeErrors", []):
                if error.get("code") == DUPLICATE_KEY:
                    duplicates.add(int(error["index"]))
                else:
                    errors[int(error["index"])] = str(error.get("errmsg", "write error"))
            inserted = int(err.details.get("nInserted", len(docs) - len(duplicates) - len(errors)))
            return InsertOutcome(inserted, duplicates, errors, err.details)
        return InsertOutcome(len(result.inserted_ids), set(), {}, {})


DUPLICATE_KEY = 11000
"""MongoDB's error code for a unique index violation."""


@dataclass(frozen=True)
class InsertOutcome:
    """What an unordered insert did: `duplicates` and `errors` hold indexes into the input."""

    inserted: int
    duplicates: set[int]
    errors: dict[int, str]
    details: dict[str, Any]


def setting(values: Callable[[Doc], Doc]) -> Callable[[Doc], Doc]:
    """The `set_missing` update that ``$set``s `values` of each document."""
    return lambda doc: {"$set": values(doc)}


async def set_missing(
    coll: Any,
    missing: Doc,
    projection: Doc,
    update: Callable[[Doc], Doc],
    batch: int,
    *,
    guard: str = "version",
) -> int:
    """Apply the `update` of each document matching `missing`, in batches; how many changed.

    A start-up migration of derived fields, for every shop at once. Each update is guarded by
    the `guard` field read (which every writer of the collection bumps: a customer's
    ``version``, a message's ``revision``) and by `missing`, so a document changed meanwhile
    keeps what its writer wrote. Values set are integers or strings, which ``$set`` keeps as they
    are on nx-27017 (docs/mongodb-compat.md#dates-as-integer-copies). `setting` makes the
    update of a function of the values to set.
    """
    done = 0
    ops: list[UpdateOne] = []
    async for doc in coll.find(missing, {**projection, guard: 1}).batch_size(batch):
        seen = doc.get(guard)
        held = {"$eq": seen} if seen is not None else {"$exists": False}
        ops.append(UpdateOne({"_id": doc["_id"], guard: held, **missing}, update(doc)))
        if len(ops) >= batch:
            done += (await coll.bulk_write(ops, ordered=False)).modified_count
            ops = []
    if ops:
        done += (await coll.bulk_write(ops, ordered=False)).modified_count
    return done


class CustomerOwned(ShopScoped):
    """A repository of documents that belong to a customer (``customer_id``) and came from one
    of its chat identities (``identity_id``: the customer document of that identity, which is
    the customer itself until customers are merged). Merges move them; string ``$set``s only."""

    async def move_to_person(self, from_id: str, person: str) -> None:
        """Give the documents of customer `from_id` to `person`, each keeping the identity it
        came from (written where missing first). Idempotent."""
        unstamped = self.where({"customer_id": {"$eq": from_id}, "identity_id": {"$exists": False}})
        await self.coll.update_many(unstamped, {"$set": {"identity_id": from_id}})
        owned = self.where({"customer_id": {"$eq": from_id}})
        await self.coll.update_many(owned, {"$set": {"customer_id": person}})

    async def give_back(self, person: str, identity_id: str) -> None:
        """Give the documents of `person` that came from identity `identity_id` back to the
        customer of that identity (an unmerge). Idempotent."""
        query = self.where({"customer_id": {"$eq": person}, "identity_id": {"$eq": identity_id}})
        await self.coll.update_many(query, {"$set": {"customer_id": identity_id}})
