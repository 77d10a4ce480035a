"""Batched contacts (`record_contacts`) end as one `upsert_contact` each would, races included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatcrm.store import Store
from chatcrm.store.customers import Contact
from tests.conftest import ShopFixture

AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


async def test_batch_merges_each_customers_contacts_in_order(
    store: Store, shop: ShopFixture
) -> None:
    customers = store.for_shop(shop.id).customers
    await customers.upsert_contact("line", "Uold", channel_id="ch_0", at=AT)
    contacts = [
        Contact("line", "Unew", "ch_1", AT + timedelta(minutes=1)),
        Contact("line", "Uold", "ch_1", AT + timedelta(minutes=2), status="unfollowed"),
        Contact("line", "Unew", "ch_1", AT - timedelta(minutes=5), status="following"),
    ]
    existing = await customers.by_identities([c.identity for c in contacts])
    written, errors = await customers.record_contacts(
        contacts, existing, set_fields={("line", "Unew"): {"name": "นก"}}
    )
    assert errors == {}
    assert set(written) == {("line", "Unew"), ("line", "Uold")}
    new = await customers.find_identity("line", "Unew")
    old = await customers.find_identity("line", "Uold")
    assert new is not None and old is not None
    assert new["name"] == "นก" and new["status"] == "following"
    assert new["first_seen_at"] == AT - timedelta(minutes=5)
    assert new["last_contact_at"] == AT + timedelta(minutes=1)
    assert old["status"] == "unfollowed" and old["version"] == 2
    assert old["first_seen_at"] == AT and old["last_contact_at"] == AT + timedelta(minutes=2)


async def test_batch_retries_customers_another_writer_changed(
    store: Store, shop: ShopFixture
) -> None:
    customers = store.for_shop(shop.id).customers
    await customers.upsert_contact("line", "Ustale", channel_id="ch_0", at=AT)
    contacts = [
        Contact("line", "Uraced", "ch_1", AT + timedelta(minutes=1)),
        Contact("line", "Ustale", "ch_1", AT + timedelta(minutes=3)),
    ]
    existing = await customers.by_identities([c.identity for c in contacts])
    assert ("line", "Uraced") not in existing
    # meanwhile another writer creates the one and changes the other
    await customers.upsert_contact("line", "Uraced", channel_id="ch_9", at=AT)
    await customers.upsert_contact(
        "line", "Ustale", channel_id="ch_9", at=AT, set_fields={"name": "แดง"}
    )
    written, errors = await customers.record_contacts(contacts, existing)
    assert errors == {}
    raced = await customers.find_identity("line", "Uraced")
    stale = await customers.find_identity("line", "Ustale")
    assert raced is not None and stale is not None
    assert await customers.count() == 2  # the raced one was not created twice
    assert raced["last_contact_at"] == AT + timedelta(minutes=1) and raced["version"] == 2
    assert stale["name"] == "แดง"  # the other writer's change is kept
    assert stale["last_contact_at"] == AT + timedelta(minutes=3) and stale["version"] == 3
    assert written[("line", "Uraced")]["_id"] == raced["_id"]
    assert written[("line", "Ustale")]["version"] == 3


async def test_batch_refuses_an_unknown_status(store: Store, shop: ShopFixture) -> None:
    customers = store.for_shop(shop.id).customers
    with pytest.raises(ValueError, match="unknown customer status"):
        await customers.record_contacts([Contact("line", "U1", None, AT, status="gone")], {})
    assert await customers.count() == 0
