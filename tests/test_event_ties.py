"""Status events of the same time apply in delivery order (LINE array, Telegram update_id)."""

from __future__ import annotations

from tests.ingest_support import (
    LINE_USER,
    TG_USER,
    Fakes,
    Ingest,
    fixture,
)


async def test_line_follow_then_unfollow_in_the_same_millisecond_leaves_unfollowed(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.line.add_profile(LINE_USER, "Ploy")
    await ingest.send("line", "follow_unfollow_same_ms")
    assert (await ingest.rows())[LINE_USER]["status"] == "unfollowed"

    body = fixture("line", "follow_unfollow_same_ms")
    follow, unfollow = body["events"]
    for event in (follow, unfollow):  # later, again in one millisecond: unfollow, then follow
        event["timestamp"] += 1000
        event["webhookEventId"] = event["webhookEventId"][:-1] + "Z"
    body["events"] = [unfollow, follow]
    await ingest.send("line", body)
    assert (await ingest.rows())[LINE_USER]["status"] == "following"


async def test_telegram_block_then_unblock_in_the_same_second_follows_update_ids(
    ingest: Ingest,
) -> None:
    blocked = fixture("telegram", "my_chat_member_kicked")
    unblocked = fixture("telegram", "my_chat_member_unblock")
    unblocked["my_chat_member"]["date"] = blocked["my_chat_member"]["date"]
    unblocked["update_id"] = blocked["update_id"] + 1
    await ingest.send("telegram", blocked, unblocked)
    assert (await ingest.rows())[TG_USER]["status"] == "following"

    # the same second again, delivered the other way round: update_id still decides
    blocked["update_id"], unblocked["update_id"] = 728394031, 728394030
    for update in (blocked, unblocked):
        update["my_chat_member"]["date"] += 60
    await ingest.send("telegram", blocked, unblocked)
    assert (await ingest.rows())[TG_USER]["status"] == "blocked"
