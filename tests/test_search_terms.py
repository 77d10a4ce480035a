"""Search terms (chatcrm.store.terms): what a customer is found by, and the rows kept in step
with every customer write, on the real database. The HTTP-level spec of `q` is in
tests/test_search.py."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from chatcrm import merging
from chatcrm.domain import CustomerFilters, Sort, new_customer_fields
from chatcrm.input_rules import q_term
from chatcrm.store import Store, terms
from chatcrm.store.base import Doc, utcnow
from chatcrm.store.customers import Contact, ShopCustomers
from chatcrm.store.term_search import TermSearch, term_plan
from chatcrm.store.terms import channel_term, finds, tag_term, terms_of

NAMES = ["สมชาย ใจดี", "สมหญิง ศรีสุข", "Ploy Saetang", "ploy sae", "Somchai Jaidee", "ศรีสมร"]
LONG = "Wongsakul Phatthanaphongsakul Kittiwattanasak"
NAMES += [LONG, LONG[:30] + "Other"]
TAGS = ["VIP", "COD", "ขาประจำ"]


def customer(shop_id: str, n: int, **fields: Any) -> Doc:
    """A customer document of `shop_id` as seeds and imports insert it."""
    cid = f"cus_t{n:05d}"
    return {
        **new_customer_fields(),
        "_id": cid,
        "_key": cid,
        "shop_id": shop_id,
        "channel": "line",
        "platform_user_id": f"U{n:05d}",
        **fields,
    }


def test_name_terms_are_word_starts_from_two_characters() -> None:
    found = terms_of({"_id": "c", "name": "สมชาย  ใจดี"})
    for q in ("สม", "สมชาย", "ใจ", "ใจดี", "สมชาย ใจ", "สมชาย ใจดี"):
        assert q_term(q) in found
    assert q_term("ชาย") not in found and "ส" not in found
    latin = terms_of({"_id": "c", "profile_name": "Ploy Saetang"})
    assert {q_term("ploy"), q_term("PLOY S"), q_term("Sae")} <= latin
    assert q_term("etang") not in latin


def test_phone_email_and_id_terms_compare_through_q_term() -> None:
    doc = {
        "_id": "c",
        "phone": "0812345678",
        "email": "Ploy.S@Example.com",
        "platform_user_id": "66812345678",
        "platform_user_ids": ["66812345678", "Uabc123"],
    }
    found = terms_of(doc)
    for q in ("081", "+66 81-234", "081 234 5678", "+66 81 234 5678", "5678", "2345678"):
        assert q_term(q) in found, q
    assert q_term("08") not in found and q_term("678") not in found
    assert {q_term("ploy.s@example.com"), q_term("PLOY.S")} <= found
    assert q_term("example.com") not in found
    assert q_term("Uabc123") in found and q_term("66812345678") in found


def test_tombstones_and_chat_admins_have_no_terms_tags_and_channels_do() -> None:
    doc = {"_id": "c", "name": "Ploy", "tags": ["VIP"], "channels": ["line", "telegram"]}
    assert {tag_term("VIP"), channel_term("line"), channel_term("telegram")} <= terms_of(doc)
    assert q_term("vip") not in terms_of(doc)  # a typed q never finds a tag row
    assert terms_of({**doc, "merged_into": "cus_x", "merged": True}) == set()
    assert terms_of({**doc, "chat_admin": True}) == set()


def test_long_terms_are_stored_short_and_checked_whole() -> None:
    name = "Wongsakul Phatthanaphongsakul Kittiwattanasak"
    doc = {"_id": "c", "name": name}
    assert max(len(t) for t in terms_of(doc)) == terms.MAX_START
    assert finds(doc, q_term(name)) and finds(doc, q_term(name[:30]))
    assert not finds(doc, q_term(name[:30] + "x"))


async def rows_of_shop(store: Store, shop_id: str) -> dict[str, Any]:
    cursor = store.db[terms.TERMS].find({"shop_id": shop_id})
    return {r["_id"]: r["paid_total"] async for r in cursor}


async def expected_rows(store: Store, shop_id: str) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    async for doc in store.db.customers.find({"shop_id": shop_id}):
        rows.update({rid: r["paid_total"] for rid, r in terms.term_rows(doc).items()})
    return rows


async def assert_in_step(store: Store, shop_id: str) -> None:
    assert await rows_of_shop(store, shop_id) == await expected_rows(store, shop_id)


async def seeded(store: Store, n: int, seed: int = 1) -> tuple[str, ShopCustomers]:
    shop = await store.shops.create("ร้านค้นหา")
    rng = random.Random(seed)
    docs = [
        customer(
            shop.id,
            i,
            name=rng.choice(NAMES),
            phone=f"08{rng.randrange(10**8):08d}",
            tags=rng.sample(TAGS, rng.randrange(3)),
            paid_total=rng.randrange(5) * 1000,
        )
        for i in range(n)
    ]
    customers = store.for_shop(shop.id).customers
    await customers.insert_new(docs)
    return shop.id, customers


async def test_rows_follow_every_kind_of_customer_write(store: Store) -> None:
    shop_id, customers = await seeded(store, 30)
    await assert_in_step(store, shop_id)
    shop = store.for_shop(shop_id)
    rng = random.Random(7)
    for step in range(48):
        ids = [
            d["_id"]
            async for d in store.db.customers.find({"shop_id": shop_id, "merged": {"$ne": True}})
        ]
        target = rng.choice(ids)
        doc = await customers.get(target)
        assert doc is not None
        kind = step % 6
        if kind == 0:  # a seller's edit
            changes = {"name": rng.choice(NAMES), "phone": f"09{rng.randrange(10**8):08d}"}
            assert await customers.update_guarded(target, doc["version"], changes)
        elif kind == 1:
            tags = rng.sample(TAGS, rng.randrange(3))
            assert await customers.update_guarded(target, doc["version"], {"tags": tags})
        elif kind == 2:  # an order paid (orders.py's write)
            assert await customers.replace_guarded(doc, {"paid_total": rng.randrange(9) * 500})
        elif kind == 3:  # a merge of two live persons
            other = rng.choice([i for i in ids if i != target])
            others = await customers.get(other)
            assert others is not None
            versions = {target: doc["version"], other: others["version"]}
            await merging.merge(shop, target, [other], versions, "test")
        elif kind == 4:
            await customers.set_chat_admin(("line", doc["platform_user_id"]), step % 12 == 4)
        elif step % 24 == 5:  # a chat message: no row changes
            await customers.upsert_contact(
                "line", doc["platform_user_id"], channel_id="ch", at=utcnow()
            )
        elif step % 12 == 5:  # ingest's batch: a known customer and a new one
            known = ("line", doc["platform_user_id"])
            contacts = [
                Contact(*known, "ch", utcnow()),
                Contact("line", f"U{step}n", "ch", utcnow()),
            ]
            await customers.record_contacts(contacts, {known: doc})
        elif step % 24 == 11:  # an import row of an existing customer
            assert await customers.apply_changes([(doc, {"email": f"c{step}@example.com"})])
        else:  # an identity split out of its person again
            tombstone = await store.db.customers.find_one({"shop_id": shop_id, "merged": True})
            if tombstone is not None:  # (one of an earlier step's merges)
                person, identity = tombstone["merged_into"], tombstone["platform_user_id"]
                await merging.unmerge(shop, person, "line", identity, "test")
        await assert_in_step(store, shop_id)


async def test_concurrent_writers_leave_the_rows_of_the_last_write(store: Store) -> None:
    shop_id, customers = await seeded(store, 5, seed=3)
    targets = [d["_id"] async for d in store.db.customers.find({"shop_id": shop_id})]

    async def writer(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(15):
            target = rng.choice(targets)
            doc = await customers.get(target)
            assert doc is not None
            changes = {
                "name": rng.choice(NAMES),
                "tags": rng.sample(TAGS, rng.randrange(3)),
                "paid_total": rng.randrange(4) * 100,
            }
            await customers.update_guarded(target, doc["version"], changes)  # may lose: fine

    await asyncio.gather(*(writer(s) for s in range(6)))
    await assert_in_step(store, shop_id)


async def oracle(store: Store, shop_id: str, filters: CustomerFilters) -> list[Doc]:
    """The persons `filters` find, by reading every customer (no search terms)."""
    plan = term_plan(filters, merged=True)
    assert plan is not None
    out = []
    async for doc in store.db.customers.find({"shop_id": shop_id}):
        if not terms.finds_all(doc, plan.groups):
            continue
        if filters.provinces and doc.get("province_key") not in filters.provinces:
            continue
        out.append(doc)
    return out


async def all_pages(customers: ShopCustomers, filters: CustomerFilters, sort: Sort) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page, cursor = await customers.search(filters, sort, limit=7, cursor=cursor)
        ids += [d["_id"] for d in page]
        if cursor is None:
            return ids


@pytest.mark.parametrize("in_service", [True, False], ids=["sorted-here", "sort-index-walked"])
async def test_pages_and_totals_agree_with_reading_every_customer(
    store: Store, monkeypatch: pytest.MonkeyPatch, in_service: bool
) -> None:
    if not in_service:  # a sort other than paid_total walks the customers' own sort index
        monkeypatch.setattr(TermSearch, "sort_in_service", 0)
    shop_id, customers = await seeded(store, 120, seed=5)
    cases = [
        CustomerFilters(q="สม"),
        CustomerFilters(q="ploy s"),
        CustomerFilters(q=LONG[:30] + "o"),  # longer than its row: candidates checked whole
        CustomerFilters(q="08"),
        CustomerFilters(tags=("VIP",)),
        CustomerFilters(tags=("VIP", "COD"), tag_mode="all"),
        CustomerFilters(tags=("VIP", "COD")),
        CustomerFilters(tags=("VIP",), q="สมชาย"),
        CustomerFilters(tags=("COD",), provinces=("unknown",)),
    ]
    for filters in cases:
        expected = await oracle(store, shop_id, filters)
        for sort in (Sort("paid_total", True), Sort("paid_total", False), Sort("name", True)):
            got = await all_pages(customers, filters, sort)
            assert sorted(got) == sorted(d["_id"] for d in expected), (filters, sort)
            assert len(set(got)) == len(got)
            field = "paid_total" if sort.field == "paid_total" else "name"
            values = [next(d for d in expected if d["_id"] == i)[field] for i in got]
            assert values == sorted(values, reverse=not sort.ascending)
        assert await customers.count_matching(filters) == len(expected), filters
        assert sorted(await customers.export_ids(filters, Sort("paid_total", True))) == sorted(
            d["_id"] for d in expected
        )


async def test_a_shop_written_before_search_terms_is_backfilled(store: Store) -> None:
    shop = await store.shops.create("ร้านเก่า")
    docs = [customer(shop.id, i, name=NAMES[i % len(NAMES)], tags=["VIP"]) for i in range(12)]
    await store.db.customers.insert_many(docs)  # as an earlier version wrote them: no rows
    await store.db[terms.STATE].update_one({"_id": terms.STATE_ID}, {"$push": {"pending": shop.id}})
    customers = store.for_shop(shop.id).customers
    filters = CustomerFilters(q="Ploy")
    assert await customers.count_matching(filters) == 4  # the search of customers meanwhile
    await store.backfill_search_terms()
    assert await terms.pending_shops(store.db) == set()
    await assert_in_step(store, shop.id)
    assert await customers.count_matching(filters) == 4  # now by the rows
    await store.db[terms.TERMS].delete_many({"person": docs[0]["_id"]})  # a crash's loss
    await store.db[terms.TERMS].insert_one(
        {"_id": "cus_gone|pl", "shop_id": shop.id, "person": "cus_gone", "term": "pl"}
    )
    await terms.rebuild_shop(store.db, shop.id, batch=5)
    await assert_in_step(store, shop.id)
    await store.db[terms.TERMS].delete_many({"person": docs[5]["_id"]})
    assert (await store.reindex_search(shop.id))[shop.id] > 0  # chatcrm reindex-search
    await assert_in_step(store, shop.id)
