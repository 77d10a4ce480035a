"""A customer stays one customer when its platform renames it; platform facts never overwrite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chatcrm.store import Store
from chatcrm.store.customers import Contact, IfNull
from tests.conftest import ShopFixture

AT = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)


async def test_rekey_moves_the_customer_with_everything_the_seller_set(
    store: Store, shop: ShopFixture
) -> None:
    customers = store.for_shop(shop.id).customers
    first = await customers.upsert_contact("line", "U-old", channel_id="c", at=AT)
    edited = await customers.update_guarded(
        first["_id"], first["version"], {"phone": "0812345678", "tags": ["VIP"]}
    )
    assert edited is not None
    moved = await customers.rekey("line", ["U-gone", "U-old"], "U-new")
    assert moved is not None and moved["_id"] == first["_id"]
    assert moved["platform_user_id"] == "U-new" and moved["former_user_ids"] == ["U-old"]
    assert moved["phone"] == "0812345678" and moved["tags"] == ["VIP"]
    assert await customers.find_identity("line", "U-old") is None
    later = await customers.upsert_contact(
        "line", "U-new", channel_id="c", at=AT + timedelta(days=1)
    )
    assert later["_id"] == first["_id"] and await customers.count() == 1
    again = await customers.rekey("line", ["U-new"], "U-newer")
    assert again is not None and again["former_user_ids"] == ["U-old", "U-new"]


async def test_rekey_never_merges_two_customers_nor_creates_one(
    store: Store, shop: ShopFixture
) -> None:
    customers = store.for_shop(shop.id).customers
    old = await customers.upsert_contact("line", "U-old", channel_id="c", at=AT)
    new = await customers.upsert_contact("line", "U-new", channel_id="c", at=AT)
    assert await customers.rekey("line", ["U-old"], "U-new") is None
    assert (await customers.find_identity("line", "U-old"))["_id"] == old["_id"]
    assert (await customers.find_identity("line", "U-new"))["_id"] == new["_id"]
    assert await customers.rekey("line", ["U-unknown"], "U-other") is None
    assert await customers.count() == 2


async def test_if_null_fills_only_an_empty_field(store: Store, shop: ShopFixture) -> None:
    customers = store.for_shop(shop.id).customers
    filled = await customers.upsert_contact(
        "line", "U1", channel_id="c", at=AT, set_fields={"phone": IfNull("0891234567")}
    )
    assert filled["phone"] == "0891234567"
    typed = await customers.update_guarded(
        filled["_id"], filled["version"], {"phone": "0811111111"}
    )
    assert typed is not None
    kept = await customers.upsert_contact(
        "line", "U1", channel_id="c", at=AT, set_fields={"phone": IfNull("0899999999")}
    )
    assert kept["phone"] == "0811111111"
    identity = ("line", "U1")
    written, errors = await customers.record_contacts(
        [Contact("line", "U1", "c", AT + timedelta(hours=1))],
        await customers.by_identities([identity]),
        set_fields={identity: {"phone": IfNull("0899999999"), "name": "Mali"}},
    )
    assert errors == {} and written[identity]["name"] == "Mali"
    stored = await customers.find_identity(*identity)
    assert stored is not None and stored["phone"] == "0811111111" and stored["name"] == "Mali"
