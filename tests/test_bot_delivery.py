"""How the bot answers: once per event, at most 30 a minute, split to fit, after a crash too."""

from __future__ import annotations

from typing import Any

from chatcrm.bot.lane import RATE_LIMIT
from chatcrm.bot.split import split_message, utf16_len
from chatcrm.store.inbox import event_id
from tests.bot_support import ChatBot, text_event, user_id


async def test_a_redelivered_command_is_answered_once(bot: ChatBot) -> None:
    admin = user_id("line", 99)
    await bot.link("line", admin)
    body = text_event("line", admin, "/help", 424242)
    await bot.post("line", body)
    body["events"][0]["deliveryContext"]["isRedelivery"] = True
    await bot.post("line", body)  # LINE again, with the same webhookEventId
    await bot.settle()  # the inbox workers offer it once more
    await bot.post("line", body)
    await bot.settle()
    helps = [r for r in bot.replies("line", admin) if r.startswith("Commands for")]
    assert len(helps) == 1
    update = text_event("telegram", user_id("telegram", 99), "/help", 424243)
    await bot.link("telegram", user_id("telegram", 99))
    for _ in range(3):
        await bot.post("telegram", update)
    await bot.settle()
    replies = bot.replies("telegram", user_id("telegram", 99))
    assert len([r for r in replies if r.startswith("Commands for")]) == 1


async def test_more_than_30_commands_a_minute_get_one_slow_down(bot: ChatBot) -> None:
    admin = user_id("telegram", 99)
    await bot.link("telegram", admin)
    for _ in range(RATE_LIMIT + 3):
        await bot.send("telegram", admin, "/help")
    await bot.settle()
    replies = bot.replies("telegram", admin)[1:]  # after the link's confirmation
    assert len(replies) == RATE_LIMIT + 1
    assert all(r.startswith("Commands for") for r in replies[:RATE_LIMIT])
    assert replies[-1] == "Slow down: at most 30 commands a minute. Try again in a minute."
    # another admin is not slowed down
    await bot.link("telegram", user_id("telegram", 98))
    assert len(await bot.ask("telegram", user_id("telegram", 98), "/help")) == 1


async def _claim_left_by_a_crash(bot: ChatBot, user: str, **plan: Any) -> str:
    """The claim a process that died while answering leaves: lease expired, answer recorded."""
    store = bot.ingest.store.for_shop(bot.shop.id)
    channel = bot.ingest.channels["telegram"]
    eid = event_id(bot.shop.id, "telegram", channel.id, f"crashed-{user}")
    fields = {
        "platform": "telegram",
        "channel_id": channel.id,
        "channel": "telegram",
        "platform_user_id": user,
        "to": {"user_id": user, "customer_channel": "telegram", "text": "/help", "at": None,
               "reply_token": None, "name": None, "recipient": {"platform_user_id": user}},
    }  # fmt: skip
    lease = await store.bot_commands.claim(eid, fields, lease_seconds=-1)
    assert lease is not None
    if plan:
        assert await store.bot_commands.plan(eid, lease, plan)
    return eid


async def test_a_crashed_answer_is_finished_once_by_another_process(bot: ChatBot) -> None:
    admin = user_id("telegram", 99)
    await bot.link("telegram", admin)
    # died before the answer was recorded: answered in full
    await _claim_left_by_a_crash(bot, admin)
    # died while the first of two messages was being sent: it may have arrived, so only the
    # second is sent
    other = user_id("telegram", 98)
    await _claim_left_by_a_crash(
        bot, other, outcome="answered", command="help", texts=["part one", "part two"], sending=0
    )
    assert await bot.lane.sweep() == 2
    assert await bot.lane.sweep() == 0  # taken over once
    assert bot.replies("telegram", admin)[1].startswith("Commands for Shop A")
    assert bot.replies("telegram", other) == ["part two"]
    docs = await bot.ingest.store.db["bot_commands"].find({"lease": {"$ne": None}}).to_list(None)
    assert docs == []


async def test_a_linked_customer_leaves_the_report_until_unlinked(bot: ChatBot) -> None:
    seller = user_id("telegram", 5)
    await bot.send("telegram", seller, "สนใจค่ะ", name="Seller")
    await bot.send("telegram", user_id("telegram", 6), "สวัสดี", name="Buyer")
    await bot.settle()

    async def report() -> tuple[list[str], int, str]:
        auth = bot.shop.auth()
        page = await (await bot.client.get("/api/v1/customers", headers=auth)).json()
        summary = await (await bot.client.get("/api/v1/report/summary", headers=auth)).json()
        export = await bot.client.post(
            "/api/v1/exports", json={"mode": "all", "format": "csv"}, headers=auth
        )
        names = sorted(i["name"] for i in page["items"])
        return names, summary["customers"], await export.text()

    assert (await report())[:2] == (["Buyer", "Seller"], 2)
    await bot.link("telegram", seller)
    await bot.send("telegram", seller, "a message while linked")
    await bot.settle()
    names, count, export = await report()
    assert (names, count) == (["Buyer"], 1) and "Seller" not in export
    [kept] = await bot.ingest.customers(platform_user_id=seller)  # spend and history kept
    assert [m["text"] for m in await bot.ingest.messages(customer_id=kept["_id"])] == ["สนใจค่ะ"]
    assert await bot.ask("telegram", seller, "/unlink")
    assert (await report())[:2] == (["Buyer", "Seller"], 2)


def test_split_keeps_characters_and_clusters_whole() -> None:
    thai = "ลูกค้าที่ซื้อมากที่สุด " * 40  # combining vowels and tone marks
    emoji = "👍🏽👨‍👩‍👧🇹🇭é" * 30  # modifiers, a ZWJ family, a flag
    for text in (thai, emoji, thai + "\n" + emoji):
        parts = split_message(text, 50)
        assert all(utf16_len(p) <= 50 for p in parts)
        assert "".join(parts).replace(" ", "") == text.replace(" ", "").replace("\n", "")
        for part in parts:
            assert part[0] not in "\u0e31\u0e34\u0e35\u0e48\u0e49\u200d\U0001f3fd"
            assert part[-1] != "\u200d"
    flags = split_message("🇹🇭🇯🇵🇹🇭", 6)  # a flag is two characters, four UTF-16 units
    assert flags == ["🇹🇭", "🇯🇵", "🇹🇭"]


def test_split_prefers_line_breaks() -> None:
    text = "\n".join(f"{i}. customer line" for i in range(1, 30))
    parts = split_message(text, 100)
    assert all(len(p) <= 100 for p in parts)
    assert "\n".join(parts) == text  # whole lines only


async def test_a_long_answer_is_split_at_messengers_limit(bot: ChatBot) -> None:
    admin = user_id("messenger", 99)
    await bot.link("messenger", admin)
    for n in range(1, 7):
        bot.fakes.graph.add_profile(user_id("messenger", n), "คุณสมหญิง 👩🏽‍💻 " + "ก่" * 40)
        await bot.send("messenger", user_id("messenger", n), "สนใจค่ะ")
    await bot.settle()
    tags = [f"แท็กยาวมาก{i:02d} " + "ข้" * 14 for i in range(10)]  # 10 tags of 40 characters
    for customer in await bot.ingest.customers():
        edit = {"version": customer["version"], "tags": tags}
        path = f"/api/v1/customers/{customer['_id']}"
        assert (await bot.client.patch(path, json=edit, headers=bot.shop.auth())).status == 200
    answer = await bot.ask("messenger", admin, "/customer คุณสมหญิง")  # a word start
    assert len(answer) == 2 and all(utf16_len(part) <= 2000 for part in answer)
    assert "\n\n".join(answer).count("คุณสมหญิง") == 5
    assert answer[-1].endswith(
        "Add more of the name, or the whole phone number, to narrow it down."
    )
    assert "5 of 6 customers shown" in answer[-1]
