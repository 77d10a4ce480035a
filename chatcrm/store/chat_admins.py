"""Chat admins (sellers' chat accounts linked to a shop) and the one-time codes that link them.

Codes, like API tokens, are stored only as SHA-256 digests: the clear code is shown once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from pymongo import ReturnDocument

from chatcrm.domain import ROLES, DomainError
from chatcrm.store.base import Doc, ShopScoped, index, new_id, utcnow
from chatcrm.store.inbox import now_ms

INDEXES = {
    "chat_admins": [
        index("shop_id", "channel", "platform_user_id", unique=True, name="chat_admin_identity"),
    ],
    "link_codes": [index("shop_id", "expires_ms", name="by_expiry")],
}

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""Letters and digits that cannot be mistaken for one another (no 0/O, 1/I/L)."""
CODE_LENGTH = 10
"""About 50 bits: with 5 wrong tries an hour per chat identity, not guessable."""
CODE_TTL = timedelta(minutes=10)
_CODE_SHAPE = re.compile(f"[{CODE_ALPHABET}]{{8,16}}")
_SEPARATORS = re.compile(r"[\s\-_.]+")

Identity = tuple[str, str]
"""(customer channel, platform user id) of a chat account."""


def new_link_code() -> str:
    """A fresh link code: CODE_LENGTH characters of CODE_ALPHABET."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str) -> str | None:
    """A typed code in its canonical form (upper case, separators dropped), or None.

    None when it cannot be a code at all (wrong length or a character outside the alphabet).
    """
    code = _SEPARATORS.sub("", text).upper()
    return code if _CODE_SHAPE.fullmatch(code) else None


def code_digest(code: str) -> str:
    """What a code is stored and looked up under."""
    return hashlib.sha256(("link:" + code).encode()).hexdigest()


class ShopLinkCodes(ShopScoped):
    """One shop's link codes: created by an owner, redeemed once by a chat account."""

    collection_name = "link_codes"

    async def create(self, role: str, actor: str) -> tuple[str, datetime]:
        """A new code for `role` and when it expires; the clear code is never stored."""
        if role not in ROLES:
            raise DomainError(f"role must be one of {', '.join(ROLES)}", field="role")
        code = new_link_code()
        expires = utcnow() + CODE_TTL
        await self.coll.insert_one(
            {
                "_id": code_digest(code),
                "shop_id": self.shop_id,
                "role": role,
                "created_by": actor,
                "created_at": utcnow(),
                "expires_ms": int(expires.timestamp() * 1000),
                "used_ms": None,
                "used_by": None,
            }
        )
        return code, expires

    async def redeem(self, typed: str, by: Identity) -> str | None:
        """The role of a valid code, used up by this call; None for a wrong, used or expired one.

        One atomic ``find_one_and_update`` guarded by "unused and not expired", so of two
        accounts sending the same code at once exactly one links.
        """
        code = normalise_code(typed)
        if code is None:
            return None
        now = now_ms()
        doc = await self.coll.find_one_and_update(
            self.exact({"_id": code_digest(code), "used_ms": None}) | {"expires_ms": {"$gt": now}},
            {"$set": {"used_ms": now, "used_by": f"{by[0]}:{by[1]}"[:300]}},
            return_document=ReturnDocument.AFTER,
        )
        return str(doc["role"]) if doc else None


def public_admin(doc: Doc) -> Doc:
    """A chat admin document as API output."""
    return {
        "id": doc["_id"],
        "channel": doc["channel"],
        "platform_user_id": doc["platform_user_id"],
        "channel_id": doc.get("channel_id"),
        "name": doc.get("name"),
        "role": doc["role"],
        "linked_at": doc.get("linked_at"),
    }


class ShopChatAdmins(ShopScoped):
    """One shop's chat admins: chat identities whose commands the bot answers."""

    collection_name = "chat_admins"

    async def find(self, identity: Identity) -> Doc | None:
        """The chat admin with this identity, or None (one ``$eq`` lookup on its index)."""
        return await self.coll.find_one(
            self.exact({"channel": identity[0], "platform_user_id": identity[1]})
        )

    async def get(self, admin_id: str) -> Doc | None:
        """This shop's chat admin by id, or None."""
        return await self.coll.find_one(self.exact({"_id": admin_id}))

    async def link(self, identity: Identity, channel_id: str, role: str, name: str | None) -> Doc:
        """Make `identity` a chat admin with `role` (a linked one keeps its id, gets the role).

        A whole-document upsert on the identity key: dates stay dates on nx-27017.
        """
        found = await self.find(identity)
        doc = {
            "_id": found["_id"] if found else new_id("adm"),
            "shop_id": self.shop_id,
            "channel": identity[0],
            "platform_user_id": identity[1],
            "channel_id": channel_id,
            "name": name or (found or {}).get("name"),
            "role": role,
            "linked_at": utcnow(),
        }
        await self.coll.replace_one(
            self.scope({"channel": identity[0], "platform_user_id": identity[1]}), doc, upsert=True
        )
        return doc

    async def remove(self, admin_id: str) -> Doc | None:
        """Unlink a chat admin; the removed document, or None when there was none."""
        return await self.coll.find_one_and_delete(self.exact({"_id": admin_id}))

    async def list(self) -> list[Doc]:
        """Every chat admin of the shop, as API items, oldest link first."""
        docs = await self.coll.find(self.where()).sort("linked_at", 1).to_list(None)
        return [public_admin(doc) for doc in docs]

    async def identities(self) -> set[Identity]:
        """The identities of every chat admin of the shop (few: one query, read whole)."""
        cursor = self.coll.find(self.where(), {"channel": 1, "platform_user_id": 1})
        return {(doc["channel"], doc["platform_user_id"]) async for doc in cursor}
