"""Saved filters ("segments") of a shop: a name, report filters and a sort."""

from __future__ import annotations

import unicodedata
from typing import Any

from pymongo.errors import DuplicateKeyError

from chatcrm.domain import ConflictError
from chatcrm.store.base import Doc, ShopScoped, index, new_id, utcnow

INDEXES = {
    "segments": [index("shop_id", "name_key", unique=True, name="segment_name")],
}


def name_key(name: str) -> str:
    """What makes two segment names the same: case and runs of spaces do not count."""
    return " ".join(name.split()).casefold()


def typed_key(name: str) -> str:
    """`name_key` of a name as typed in a chat (NFC, as chat commands are matched)."""
    return name_key(unicodedata.normalize("NFC", name))


class ShopSegments(ShopScoped):
    """One shop's segments. Names are unique per shop (the ``segment_name`` index decides)."""

    collection_name = "segments"

    async def create(self, fields: dict[str, Any], segment_id: str | None = None) -> Doc:
        """Store a new segment from validated `fields`; ConflictError when the name is taken."""
        now = utcnow()
        doc = {
            "_id": segment_id or new_id("seg"),
            "shop_id": self.shop_id,
            **fields,
            "name_key": name_key(fields["name"]),
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        await self._write(self.coll.insert_one(doc), fields["name"])
        return doc

    async def get(self, segment_id: str) -> Doc | None:
        """The shop's segment, or None."""
        return await self.coll.find_one(self.exact({"_id": segment_id}))

    async def named(self, name: str) -> Doc | None:
        """The shop's segment called `name` (case and runs of spaces aside), or None.

        One lookup on the ``segment_name`` index; a name stored in another Unicode form than
        typed (a chat sends NFC) is found among the shop's few segments.
        """
        found = await self.coll.find_one(self.exact({"name_key": name_key(name)}))
        if found is not None:
            return found
        key = typed_key(name)
        return next((doc for doc in await self.list() if typed_key(doc["name"]) == key), None)

    async def list(self) -> list[Doc]:
        """Every segment of the shop, by name."""
        return await self.coll.find(self.where()).sort("name_key", 1).to_list(None)

    async def replace(self, doc: Doc, fields: dict[str, Any]) -> Doc | None:
        """Write `fields` onto the segment read as `doc`; None when it changed or went since.

        A whole-document replacement guarded by ``version`` (nx-27017 turns a date written
        by ``$set`` into a string). ConflictError when the new name is taken.
        """
        new = {
            **doc,
            **fields,
            "shop_id": self.shop_id,
            "name_key": name_key(fields.get("name", doc["name"])),
            "version": doc["version"] + 1,
            "updated_at": utcnow(),
        }
        guard = self.exact({"_id": doc["_id"], "version": doc["version"]})
        result = await self._write(self.coll.replace_one(guard, new), new["name"])
        return new if result.matched_count == 1 else None

    async def delete(self, segment_id: str) -> bool:
        """Remove the segment; False when the shop has no such segment."""
        result = await self.coll.delete_one(self.exact({"_id": segment_id}))
        return result.deleted_count == 1

    async def _write(self, operation: Any, name: str) -> Any:
        try:
            return await operation
        except DuplicateKeyError:
            raise ConflictError(
                f"a segment named {name!r} exists already", field="name", code="name_taken"
            ) from None
