"""Telegram message kinds keep what they carry: contacts, venues, animations, polls, dice."""

from __future__ import annotations

from tests.ingest_support import (
    TG_GROUP_SPEAKER,
    TG_USER,
    Ingest,
)


async def test_telegram_shared_contacts_keep_their_phone_numbers(ingest: Ingest) -> None:
    await ingest.send("telegram", "contact_other")
    assert (await ingest.detail(TG_USER))["phone"] is None  # someone else's card
    await ingest.send("telegram", "contact_own")
    assert (await ingest.detail(TG_USER))["phone"] == "0812345678"
    own, other = await ingest.history(TG_USER)  # the card of someone else was sent later
    assert other["type"] == own["type"] == "contact"
    assert other["meta"]["phone_number"] == "+66 86 123 4567"
    assert other["meta"]["first_name"] == "มาลี"
    assert own["meta"]["phone_number"] == "66812345678"


async def test_telegram_venue_animation_poll_dice_video_note(ingest: Ingest) -> None:
    await ingest.send("telegram", "venue", "animation", "dice", "video_note", "poll")
    venue, animation, dice, video_note = await ingest.history(TG_USER)
    assert venue["type"] == "venue"
    assert venue["meta"]["title"] == "สยามพารากอน"
    assert venue["meta"]["address"].startswith("991 ถนนพระรามที่ 1")
    assert venue["meta"]["latitude"] == 13.746206
    assert animation["type"] == "animation" and animation["meta"]["file_name"] == "ขอบคุณค่ะ.mp4"
    assert dice["type"] == "dice" and dice["meta"] == {"emoji": "🎲", "value": 5}
    assert video_note["type"] == "video_note" and video_note["meta"]["duration"] == 7
    [poll] = await ingest.history(TG_GROUP_SPEAKER)
    assert (poll["type"], poll["text"]) == ("poll", "ชอบกลิ่นไหนที่สุด?")
    assert poll["meta"]["options"] == ["มะลิ", "กุหลาบ", "ลาเวนเดอร์"]
