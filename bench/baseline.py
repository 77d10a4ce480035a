"""Baseline for bench/ingest.py: an aiohttp app that only inserts each raw body into MongoDB."""

from __future__ import annotations

import argparse

from aiohttp import web
from bson import ObjectId
from pymongo import AsyncMongoClient

COLL = web.AppKey("coll", object)


def make_app(uri: str, db: str) -> web.Application:
    async def lifecycle(app: web.Application):  # type: ignore[no-untyped-def]
        client: AsyncMongoClient = AsyncMongoClient(uri, tz_aware=True)
        app[COLL] = client[db]["baseline_raw"]
        yield
        await client.close()

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        await request.app[COLL].insert_one({"_id": ObjectId(), "body": body.decode()})  # type: ignore[attr-defined]
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=1024 * 1024)
    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/webhooks/line/{channel_id}", receive)
    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", required=True)
    parser.add_argument("--db", default="chatcrm")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(
        make_app(args.uri, args.db), host="127.0.0.1", port=args.port, print=None, access_log=None
    )
