"""One person across channels: suggestions, merge and unmerge, people counted, through the
real service, its webhooks and its database."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest

from chatcrm.domain import new_customer_fields
from chatcrm.merging import recover_merges
from chatcrm.store import counts, merges, terms
from chatcrm.store.customers import person_id
from tests.bot_support import ChatBot, phone_of, user_id
from tests.ingest_support import Ingest
from tests.test_auth import add_user, sign_in

LINE_USER = "Ua69f03e594eefbb87cde656abf334c1d"
TG_USER = "5123456789"


def line_text(user: str, n: int, text: str) -> dict[str, Any]:
    """A LINE webhook body with one text message of `user`."""
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": 1763608512345 + n * 1000,
        "source": {"type": "user", "userId": user},
        "webhookEventId": f"01MERGE{n:019d}",
        "deliveryContext": {"isRedelivery": False},
        "replyToken": f"{n:032x}",
        "message": {"id": f"9{n:08d}", "type": "text", "text": text},
    }
    return {"destination": "U1f0c8a2d3b4e5f60718293a4b5c6d7e8", "events": [event]}


def tg_text(n: int, text: str, user: str = TG_USER) -> dict[str, Any]:
    """A Telegram update with one private text message of `user`."""
    sender = {"id": int(user), "is_bot": False, "first_name": "Nok"}
    return {
        "update_id": 828394000 + n,
        "message": {
            "message_id": 600 + n,
            "from": sender,
            "chat": {"id": int(user), "first_name": "Nok", "type": "private"},
            "date": 1763608600 + n,
            "text": text,
        },
    }


async def call(ingest: Ingest, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """Call the API as the shop's owner: (status, JSON body)."""
    if not hasattr(ingest, "_token"):
        ingest._token = await ingest.store.tokens.create(ingest.shop_id, "owner", "owner")
    headers = {"Authorization": f"Bearer {ingest._token}"}
    resp = await ingest.client.request(method, path, headers=headers, **kwargs)
    return resp.status, await resp.json()


async def edit(ingest: Ingest, customer_id: str, **changes: Any) -> dict[str, Any]:
    """PATCH a customer at its current version."""
    _, current = await call(ingest, "GET", f"/api/v1/customers/{customer_id}")
    body = {**changes, "version": current["version"]}
    return await ingest.api("PATCH", f"/api/v1/customers/{customer_id}", json=body)


async def two_people(ingest: Ingest) -> tuple[dict[str, Any], dict[str, Any]]:
    """A LINE and a Telegram customer, each with a message, tags, notes and a paid order."""
    await ingest.send("line", line_text(LINE_USER, 1, "สวัสดีค่ะ"))
    await ingest.send("telegram", tg_text(1, "hello from telegram"))
    rows = await ingest.rows()
    a, b = rows[LINE_USER], rows[TG_USER]
    await edit(ingest, a["id"], name="Somchai", tags=["VIP"], notes="line notes")
    await edit(ingest, b["id"], tags=["COD"], notes="telegram notes", email="nok@example.com")
    for order_id, identity, amount in (("A-1", (a, "line"), 10000), ("B-1", (b, "telegram"), 5000)):
        row, channel = identity
        body = {
            "order_id": order_id,
            "customer": {"channel": channel, "platform_user_id": row["platform_user_id"]},
            "amount": amount,
            "status": "paid",
            "paid_at": "2026-11-20T10:15:00+07:00",
        }
        await ingest.api("POST", "/api/v1/orders", json=body)
    return a, b


async def test_merge_then_unmerge_round_trip(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    status, person = await call(
        ingest, "POST", f"/api/v1/customers/{a['id']}/merge", json={"others": [b["id"]]}
    )
    assert status == 200, person
    assert person["id"] == a["id"] and person["channels"] == ["line", "telegram"]
    assert person["identities"] == [
        {"channel": "line", "platform_user_id": LINE_USER},
        {"channel": "telegram", "platform_user_id": TG_USER},
    ]
    assert person["name"] == "Somchai" and person["email"] == "nok@example.com"
    assert person["tags"] == ["VIP", "COD"]
    assert person["notes"] == "line notes\n\ntelegram notes"
    assert person["paid_total"] == 15000 and person["order_count"] == 2

    # the report lists the person once; channel filter, search and summary count people
    page = await ingest.api("GET", "/api/v1/customers")
    assert page["total"] == 1 and [r["id"] for r in page["items"]] == [a["id"]]
    for channel in ("line", "telegram"):
        found = await ingest.api("GET", "/api/v1/customers", params={"channel": channel})
        assert [r["id"] for r in found["items"]] == [a["id"]]
    found = await ingest.api("GET", "/api/v1/customers", params={"q": TG_USER})
    assert [r["id"] for r in found["items"]] == [a["id"]]
    summary = await ingest.api("GET", "/api/v1/report/summary")
    assert summary["customers"] == 1
    assert {c["channel"]: c["customers"] for c in summary["channels"]} == {
        "line": 1,
        "telegram": 1,
    }

    # the detail (also under the merged customer's id) and the chat history of both channels
    detail = await ingest.api("GET", f"/api/v1/customers/{b['id']}")
    assert detail["id"] == a["id"]
    assert [(i["channel"], i["customer_id"]) for i in detail["identities"]] == [
        ("line", a["id"]),
        ("telegram", b["id"]),
    ]
    assert {o["order_id"] for o in detail["orders"]} == {"A-1", "B-1"}
    history = await ingest.history(LINE_USER)
    assert [(m["channel"], m["text"]) for m in history] == [
        ("line", "สวัสดีค่ะ"),
        ("telegram", "hello from telegram"),
    ]
    audit = await ingest.api("GET", f"/api/v1/customers/{a['id']}/audit")
    assert "customer.merge" in [e["action"] for e in audit["items"]]

    # the export has one row for the person, with every channel and platform id
    export = await ingest.api("POST", "/api/v1/exports", json={"mode": "all", "format": "csv"})
    rows = list(csv.reader(io.StringIO(export.decode("utf-8-sig"))))
    assert len(rows) == 2
    assert "LINE, Telegram" in rows[1] and f"{LINE_USER}, {TG_USER}" in rows[1]

    # split the Telegram identity back out: its own orders, messages, tags and notes
    status, split = await call(
        ingest,
        "POST",
        f"/api/v1/customers/{a['id']}/unmerge",
        json={"identity": {"channel": "telegram", "platform_user_id": TG_USER}},
    )
    assert status == 200, split
    assert split["customer"]["id"] == b["id"] and split["customer"]["channels"] == ["telegram"]
    assert split["customer"]["paid_total"] == 5000 and split["customer"]["tags"] == ["COD"]
    assert split["customer"]["notes"] == "telegram notes"
    assert split["person"]["paid_total"] == 10000 and split["person"]["channels"] == ["line"]
    rows_now = await ingest.rows()
    assert {r["id"] for r in rows_now.values()} == {a["id"], b["id"]}
    assert [m["text"] for m in await ingest.history(TG_USER)] == ["hello from telegram"]
    assert [m["text"] for m in await ingest.history(LINE_USER)] == ["สวัสดีค่ะ"]
    summary = await ingest.api("GET", "/api/v1/report/summary")
    assert summary["customers"] == 2


async def test_events_and_orders_of_a_merged_identity_land_on_the_person(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    await ingest.api("POST", f"/api/v1/customers/{a['id']}/merge", json={"others": [b["id"]]})
    await ingest.send("telegram", tg_text(2, "still me, on telegram"))
    docs = await ingest.customers()
    assert len(docs) == 2 and {person_id(d) for d in docs} == {a["id"]}  # nobody re-created
    history = await ingest.history(LINE_USER)
    assert history[-1]["text"] == "still me, on telegram" and history[-1]["channel"] == "telegram"
    detail = await ingest.api("GET", f"/api/v1/customers/{a['id']}")
    telegram = detail["identities"][1]
    assert telegram["last_contact_at"] == detail["last_contact_at"]
    assert telegram["last_contact_at"] > detail["identities"][0]["last_contact_at"]
    order = {
        "order_id": "B-2",
        "customer": {"channel": "telegram", "platform_user_id": TG_USER},
        "amount": 700,
        "status": "paid",
        "paid_at": "2026-11-21T10:15:00+07:00",
    }
    created = await ingest.api("POST", "/api/v1/orders", json=order)
    assert created["customer_id"] == a["id"] and created["channel"] == "telegram"
    assert await ingest.api("POST", "/api/v1/orders", json=order) == created  # a retry
    edited = await edit(ingest, b["id"], tags=["VIP", "COD", "both"])  # the merged id: the person
    assert edited["id"] == a["id"] and (await ingest.rows())[LINE_USER]["tags"][-1] == "both"
    via_b = await ingest.api("GET", f"/api/v1/customers/{b['id']}/messages")
    assert len(via_b["items"]) == 3
    by_mail = {**order, "order_id": "B-3", "customer": {"email": "NOK@example.com"}}
    assert (await ingest.api("POST", "/api/v1/orders", json=by_mail))["customer_id"] == a["id"]
    assert (await ingest.rows())[LINE_USER]["paid_total"] == 15000 + 1400
    # unmerged, the identity takes its orders placed through it along
    await ingest.api(
        "POST",
        f"/api/v1/customers/{a['id']}/unmerge",
        json={"identity": {"channel": "telegram", "platform_user_id": TG_USER}},
    )
    rows = await ingest.rows()
    assert rows[TG_USER]["paid_total"] == 5700 and rows[LINE_USER]["paid_total"] == 10700
    assert [m["text"] for m in await ingest.history(TG_USER)] == [
        "hello from telegram",
        "still me, on telegram",
    ]


async def test_two_overlapping_merges_one_wins_nothing_lost(ingest: Ingest) -> None:
    users = [f"U{i:032x}" for i in range(3)]
    for n, user in enumerate(users):
        await ingest.send("line", line_text(user, 10 + n, f"hi {n}"))
    rows = await ingest.rows()
    x, y, z = (rows[u]["id"] for u in users)
    results = await asyncio.gather(
        call(ingest, "POST", f"/api/v1/customers/{x}/merge", json={"others": [z]}),
        call(ingest, "POST", f"/api/v1/customers/{y}/merge", json={"others": [z]}),
    )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 409], results
    loser = next(body for status, body in results if status == 409)
    assert loser["error"]["code"] == "merge_conflict"
    winner = next(body for status, body in results if status == 200)
    page = await ingest.api("GET", "/api/v1/customers")
    assert page["total"] == 2 and winner["id"] in {r["id"] for r in page["items"]}
    assert sorted(len(r["identities"]) for r in page["items"]) == [1, 2]
    messages = [m for r in page["items"] for m in await ingest.history(r["platform_user_id"])]
    assert sorted(m["text"] for m in messages) == ["hi 0", "hi 1", "hi 2"]
    assert all(d.get("merge_id") is None for d in await ingest.customers())
    # a stale version in the body is refused too, and changes nothing
    status, body = await call(
        ingest,
        "POST",
        f"/api/v1/customers/{winner['id']}/merge",
        json={"others": [y if winner["id"] == x else x], "versions": {winner["id"]: 1}},
    )
    assert status == 409 and body["error"]["field"] == "versions"
    assert (await ingest.api("GET", "/api/v1/customers"))["total"] == 2


async def test_crash_mid_merge_is_completed_by_recovery(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    shop = ingest.shop
    docs = [await shop.customers.get(cid) for cid in (a["id"], b["id"])]
    # a merge that stopped after claiming and tombstoning, before the person was written
    record = await shop.merges.begin("merge", a["id"], [b["id"]], actor="test")
    for doc in docs:
        assert doc is not None and await shop.customers.claim(doc, record["_id"])
    await shop.merges.set_state(record, "applying")
    await shop.customers.rewrite(b["id"], lambda d: {"merged_into": a["id"], "merged": True})
    page = await ingest.api("GET", "/api/v1/customers")
    assert [r["id"] for r in page["items"]] == [a["id"]]  # never counted twice
    assert (await ingest.api("GET", "/api/v1/report/summary"))["customers"] == 1

    assert await recover_merges(ingest.store) == 1
    row = (await ingest.rows())[LINE_USER]
    assert row["channels"] == ["line", "telegram"] and row["paid_total"] == 15000
    assert row["tags"] == ["VIP", "COD"]
    assert [m["text"] for m in await ingest.history(LINE_USER)] == [
        "สวัสดีค่ะ",
        "hello from telegram",
    ]
    assert await recover_merges(ingest.store) == 0  # done once


async def test_stale_claims_of_a_crashed_merge_are_released(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    shop = ingest.shop
    record = await shop.merges.begin("merge", a["id"], [b["id"]], actor="test")
    doc = await shop.customers.get(a["id"])
    assert doc is not None and await shop.customers.claim(doc, record["_id"])
    await ingest.store.db["merges"].update_one({"_id": record["_id"]}, {"$set": {"created_ms": 0}})
    status, body = await call(
        ingest, "POST", f"/api/v1/customers/{a['id']}/merge", json={"others": [b["id"]]}
    )
    assert status == 409  # still claimed by the crashed merge
    assert await recover_merges(ingest.store) == 1
    status, body = await call(
        ingest, "POST", f"/api/v1/customers/{a['id']}/merge", json={"others": [b["id"]]}
    )
    assert status == 200 and body["channels"] == ["line", "telegram"]


async def test_bad_merge_requests_change_nothing(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    path = f"/api/v1/customers/{a['id']}/merge"
    for body, status, field in (
        ({}, 422, "others"),
        ({"others": "x"}, 422, "others"),
        ({"others": [a["id"]]}, 422, "others"),
        ({"others": [7]}, 422, "others[0]"),
        ({"others": ["cus_nope"]}, 404, "others[0]"),
        ({"others": [b["id"]], "versions": {"cus_x": 1}}, 422, "versions"),
    ):
        got, answer = await call(ingest, "POST", path, json=body)
        assert (got, answer["error"]["field"]) == (status, field), answer
    got, _ = await call(
        ingest, "POST", "/api/v1/customers/cus_nope/merge", json={"others": [b["id"]]}
    )
    assert got == 404
    unmerge = f"/api/v1/customers/{a['id']}/unmerge"
    got, answer = await call(ingest, "POST", unmerge, json={"identity": {"channel": "fax"}})
    assert (got, answer["error"]["field"]) == (422, "identity.channel")
    tg = {"identity": {"channel": "telegram", "platform_user_id": TG_USER}}
    got, answer = await call(ingest, "POST", unmerge, json=tg)
    assert (got, answer["error"]["field"]) == (404, "identity")
    assert (await ingest.api("GET", "/api/v1/customers"))["total"] == 2
    await ingest.api("POST", path, json={"others": [b["id"]]})
    got, answer = await call(ingest, "POST", path, json={"others": [b["id"]]})
    assert got == 409 and answer["error"]["code"] == "merge_conflict"
    line = {"identity": {"channel": "line", "platform_user_id": LINE_USER}}
    got, answer = await call(ingest, "POST", unmerge, json=line)
    assert (got, answer["error"]["field"]) == (422, "identity")


async def test_suggestions_from_each_source_and_a_dismissal_until_members_change(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ingest.send("telegram", "contact_own")  # the sender's own number: 0812345678
    await ingest.send("line", line_text(LINE_USER, 1, "hi"))
    rows = await ingest.rows()
    tg, line = rows[TG_USER], rows[LINE_USER]
    await edit(ingest, line["id"], phone="0812345678", email="nok@example.com")  # the seller's
    csv_text = (
        "channel,platform_user_id,name,phone,email\n"
        "messenger,psid-1,Imported,+66 81-234-5678,\n"
        "instagram,ig-1,Mail,,NOK@Example.com\n"
    )
    await ingest.api(
        "POST",
        "/api/v1/imports?kind=customers",
        data=csv_text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    rows = await ingest.rows()
    page = await ingest.api("GET", "/api/v1/merge-suggestions")
    assert [(s["reason"]["field"], s["reason"]["value"]) for s in page["items"]] == [
        ("phone", "0812345678"),
        ("email", "nok@example.com"),
    ]
    phone_group, mail_group = page["items"]
    assert {m["id"] for m in phone_group["members"]} == {
        tg["id"],
        line["id"],
        rows["psid-1"]["id"],
    }
    assert {m["id"] for m in mail_group["members"]} == {line["id"], rows["ig-1"]["id"]}
    first = await ingest.api("GET", "/api/v1/merge-suggestions", params={"limit": "1"})
    assert [s["id"] for s in first["items"]] == [phone_group["id"]]
    rest = await ingest.api(
        "GET", "/api/v1/merge-suggestions", params={"limit": "1", "cursor": first["next_cursor"]}
    )
    assert [s["id"] for s in rest["items"]] == [mail_group["id"]] and rest["next_cursor"] is None
    monkeypatch.setattr(merges, "GROUP_WINDOW", 1)  # read in windows of two customers
    assert await ingest.api("GET", "/api/v1/merge-suggestions") == page

    await ingest.api("POST", f"/api/v1/merge-suggestions/{phone_group['id']}/dismiss")
    page = await ingest.api("GET", "/api/v1/merge-suggestions")
    assert [s["id"] for s in page["items"]] == [mail_group["id"]]
    # a member changes (a fourth customer gets the number): the group is suggested again
    await edit(ingest, rows["ig-1"]["id"], phone="0812345678")
    page = await ingest.api("GET", "/api/v1/merge-suggestions")
    assert [s["id"] for s in page["items"]] == [phone_group["id"], mail_group["id"]]
    assert len(page["items"][0]["members"]) == 4
    # merged, a group is one person: no suggestion left
    others = [m["id"] for m in page["items"][0]["members"] if m["id"] != tg["id"]]
    await ingest.api("POST", f"/api/v1/customers/{tg['id']}/merge", json={"others": others})
    assert (await ingest.api("GET", "/api/v1/merge-suggestions"))["items"] == []
    status, body = await call(ingest, "POST", "/api/v1/merge-suggestions/sug_zz/dismiss")
    assert status == 404


async def test_suggestion_members_carry_what_the_dashboard_shows(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    await edit(ingest, a["id"], email="Nok@Example.com")
    [group] = (await ingest.api("GET", "/api/v1/merge-suggestions"))["items"]
    members = {m["id"]: m for m in group["members"]}
    assert group["reason"] == {"field": "email", "value": "nok@example.com"}
    assert {k: members[a["id"]][k] for k in ("name", "channels", "paid_total", "order_count")} == {
        "name": "Somchai",
        "channels": ["line"],
        "paid_total": 10000,
        "order_count": 1,
    }
    assert members[b["id"]]["order_count"] == 1 and members[b["id"]]["paid_total"] == 5000


async def test_whatsapp_number_suggests_and_the_bot_answers_with_the_person(bot: ChatBot) -> None:
    wa_user, line_user = user_id("whatsapp", 1), user_id("line", 1)
    await bot.send("whatsapp", wa_user, "สนใจค่ะ", name="Ploy")
    await bot.send("line", line_user, "hello", name="Ploy")
    await bot.settle()
    customers = {c["channel"]: c for c in await bot.ingest.customers()}
    wa, line = customers["whatsapp"], customers["line"]
    number = "0" + phone_of(wa_user)[2:]  # WhatsApp's wa_id, normalised
    assert wa["phone"] == number
    await edit(bot.ingest, line["_id"], phone=number)
    page = await bot.ingest.api("GET", "/api/v1/merge-suggestions")
    assert [s["reason"] for s in page["items"]] == [{"field": "phone", "value": number}]
    assert {m["id"] for m in page["items"][0]["members"]} == {wa["_id"], line["_id"]}
    await bot.ingest.api(
        "POST", f"/api/v1/customers/{line['_id']}/merge", json={"others": [wa["_id"]]}
    )
    admin = user_id("telegram", 99)
    await bot.link("telegram", admin)
    [found] = await bot.ask("telegram", admin, f"/customer {wa_user}")
    assert found.startswith("1. ") and "\n2. " not in found
    assert "LINE, WhatsApp" in found.splitlines()[1]
    assert found.endswith(f"#customer={line['_id']}")


async def test_staff_session_merges_with_the_csrf_token_only(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    await add_user(ingest.store, ingest.shop_id, "staff@merge.example", "staff")
    signed = await sign_in(ingest.client, "staff@merge.example")
    csrf = (await signed.json())["csrf_token"]
    path = f"/api/v1/customers/{a['id']}/merge"
    refused = await ingest.client.post(path, json={"others": [b["id"]]})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf_failed"
    assert (await ingest.api("GET", "/api/v1/customers"))["total"] == 2
    merged = await ingest.client.post(
        path, json={"others": [b["id"]]}, headers={"X-CSRF-Token": csrf}
    )
    assert merged.status == 200
    audit = await ingest.api("GET", f"/api/v1/customers/{a['id']}/audit")
    [entry] = [e for e in audit["items"] if e["action"] == "customer.merge"]
    assert entry["actor"] == "user:staff@merge.example"
    assert entry["before"][b["id"]]["notes"] == "telegram notes"
    assert entry["after"]["tags"] == ["VIP", "COD"]


async def test_customers_written_before_merges_existed_are_backfilled(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    old = {
        **new_customer_fields(),
        "_id": "cus_old",
        "_key": "cus_old",
        "shop_id": ingest.shop_id,
        "channel": "line",
        "platform_user_id": "Uold",
        "updated_ms": 0,
    }
    await ingest.store.db["customers"].insert_one(old)  # as an earlier version wrote it
    await ingest.store.db[terms.STATE].delete_many({})  # which kept no search terms
    await ingest.store.db[counts.STATE].delete_many({})  # which kept no summary counters
    await ingest.store.ensure_indexes()  # start-up: sets `channels` and `merged_into`
    await ingest.api("POST", f"/api/v1/customers/{a['id']}/merge", json={"others": [b["id"]]})
    found = await ingest.api("GET", "/api/v1/customers", params={"channel": "line"})
    assert {r["id"] for r in found["items"]} == {a["id"], "cus_old"}
    summary = await ingest.api("GET", "/api/v1/report/summary")
    assert summary["customers"] == 2


async def test_an_import_row_of_a_merged_identity_updates_the_person(ingest: Ingest) -> None:
    a, b = await two_people(ingest)
    await ingest.api("POST", f"/api/v1/customers/{a['id']}/merge", json={"others": [b["id"]]})
    report = await ingest.api(
        "POST",
        "/api/v1/imports?kind=customers",
        data=f"channel,platform_user_id,tags\ntelegram,{TG_USER},imported\n".encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert report["updated"] == 1 and report["created"] == 0
    page = await ingest.api("GET", "/api/v1/customers")
    assert page["total"] == 1 and page["items"][0]["tags"] == ["VIP", "COD", "imported"]
