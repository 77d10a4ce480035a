"""Download links: report files too large to attach, kept in the database for a while.

The file lives in the database (in chunks), not on one process's disk, so any process behind
the public address can serve its link. The link's token is stored only as a SHA-256 digest.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from bson import Binary
from pymongo.asynchronous.database import AsyncDatabase

from chatcrm.store.base import Doc, ShopScoped, index, utcnow

INDEXES = {
    "downloads": [index("shop_id", "expires_ms", name="download_expiry")],
    "download_chunks": [index("shop_id", "download_id", "n", name="download_chunk")],
}
CHUNK_BYTES = 1024 * 1024
TOKEN_PREFIX = "dl_"  # noqa: S105 - a prefix, not a secret


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ShopDownloads(ShopScoped):
    """One shop's download links."""

    collection_name = "downloads"

    async def put(
        self, path: Path, *, filename: str, content_type: str, now_ms: int, expires_ms: int
    ) -> str:
        """Store the file at `path` until `expires_ms`; return the link's token (shown once).

        The shop's expired links are removed first.
        """
        await self.purge_expired(now_ms)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        download_id = _digest(token)
        chunks = self.coll.database["download_chunks"]
        size = 0
        with path.open("rb") as file:
            n = 0
            while data := await asyncio.to_thread(file.read, CHUNK_BYTES):
                size += len(data)
                await chunks.insert_one(
                    {
                        "_id": f"{download_id}.{n:06d}",
                        "shop_id": self.shop_id,
                        "download_id": download_id,
                        "n": n,
                        "data": Binary(data),
                    }
                )
                n += 1
        await self.coll.insert_one(
            {
                "_id": download_id,
                "shop_id": self.shop_id,
                "filename": filename,
                "content_type": content_type,
                "size": size,
                "chunks": n,
                "created_at": utcnow(),
                "expires_ms": expires_ms,
            }
        )
        return token

    async def purge_expired(self, now_ms: int) -> int:
        """Remove the shop's links that expired before `now_ms`, and their files."""
        expired = await self.coll.find(
            self.where({"expires_ms": {"$lt": now_ms}}), {"_id": 1}
        ).to_list(None)
        for doc in expired:
            await self._remove(doc["_id"])
        return len(expired)

    async def _remove(self, download_id: str) -> None:
        chunks = self.coll.database["download_chunks"]
        await chunks.delete_many(self.where({"download_id": {"$eq": download_id}}))
        await self.coll.delete_one(self.exact({"_id": download_id}))

    async def chunks(self, doc: Doc) -> AsyncIterator[bytes]:
        """The file of a link, chunk by chunk, in order."""
        chunks = self.coll.database["download_chunks"]
        for n in range(int(doc["chunks"])):
            part = await chunks.find_one(
                self.exact({"download_id": doc["_id"], "n": n}), {"data": 1}
            )
            if part is None:
                raise LookupError(f"chunk {n} of download {doc['_id']} is missing")
            yield bytes(part["data"])


class Downloads:
    """Links by token: the token's digest is a globally unique id that carries its shop."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.coll = db["downloads"]

    async def find(self, token: str) -> Doc | None:
        """The link a token opens (expired or not), or None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        return await self.coll.find_one({"_id": {"$eq": _digest(token)}})

    def of_shop(self, doc: Doc) -> ShopDownloads:
        """The repository of the link's shop."""
        return ShopDownloads(self.coll.database, doc["shop_id"])
