"""Edits and withdrawals of chat messages, as the chat history API shows them."""

from __future__ import annotations

from tests.ingest_support import (
    IGSID,
    LINE_GROUP,
    LINE_SPEAKER,
    LINE_USER,
    PSID,
    TG_USER,
    Fakes,
    Ingest,
    api_time,
    fixture,
    ms,
)


async def test_line_message_edited_updates_the_text_and_an_older_edit_does_not_win(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.line.add_profile(LINE_SPEAKER, "Naree", group_id=LINE_GROUP)
    original = fixture("line", "group_text")["events"][0]
    edit = fixture("line", "message_edited")
    await ingest.send("line", "group_text", edit)
    [message] = await ingest.history(LINE_SPEAKER)
    newest = edit["events"][0]
    assert message["text"] == newest["message"]["text"]
    assert message["earlier_texts"] == [original["message"]["text"]]
    assert api_time(message["edited_at"]) == ms(newest["timestamp"])
    assert api_time(message["sent_at"]) == ms(original["timestamp"])

    older = fixture("line", "message_edited")
    event = older["events"][0]
    event["timestamp"] = newest["timestamp"] - 60_000
    event["webhookEventId"] = "01M85MFZZZZZZZZZZZZZZZZZZZ"
    event["message"]["text"] = "ขอบคุณทุกคนนะคะ"
    await ingest.send("line", older, edit)  # late, and the newest one redelivered
    [message] = await ingest.history(LINE_SPEAKER)
    assert message["text"] == newest["message"]["text"]
    assert message["earlier_texts"] == [original["message"]["text"], "ขอบคุณทุกคนนะคะ"]
    assert api_time(message["edited_at"]) == ms(newest["timestamp"])


async def test_telegram_edited_message_updates_the_text(ingest: Ingest) -> None:
    original = fixture("telegram", "private_text")["message"]
    edited = fixture("telegram", "edited_message")
    await ingest.send("telegram", "private_text", edited)
    [message] = await ingest.history(TG_USER)
    assert message["text"] == edited["edited_message"]["text"]
    assert message["earlier_texts"] == [original["text"]]
    assert api_time(message["edited_at"]).timestamp() == edited["edited_message"]["edit_date"]

    stale = fixture("telegram", "edited_message")
    stale["update_id"] = 728394017
    stale["edited_message"].update(edit_date=1763608520, text="อยากสั่ง 1 ขวดครับ")
    await ingest.send("telegram", stale)
    [message] = await ingest.history(TG_USER)
    assert message["text"] == edited["edited_message"]["text"]
    assert message["earlier_texts"] == [original["text"], "อยากสั่ง 1 ขวดครับ"]

    # an edit of a message sent before the bot was connected: stored with its current text
    await ingest.send("telegram", "edited_message_text")
    latest = (await ingest.history(TG_USER))[-1]
    update = fixture("telegram", "edited_message_text")["edited_message"]
    assert latest["text"] == update["text"] and latest["type"] == "text"
    assert api_time(latest["sent_at"]).timestamp() == update["date"]
    assert api_time(latest["edited_at"]).timestamp() == update["edit_date"]


async def test_messenger_and_instagram_message_edit_update_the_text(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.graph.add_profile(PSID, "สมหญิง", "รักดี")
    fakes.graph.add_profile(IGSID, "Dao")
    await ingest.send("messenger", "text", "message_edit", "instagram_text", "instagram_edit")
    for user, (first, edit) in {
        PSID: ("text", "message_edit"),
        IGSID: ("instagram_text", "instagram_edit"),
    }.items():
        [message] = await ingest.history(user)
        sent = fixture("messenger", first)["entry"][0]["messaging"][0]["message"]
        changed = fixture("messenger", edit)["entry"][0]["messaging"][0]
        assert message["text"] == changed["message_edit"]["text"]
        assert message["earlier_texts"] == [sent["text"]]
        assert api_time(message["edited_at"]) == ms(changed["timestamp"])


async def test_line_unsend_withdraws_the_message_and_never_shows_its_text(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.line.add_profile(LINE_USER, "Ploy")
    await ingest.send("line", "text_user", "unsend")
    [message] = await ingest.history(LINE_USER)
    assert message["text"] is None and message["earlier_texts"] == []
    assert api_time(message["unsent_at"]) == ms(fixture("line", "unsend")["events"][0]["timestamp"])
    assert message["type"] == "text"  # what was withdrawn, not what it said


async def test_withdrawal_of_a_message_never_seen_stores_no_message(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.line.add_profile(LINE_USER, "Ploy")
    fakes.graph.add_profile(IGSID, "Dao")
    await ingest.send("line", "unsend")
    await ingest.send("messenger", "instagram_deleted")
    assert await ingest.history(LINE_USER) == []
    assert await ingest.history(IGSID) == []
    # the message itself, delivered late (a redelivery): its text stays withdrawn
    await ingest.send("line", "text_user")
    await ingest.send("messenger", "instagram_text")
    assert await ingest.history(LINE_USER) == []
    assert await ingest.history(IGSID) == []


async def test_instagram_deleted_and_unsupported(ingest: Ingest, fakes: Fakes) -> None:
    fakes.graph.add_profile(IGSID, "Dao")
    await ingest.send("messenger", "instagram_text", "instagram_deleted", "instagram_unsupported")
    deleted, unsupported = await ingest.history(IGSID)
    deletion = fixture("messenger", "instagram_deleted")["entry"][0]["messaging"][0]
    assert deleted["text"] is None and api_time(deleted["unsent_at"]) == ms(deletion["timestamp"])
    assert (unsupported["type"], unsupported["text"]) == ("unsupported", None)
    assert unsupported["unsent_at"] is None
