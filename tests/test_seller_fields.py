"""What the seller typed (PATCH, import) wins over what a platform profile tells."""

from __future__ import annotations

from typing import Any

from chatcrm.store import Store
from chatcrm.store.customers import backfill_seller_fields
from tests.ingest_support import LINE_USER, TG_USER, Fakes, Ingest, fixture
from tests.test_customer_query import customer


async def patch(ingest: Ingest, platform_user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH the customer of a platform user at its current version."""
    row = (await ingest.rows())[platform_user_id]
    return await ingest.api(
        "PATCH",
        f"/api/v1/customers/{row['id']}",
        json=body,
        headers={"If-Match": f'"{row["version"]}"'},
    )


def later_text(update_id: int, first_name: str) -> dict[str, Any]:
    """Another private message of the Telegram user, who may have renamed themselves."""
    update = fixture("telegram", "private_text")
    update["update_id"] = update_id
    update["message"].update(message_id=update_id % 10_000, date=1795400000 + update_id % 100)
    update["message"]["from"]["first_name"] = first_name
    return update


async def test_telegram_profile_never_overwrites_the_sellers_name_phone_email(
    ingest: Ingest,
) -> None:
    await ingest.send("telegram", "private_text")
    patched = await patch(
        ingest,
        TG_USER,
        {"name": "คุณสมชาย (VIP)", "phone": "0899999999", "email": "somchai@example.com"},
    )
    assert (patched["name"], patched["profile_name"]) == ("คุณสมชาย (VIP)", "สมชาย ใจดี")
    await ingest.send("telegram", later_text(728394101, "Somchai"))
    await ingest.send("telegram", "contact_own")  # the user's own number: the seller's stays
    row = (await ingest.rows())[TG_USER]
    assert (row["name"], row["profile_name"]) == ("คุณสมชาย (VIP)", "สมชาย ใจดี")
    detail = await ingest.detail(TG_USER)
    assert (detail["name"], detail["phone"], detail["email"]) == (
        "คุณสมชาย (VIP)",
        "0899999999",
        "somchai@example.com",
    )
    assert sorted(detail["seller_fields"]) == ["email", "name", "phone"]
    audit = await ingest.api("GET", f"/api/v1/customers/{detail['id']}/audit")
    assert [entry["action"] for entry in audit["items"]] == ["customer.update"]


async def test_a_cleared_name_is_the_platforms_again(ingest: Ingest) -> None:
    await ingest.send("telegram", "private_text")
    await patch(ingest, TG_USER, {"name": "คุณสมชาย"})
    cleared = await patch(ingest, TG_USER, {"name": None})
    assert cleared["name"] == cleared["profile_name"] == "สมชาย ใจดี"
    await ingest.send("telegram", later_text(728394102, "Somchai"))
    assert (await ingest.rows())[TG_USER]["name"] == "Somchai ใจดี"


async def test_imported_name_and_phone_win_over_the_line_profile(
    ingest: Ingest, fakes: Fakes
) -> None:
    fakes.line.add_profile(LINE_USER, "Ploy")
    csv = f"channel,platform_user_id,name,phone\nline,{LINE_USER},คุณพลอย,081-234-5678\n"
    report = await ingest.api(
        "POST",
        "/api/v1/imports?kind=customers",
        data=csv.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert report["created"] == 1
    assert (await ingest.rows())[LINE_USER]["status"] == "unknown"
    await ingest.send("line", "follow", "text_user")
    row = (await ingest.rows())[LINE_USER]
    assert (row["name"], row["profile_name"], row["status"]) == ("คุณพลอย", "Ploy", "following")
    assert (await ingest.detail(LINE_USER))["phone"] == "0812345678"


async def test_customers_of_earlier_versions_learn_what_the_seller_typed(
    ingest: Ingest, store: Store
) -> None:
    await ingest.send("telegram", "private_text")
    edited = await patch(ingest, TG_USER, {"name": "คุณสมชาย", "email": "somchai@example.com"})
    imported = customer(ingest.shop_id, 1, name="คุณพลอย", phone="0812345678")
    imported["last_contact_at"] = None  # an import no platform has contacted since
    chatted = customer(ingest.shop_id, 2, name="Nok", phone="0812345679")
    chatted["platform_phone"] = "66812345679"  # WhatsApp's number, filled in
    await store.db.customers.insert_many([imported, chatted])
    earlier = {"$unset": {"seller_fields": "", "profile_name": ""}}
    await store.db.customers.update_many({"shop_id": ingest.shop_id}, earlier)  # as they were
    await store.ensure_indexes()  # what every start-up runs
    rows = await ingest.rows()
    assert (rows[TG_USER]["name"], rows[TG_USER]["profile_name"]) == ("คุณสมชาย", None)
    assert rows[imported["platform_user_id"]]["profile_name"] is None
    assert rows[chatted["platform_user_id"]]["profile_name"] == "Nok"
    details = {user: await ingest.detail(user) for user in rows}
    assert sorted(details[TG_USER]["seller_fields"]) == ["email", "name"]
    assert details[imported["platform_user_id"]]["seller_fields"] == ["name", "phone"]
    assert details[chatted["platform_user_id"]]["seller_fields"] == []
    assert details[TG_USER]["version"] == edited["version"]  # no edit of its own
    await ingest.send("telegram", later_text(728394103, "Somchai"))
    row = (await ingest.rows())[TG_USER]
    assert (row["name"], row["profile_name"]) == ("คุณสมชาย", "Somchai ใจดี")
    assert await backfill_seller_fields(store.db) == 0
