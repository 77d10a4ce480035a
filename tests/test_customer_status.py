"""A customer's follow status says what is known, and event times are read in any unit."""

from __future__ import annotations

import csv
import io

from reports.columns import STATUS_LABELS
from tests.ingest_support import (
    IGSID,
    LINE_GROUP,
    LINE_SPEAKER,
    LINE_USER,
    PAGE_ID,
    PSID,
    TG_GROUP_SPEAKER,
    TG_USER,
    Fakes,
    Ingest,
    api_time,
    fixture,
    ms,
)


async def test_following_only_after_a_follow_else_unknown(ingest: Ingest, fakes: Fakes) -> None:
    fakes.line.add_profile(LINE_USER, "Ploy")
    fakes.line.add_profile(LINE_SPEAKER, "Naree", group_id=LINE_GROUP)
    fakes.graph.add_profile(PSID, "สมหญิง", "รักดี")
    fakes.graph.add_profile(IGSID, "Dao")
    await ingest.send("line", "text_user", "group_text")
    await ingest.send("telegram", "group_text", "private_start")
    await ingest.send("messenger", "text", "instagram_text")
    statuses = {user: row["status"] for user, row in (await ingest.rows()).items()}
    assert statuses == {
        LINE_USER: "unknown",  # a message, no follow seen
        LINE_SPEAKER: "unknown",  # seen in a group only
        TG_GROUP_SPEAKER: "unknown",
        TG_USER: "following",  # /start in a private chat starts the bot
        PSID: "unknown",
        IGSID: "unknown",
    }
    await ingest.send("line", "follow")
    assert (await ingest.rows())[LINE_USER]["status"] == "following"
    unknown = await ingest.rows(status="unknown")
    assert set(unknown) == {LINE_SPEAKER, TG_GROUP_SPEAKER, PSID, IGSID}


async def test_messenger_postback_time_in_seconds_or_milliseconds(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.graph.add_profile(PSID, "Mali")
    test_button = fixture("messenger", "postback_seconds_timestamp")  # Meta's documented form
    body = {"object": "page", "entry": [{"id": PAGE_ID, "time": 1795485780123}]}
    body["entry"][0]["changes"] = [test_button]
    seconds = fixture("messenger", "postback")
    item = seconds["entry"][0]["messaging"][0]
    item["timestamp"] = 1795485790
    item["postback"]["mid"] = "m_postback_in_seconds_0001"
    await ingest.send("messenger", "postback", body, seconds)
    times = [api_time(m["sent_at"]) for m in await ingest.history(PSID)]
    assert times == [ms(1763608502345), ms(1795485780000), ms(1795485790000)]


async def test_unknown_status_is_labelled_in_exports(ingest: Ingest, fakes: Fakes) -> None:
    fakes.graph.add_profile(PSID, "Mali")
    await ingest.send("messenger", "text")
    data = await ingest.api("POST", "/api/v1/exports", json={"mode": "all", "format": "csv"})
    header, row = csv.reader(io.StringIO(data.decode("utf-8-sig")))
    assert row[header.index("สถานะ")] == "ไม่ทราบสถานะ"  # the shop's locale is Thai
    assert STATUS_LABELS["en"]["unknown"] == "unknown"
