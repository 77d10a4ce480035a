"""Dashboard users, their sessions, one-time links and sign-in attempt counters.

Secrets (session ids, link tokens) are stored only as SHA-256 digests, like API tokens. Times
that are compared or changed later are integer epoch milliseconds (``*_ms``): nx-27017 turns a
date written by ``$set`` into a string. ``purge_at`` dates are written once, on insert, for
MongoDB's TTL monitor to delete what has expired (nx-27017 ignores TTL: nothing depends on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from chatcrm.domain import ROLES, DomainError, epoch_ms
from chatcrm.store.base import Doc, index, new_id, utcnow
from chatcrm.store.shops import token_digest

_TTL = {"expireAfterSeconds": 0}
INDEXES = {
    # Sign-in finds a user by e-mail before any shop is known: one account per address,
    # across shops. Users are few and stay unsharded, like shops.
    "users": [index("email", unique=True, name="email_unique"), index("shop_id", "email")],
    "sessions": [index("shop_id", "user_id"), index("purge_at", name="purge_ttl", **_TTL)],
    "auth_links": [index("shop_id", "kind"), index("purge_at", name="purge_ttl", **_TTL)],
    "sign_in_attempts": [index("purge_at", name="purge_ttl", **_TTL)],
}


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    ms = epoch_ms(utcnow())
    assert ms is not None
    return ms


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True)
class User:
    """A person who signs in to a shop's dashboard."""

    id: str
    shop_id: str
    email: str
    role: str
    password_hash: str | None
    """The argon2id hash, or None until a password is set (a demo owner, say)."""

    @classmethod
    def from_doc(cls, doc: Doc) -> User:
        """Build from a ``users`` document."""
        return cls(doc["_id"], doc["shop_id"], doc["email"], doc["role"], doc.get("password"))


class Users:
    """The users collection (every shop's; e-mail addresses are unique across shops)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["users"]

    async def create(self, shop_id: str, email: str, role: str, password_hash: str | None) -> User:
        """Add a user; DomainError(field="email", code="conflict") when the address is taken."""
        if role not in ROLES:
            raise DomainError(f"role must be one of {', '.join(ROLES)}", field="role")
        doc = {
            "_id": new_id("usr"),
            "shop_id": shop_id,
            "email": email,
            "role": role,
            "password": password_hash,
            "password_ms": now_ms(),
            "created_at": utcnow(),
        }
        try:
            await self.coll.insert_one(doc)
        except DuplicateKeyError:
            raise DomainError(
                f"{email} already has an account", field="email", code="conflict"
            ) from None
        return User.from_doc(doc)

    async def by_email(self, email: str) -> User | None:
        """The user with this (normalised) address, or None."""
        doc = await self.coll.find_one({"email": {"$eq": email}})
        return User.from_doc(doc) if doc else None

    async def get(self, user_id: str) -> User | None:
        """The user with this id, or None."""
        doc = await self.coll.find_one({"_id": {"$eq": user_id}})
        return User.from_doc(doc) if doc else None

    async def set_password(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash."""
        await self.coll.update_one(
            {"_id": {"$eq": user_id}},
            {"$set": {"password": password_hash, "password_ms": now_ms()}},
        )

    async def of_shop(self, shop_id: str) -> list[User]:
        """A shop's users, by e-mail."""
        cursor = self.coll.find({"shop_id": {"$eq": shop_id}}).sort("email", 1)
        return [User.from_doc(doc) async for doc in cursor]

    async def listing(self, shop_id: str) -> list[Doc]:
        """A shop's users as the team page shows them, by e-mail: never a password hash."""
        cursor = self.coll.find({"shop_id": {"$eq": shop_id}}).sort("email", 1)
        return [
            {
                "id": doc["_id"],
                "email": doc["email"],
                "role": doc["role"],
                "has_password": bool(doc.get("password")),
                "created_at": doc.get("created_at"),
            }
            async for doc in cursor
        ]

    async def remove(self, shop_id: str, user_id: str) -> User | None:
        """Delete a user of the shop; the user deleted, or None (another shop's id too)."""
        query = {"_id": {"$eq": user_id}, "shop_id": {"$eq": shop_id}}
        doc = await self.coll.find_one_and_delete(query)
        return User.from_doc(doc) if doc else None


@dataclass(frozen=True)
class Session:
    """A signed-in browser: whose, and the CSRF token its unsafe requests must carry."""

    user_id: str
    shop_id: str
    csrf: str
    expires_ms: int


class Sessions:
    """Server-side sessions behind the dashboard's cookie."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["sessions"]

    async def create(
        self, user: User, token: str, csrf: str, *, idle: timedelta, lifetime: timedelta
    ) -> Session:
        """Store a new session under the digest of `token`; it ends after `idle` unused."""
        now = now_ms()
        doc = {
            "_id": token_digest(token),
            "shop_id": user.shop_id,
            "user_id": user.id,
            "csrf": csrf,
            "created_ms": now,
            "seen_ms": now,
            "expires_ms": now + _ms(idle),
            "ends_ms": now + _ms(lifetime),
            "purge_at": utcnow() + lifetime,
        }
        await self.coll.insert_one(doc)
        await self.coll.delete_many(
            {"shop_id": {"$eq": user.shop_id}, "user_id": {"$eq": user.id}, "ends_ms": {"$lt": now}}
        )
        return Session(user.id, user.shop_id, csrf, doc["expires_ms"])

    async def resolve(
        self, token: str, *, idle: timedelta, touch_after: timedelta
    ) -> Session | None:
        """The live session of `token`, or None; extends its idle expiry now and then."""
        doc = await self.coll.find_one({"_id": {"$eq": token_digest(token)}})
        now = now_ms()
        if doc is None or doc["expires_ms"] <= now or doc["ends_ms"] <= now:
            return None
        expires = doc["expires_ms"]
        if now - doc["seen_ms"] >= _ms(touch_after):
            expires = min(now + _ms(idle), doc["ends_ms"])
            await self.coll.update_one(
                {"_id": doc["_id"]}, {"$set": {"seen_ms": now, "expires_ms": expires}}
            )
        return Session(doc["user_id"], doc["shop_id"], doc["csrf"], expires)

    async def end(self, token: str) -> None:
        """End one session (sign-out)."""
        await self.coll.delete_one({"_id": {"$eq": token_digest(token)}})

    async def end_all(self, shop_id: str, user_id: str) -> int:
        """End every session of a user (a new password); return how many."""
        result = await self.coll.delete_many(
            {"shop_id": {"$eq": shop_id}, "user_id": {"$eq": user_id}}
        )
        return result.deleted_count


class Links:
    """One-time links (invitations, password resets) and the demo's reusable sign-in link."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["auth_links"]

    async def create(
        self, token: str, kind: str, shop_id: str, ttl: timedelta | None, **fields: Any
    ) -> datetime | None:
        """Store a link under the digest of `token`; return when it expires (None: never)."""
        doc: Doc = {"_id": token_digest(token), "kind": kind, "shop_id": shop_id, **fields}
        expires = None
        if ttl is not None:
            expires = utcnow() + ttl
            doc.update(expires_ms=now_ms() + _ms(ttl), purge_at=expires)
        doc["created_at"] = utcnow()
        await self.coll.insert_one(doc)
        return expires

    async def use(self, token: str, kind: str) -> Doc | None:
        """Consume a one-time link: its document, deleted so it never works again; None when
        unknown, used or expired."""
        query = {"_id": {"$eq": token_digest(token)}, "kind": {"$eq": kind}}
        return _unexpired(await self.coll.find_one_and_delete(query))

    async def peek(self, token: str, kind: str) -> Doc | None:
        """A link's document without consuming it (a reusable link), or None."""
        query = {"_id": {"$eq": token_digest(token)}, "kind": {"$eq": kind}}
        return _unexpired(await self.coll.find_one(query))

    async def of_shop(self, shop_id: str, kind: str) -> list[Doc]:
        """A shop's links of one kind."""
        query = {"shop_id": {"$eq": shop_id}, "kind": {"$eq": kind}}
        return [doc async for doc in self.coll.find(query)]

    async def pending_invitations(self, shop_id: str) -> list[Doc]:
        """A shop's unused, unexpired invitations, soonest to expire first (never a token)."""
        links = [d for d in await self.of_shop(shop_id, "invite") if _unexpired(d)]
        return [
            {
                "email": d["email"],
                "role": d["role"],
                "invited_by": d.get("by"),
                "created_at": d.get("created_at"),
                "expires_at": ms_to_datetime(d["expires_ms"]),
            }
            for d in sorted(links, key=lambda d: d["expires_ms"])
        ]

    async def remove(self, shop_id: str, kind: str) -> int:
        """Delete a shop's links of one kind; return how many."""
        result = await self.coll.delete_many({"shop_id": {"$eq": shop_id}, "kind": {"$eq": kind}})
        return result.deleted_count


class Attempts:
    """Failed sign-in counters in fixed windows, shared by every process of the service."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["sign_in_attempts"]

    @staticmethod
    def _key(scope: str, subject: str, window: timedelta) -> tuple[str, int]:
        size = _ms(window)
        start = now_ms() // size * size
        return f"{scope}:{token_digest(subject)[:32]}:{start}", start + size

    async def count(self, scope: str, subject: str, window: timedelta) -> tuple[int, int]:
        """Failures of `subject` in the current window, and when the window ends (epoch ms)."""
        key, ends = self._key(scope, subject, window)
        doc = await self.coll.find_one({"_id": {"$eq": key}})
        return (doc["n"] if doc else 0), ends

    async def add(self, scope: str, subject: str, window: timedelta) -> int:
        """Count one failure of `subject`; return the window's count."""
        key, ends = self._key(scope, subject, window)
        await self.coll.update_one(
            {"_id": key},
            {"$inc": {"n": 1}, "$setOnInsert": {"purge_at": ms_to_datetime(ends)}},
            upsert=True,
        )
        doc = await self.coll.find_one({"_id": {"$eq": key}})
        return int(doc["n"]) if doc else 1

    async def clear(self, scope: str, subject: str, window: timedelta) -> None:
        """Forget the current window's failures of `subject` (a successful sign-in)."""
        key, _ = self._key(scope, subject, window)
        await self.coll.delete_one({"_id": {"$eq": key}})


def _unexpired(doc: Doc | None) -> Doc | None:
    """A link document unless it has expired (a link without ``expires_ms`` never does)."""
    if doc is None or doc.get("expires_ms", now_ms() + 1) <= now_ms():
        return None
    return doc


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)
