"""Signed requests whose JSON holds text that is not valid Unicode, or is nested too deeply."""

from __future__ import annotations

import copy
import json

from tests.ingest_support import LINE_USER, PSID, TG_USER, Fakes, Ingest, fixture

LONE = "\ud83d"  # the first half of an emoji, alone: JSON can carry it, UTF-8 cannot


def signed_json(body: object) -> bytes:
    """The body as a platform sends it: non-ASCII text escaped, so a lone surrogate is legal."""
    raw = json.dumps(body).encode()
    assert b"\\ud83d" in raw or LONE not in json.dumps(body, ensure_ascii=False)
    return raw


async def test_line_event_with_a_lone_surrogate_fails_alone(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile(LINE_USER, "Ploy")
    body = fixture("line", "text_user")
    good = body["events"][0]
    bad = copy.deepcopy(good)
    bad["webhookEventId"] = "01KAFM4HTSEQY9PJ1QC76PGZAR"
    bad["message"].update(id="589972427038797648", text=f"ราคาเท่าไหร่คะ {LONE}")
    body["events"].append(bad)
    raw = signed_json(body)
    for _ in range(2):  # the platform's redelivery gets the same answer
        resp = await ingest.line(raw)
        assert resp.status == 200 and (await resp.json())["received"] == 2
        await ingest.drain()
    [message] = await ingest.history(LINE_USER)
    assert message["text"] == good["message"]["text"]
    [failed] = await ingest.shop.inbox.failed()
    assert failed["event_key"] == bad["webhookEventId"]
    assert "not valid Unicode" in failed["last_error"]


async def test_messenger_event_with_a_lone_surrogate_and_no_id_fails_alone(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.graph.add_profile(PSID, "Mali")
    body = fixture("messenger", "two_entries")
    body["entry"][1]["messaging"][0]["message"]["mid"] = f"m_{LONE}"
    body["entry"][1]["messaging"].append({"sender": {"id": LONE}, "read": {"watermark": 1}})
    resp = await ingest.messenger(signed_json(body))
    assert resp.status == 200 and (await resp.json())["received"] == 3
    await ingest.drain()
    assert [m["direction"] for m in await ingest.history(PSID)] == ["in"]
    failed = await ingest.shop.inbox.failed()
    assert len(failed) == 2 and all("not valid Unicode" in f["last_error"] for f in failed)


async def test_telegram_name_with_a_lone_surrogate_is_stored_and_can_be_retried(
    ingest: Ingest,
) -> None:
    update = fixture("telegram", "private_text")
    update["message"]["from"]["first_name"] = f"สมชาย{LONE}"
    await ingest.send("telegram", signed_json(update))
    [failed] = await ingest.shop.inbox.failed()
    assert "not valid Unicode" in failed["last_error"]
    assert await ingest.shop.inbox.retry(failed["id"])  # what `chatcrm inbox retry` does
    await ingest.drain()
    assert (await ingest.rows())[TG_USER]["name"] == "สมชาย\ufffd ใจดี"
    [message] = await ingest.history(TG_USER)
    assert message["text"] == update["message"]["text"]
    assert await ingest.shop.inbox.failed() == []


async def test_deeply_nested_json_is_a_400(ingest: Ingest) -> None:
    deep = b"[" * 200_000 + b"]" * 200_000
    bodies = {
        "line": b'{"destination": "U1", "events": [' + deep + b"]}",
        "telegram": b'{"update_id": 1, "message": ' + deep + b"}",
        "messenger": b'{"object": "page", "entry": [' + deep + b"]}",
    }
    for platform, body in bodies.items():
        resp = await getattr(ingest, platform)(body)
        assert resp.status == 400, platform
        assert (await resp.json())["error"]["code"] == "malformed_payload"
    assert await ingest.inbox() == []
