"""Messenger standby (another app owns the thread) and echoes (the page's own replies)."""

from __future__ import annotations

from tests.ingest_support import (
    PSID,
    Fakes,
    Ingest,
    fixture,
)


async def test_messenger_standby_messages_are_stored(ingest: Ingest, fakes: Fakes) -> None:
    fakes.graph.add_profile(PSID, "สมหญิง", "รักดี")
    resp = await ingest.messenger("standby")
    assert (await resp.json())["received"] == 1
    await ingest.drain()
    [message] = await ingest.history(PSID)
    sent = fixture("messenger", "standby")["entry"][0]["standby"][0]["message"]
    assert (message["direction"], message["text"]) == ("in", sent["text"])
    assert (await ingest.rows())[PSID]["name"] == "สมหญิง รักดี"


async def test_echoes_are_the_pages_replies_in_the_customers_history(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.graph.add_profile(PSID, "สมหญิง", "รักดี")
    standby_echo = fixture("messenger", "echo_from_other_app")
    entry = standby_echo["entry"][0]
    entry["standby"] = entry.pop("messaging")
    entry["standby"][0]["message"]["mid"] = "m_standby_echo_0001"
    entry["standby"][0]["timestamp"] += 1
    await ingest.send("messenger", "text", "echo", "echo_from_other_app", standby_echo)
    assert set(await ingest.rows()) == {PSID}  # the page is never a customer
    history = await ingest.history(PSID)
    assert [m["direction"] for m in history] == ["in", "out", "out", "out"]
    echo = fixture("messenger", "echo_from_other_app")["entry"][0]["messaging"][0]["message"]
    assert history[2]["text"] == echo["text"]
