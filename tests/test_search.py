"""What the report's search finds (issue 12), through the real service: `q` by name, chat
profile name, phone, e-mail and platform id, tags any/all, date-range edges in the shop's time
zone, sort and paging, and the same right after a customer changes.

Most tests read one module-wide shop of crafted customers (`CRAFTED`) and never change it;
tests that change customers make a shop of their own on the same service and database.
Every expected set is written out: a search that finds too much fails as surely as one that
finds too little.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer

from chatcrm.app import create_app
from chatcrm.config import Settings
from chatcrm.store import Store
from chatcrm.store.customers import Contact, IfNull
from tests.conftest import SECRET_KEY, DatabasePool, ShopFixture, make_shop
from tests.test_customer_query import customer

pytestmark = pytest.mark.asyncio(loop_scope="module")

BANGKOK = ZoneInfo("Asia/Bangkok")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")


def local(tz: ZoneInfo, *parts: int) -> datetime:
    """A wall-clock time in `tz` (year, month, day, hour, minute, second[, microsecond])."""
    return datetime(*parts, tzinfo=tz).astimezone(UTC)  # type: ignore[misc]


def line_id(i: int) -> str:
    """The LINE user id `customer` gives customer `i`."""
    return f"U{i:032x}"


def cid(i: int) -> str:
    return f"cus_{i:04d}"


LONG_THAI = "ร้านเสื้อผ้าแฟชั่นสไตล์เกาหลี"
"""A shop's name as a customer's: one word of 28 characters."""

WONGSAWAT = {  # one surname, for sort and paging: (number, first name, paid_total)
    13: ("Aom", 10000),
    14: ("Bee", 10000),  # the same spend as Aom: the customer key breaks the tie
    15: ("Cat", 0),
    16: ("Dao", 70000),
    17: ("Eve", 30000),
    18: ("Fon", 30000),
    19: ("Gift", 90000),
}

CRAFTED: dict[int, dict[str, Any]] = {
    1: {"name": "สมชาย ใจดี", "phone": "0812345678", "tags": ["VIP", "COD"], "paid_total": 5000},
    2: {"name": "ชายแดน ทองดี", "phone": "0899995678", "tags": ["VIP"], "paid_total": 3000},
    3: {"name": "สมหญิง รักดี", "phone": "021234567", "tags": ["COD"]},  # a Bangkok landline
    4: {
        "name": "Ploy Saetang",
        "email": "ploy@example.com",
        "phone": "0861231234",
        "tags": ["ส่งฟรี"],
    },
    5: {"name": "Zed Alpha", "email": "mailbox.one@example.com"},
    6: {"profile_name": "Khun Mali Rose", "phone": "0811110123"},  # no name: its chat name
    7: {"name": "Nid Profile", "profile_name": "ตุ๊กตา น่ารัก"},
    8: {"platform_user_id": "Unewcontact123"},  # a chat contact known only by its id
    9: {"channel": "whatsapp", "platform_user_id": "66899990001", "name": "Wa Person"},
    10: {"channel": "telegram", "platform_user_id": "5123456789", "name": "Tg Person"},
    11: {"name": "José Niño"},  # stored composed (NFC)
    12: {"name": "Straße Müller"},
    **{
        i: {
            "name": f"{first} Wongsawat",
            "paid_total": paid,
            "updated_at": local(BANGKOK, 2026, 9, i, 9, 0, 0),
        }
        for i, (first, paid) in WONGSAWAT.items()
    },
    20: {"name": "Merge Wongsawat", "phone": "0870000001", "tags": ["Keeper"]},
    21: {  # merged into 20: a tombstone
        "name": "Tomb Wongsawat",
        "phone": "0870000001",
        "tags": ["TombTag"],
        "channel": "messenger",
        "platform_user_id": "Utombstone21",
    },
    22: {"name": "Admin Wongsawat", "phone": "0870000022", "tags": ["VIP"]},  # a chat admin
    # updated at the edges of days in Bangkok
    23: {"name": "Edge One", "updated_at": local(BANGKOK, 2026, 10, 10, 23, 59, 59)},
    24: {"name": "Edge Two", "updated_at": local(BANGKOK, 2026, 10, 11, 0, 0, 0)},
    25: {"name": "Edge Three", "updated_at": local(BANGKOK, 2026, 10, 20, 23, 59, 59, 999000)},
    26: {"name": "Edge Four", "updated_at": local(BANGKOK, 2026, 10, 21, 0, 0, 0)},
    # long names and addresses that differ only after their first 24 characters
    27: {
        "name": "Panyapiwat Trading Company Branch One",
        "email": "panyapiwat.trading.company.one@example.com",
    },
    28: {
        "name": "Panyapiwat Trading Company Branch Two",
        "email": "panyapiwat.trading.company.two@example.com",
    },
    29: {"name": LONG_THAI + " สาขาหนึ่ง"},
    30: {"name": LONG_THAI + " สาขาสอง"},
}
"""Shop A's customers by number (`cid`); the rest of each document is `customer`'s."""

WONGSAWAT_IDS = {cid(i) for i in WONGSAWAT}
LIVE_WONGSAWAT = {*WONGSAWAT_IDS, cid(20)}
"""Who "Wongsawat" finds: never the tombstone (21) nor the chat admin (22)."""

OTHER_SHOP: dict[int, dict[str, Any]] = {
    # the same name, phone, e-mail and tags as shop A's: never found from shop A
    101: {"name": "สมชาย ใจดี", "phone": "0812345678", "tags": ["VIP", "COD"]},
    102: {"name": "Ploy Saetang", "email": "ploy@example.com", "tags": ["ส่งฟรี"]},
    # updated at the edges of days in Los Angeles, the shop's time zone
    103: {"name": "LA One", "updated_at": local(LOS_ANGELES, 2026, 10, 10, 23, 59, 59)},
    104: {"name": "LA Two", "updated_at": local(LOS_ANGELES, 2026, 10, 11, 0, 0, 0)},
}


@dataclass
class Service:
    """The running service, its store and the two crafted shops."""

    client: TestClient
    store: Store
    shop: ShopFixture
    other: ShopFixture

    async def get(self, path: str, shop: ShopFixture | None = None, **params: Any) -> Any:
        resp = await self.client.get(path, params=params, headers=(shop or self.shop).auth())
        assert resp.status == 200, await resp.text()
        return await resp.json()

    async def call(self, method: str, path: str, shop: ShopFixture, **kwargs: Any) -> Any:
        resp = await self.client.request(method, path, headers=shop.auth(), **kwargs)
        assert resp.status in (200, 201), await resp.text()
        return await resp.json()

    async def found(self, shop: ShopFixture | None = None, **params: Any) -> set[str]:
        """Ids of the whole result (one page), checking `total` and the summary agree."""
        body = await self.get("/api/v1/customers", shop, limit="200", **params)
        ids = [row["id"] for row in body["items"]]
        assert len(ids) == len(set(ids)), f"listed twice: {params}"
        assert body["total"] == len(ids) and body["next_cursor"] is None, params
        summary = await self.get("/api/v1/report/summary", shop, **params)
        assert summary["customers"] == len(ids), f"summary of {params}"
        return set(ids)

    async def q(self, q: str, shop: ShopFixture | None = None, **params: Any) -> set[str]:
        return await self.found(shop, q=q, **params)

    async def pages(
        self, limit: int, shop: ShopFixture | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """Every row, following `next_cursor`; each page's `total` is the whole count."""
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            extra = {"cursor": cursor} if cursor else {}
            body = await self.get("/api/v1/customers", shop, limit=str(limit), **params, **extra)
            assert len(body["items"]) <= limit
            rows += body["items"]
            cursor = body["next_cursor"]
            if cursor is None:
                assert body["total"] == len(rows), params
                return rows
            assert len(body["items"]) == limit and body["total"] > len(rows)

    async def own_shop(self, numbers: dict[int, dict[str, Any]]) -> ShopFixture:
        """A new shop on the service with these customers (numbers unique to the test)."""
        shop = await make_shop(self.store, "ร้านของเทสต์")
        docs = [customer(shop.id, i, **fields) for i, fields in numbers.items()]
        assert await self.store.for_shop(shop.id).customers.insert_new(docs) == len(docs)
        return shop

    async def edit(self, shop: ShopFixture, customer_id: str, **changes: Any) -> Any:
        """PATCH a customer at its current version."""
        current = await self.get(f"/api/v1/customers/{customer_id}", shop)
        body = {**changes, "version": current["version"]}
        return await self.call("PATCH", f"/api/v1/customers/{customer_id}", shop, json=body)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(
    database_pool: DatabasePool, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Service]:
    """The service on a database of this module's, with shop A (Bangkok) and a shop in Los
    Angeles, their customers crafted; in shop A 21 is merged into 20 and 22 is a chat admin."""
    store, _ = await database_pool.take()
    await store.ensure_indexes()
    settings = Settings(
        mongodb_uri=mongo_uri,
        mongodb_db=store.db.name,
        data_dir=Path(tmp_path_factory.mktemp("search")) / "var",
        secret_key=SECRET_KEY,
    )
    async with TestClient(TestServer(create_app(settings))) as client:
        shop = await make_shop(store, "Shop A")
        la = await store.shops.create("Shop LA", timezone="America/Los_Angeles")
        other = ShopFixture(
            la.id,
            await store.tokens.create(la.id, "owner", "owner"),
            await store.tokens.create(la.id, "staff", "staff"),
        )
        for owner, numbers in ((shop, CRAFTED), (other, OTHER_SHOP)):
            docs = [customer(owner.id, i, **fields) for i, fields in numbers.items()]
            await store.for_shop(owner.id).customers.insert_new(docs)
        found = Service(client, store, shop, other)
        await found.call(
            "POST", f"/api/v1/customers/{cid(20)}/merge", shop, json={"others": [cid(21)]}
        )
        admin = ("line", line_id(22))
        assert await store.for_shop(shop.id).customers.set_chat_admin(admin, True) == 1
        yield found
    database_pool.returned.append(store.db.name)
    await store.close()


def ids(*numbers: int) -> set[str]:
    return {cid(i) for i in numbers}


ROMAN = {
    "สม": "som",
    "สมชาย": "somchai",
    "ใจ": "jai",
    "ใจดี": "jaidee",
    "ชาย": "chai",
    "ทอง": "thong",
    "รัก": "rak",
    "ดี": "dee",
    "หญิง": "ying",
    "ตุ๊ก": "tuk",
    "น่ารัก": "narak",
    "ส": "so",
}


def roman(value: Any) -> str | None:
    """A test id a terminal shows for a Thai `q` (pytest escapes other scripts)."""
    if not isinstance(value, str):
        return None
    return "_".join(ROMAN.get(word, word) for word in value.split(" "))


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("สม", ids(1, 3)),
        ("สมชาย", ids(1)),
        ("ใจ", ids(1)),
        ("ใจดี", ids(1)),
        ("สมชาย ใจ", ids(1)),
        ("สมชาย ใจดี", ids(1)),
        ("  สมชาย   ใจดี ", ids(1)),  # whitespace runs count as one space
        ("ชาย", ids(2)),  # the start of ชายแดน, not the inside of สมชาย
        ("ทอง", ids(2)),
        ("รัก", ids(3)),  # not the inside of น่ารัก
        ("ดี", set()),  # inside ใจดี, ทองดี, รักดี only
        ("หญิง", set()),
        ("สมชาย ทอง", set()),  # two words, but not of one name
    ],
    ids=roman,
)
async def test_thai_names_by_the_start_of_their_words(
    service: Service, q: str, expected: set[str]
) -> None:
    assert await service.q(q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ploy", ids(4)),  # the name and the e-mail's local part: listed once
        ("PLOY", ids(4)),
        ("PLOY S", ids(4)),
        ("ploy saetang", ids(4)),
        ("Saet", ids(4)),
        ("etang", set()),
        ("loy", set()),
        ("mali", ids(6)),  # the chat profile name of a customer without a name
        ("KHUN MALI", ids(6)),
        ("ali", set()),
        ("ตุ๊ก", ids(7)),  # a chat profile name beside a name
        ("น่ารัก", ids(7)),
        ("nid", ids(7)),
        ("jose\u0301", ids(11)),  # typed decomposed (NFD), stored composed
        ("NIÑO", ids(11)),
        ("STRASSE", ids(12)),  # casefolded: ß is ss
        ("straße m", ids(12)),
        ("Mu\u0308ller", ids(12)),
        ("wongsawat", LIVE_WONGSAWAT),
    ],
    ids=roman,
)
async def test_latin_and_profile_names_case_insensitive(
    service: Service, q: str, expected: set[str]
) -> None:
    assert await service.q(q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("panyapiwat trading company branch one", ids(27)),
        ("Panyapiwat Trading Company Branch", ids(27, 28)),
        ("trading company branch two", ids(28)),
        ("panyapiwat.trading.company.one@example.com", ids(27)),
        ("panyapiwat.trading.company.two", ids(28)),
        (LONG_THAI, ids(29, 30)),
        (LONG_THAI + " สาขาหนึ่ง", ids(29)),
        (LONG_THAI + " สาขาส", ids(30)),
    ],
    ids=[
        "latin-one",
        "latin-both",
        "latin-second-word",
        "email",
        "local-part",
        "thai-word",
        "thai-one",
        "thai-two-start",
    ],
)
async def test_long_names_and_addresses_past_their_first_24_characters(
    service: Service, q: str, expected: set[str]
) -> None:
    assert len(LONG_THAI) > 24
    assert await service.q(q) == expected


@pytest.mark.parametrize("q", ["ส", "a", "5", " P ", "\u00e9", "e\u0301"], ids=roman)
async def test_a_one_character_q_is_refused_naming_q(service: Service, q: str) -> None:
    for path in ("/api/v1/customers", "/api/v1/report/summary"):
        resp = await service.client.get(path, params={"q": q}, headers=service.shop.auth())
        assert resp.status == 422, (path, q, await resp.text())
        error = (await resp.json())["error"]
        assert error["field"] == "q" and "at least 2 characters" in error["message"]


async def test_a_blank_q_is_no_filter(service: Service) -> None:
    everyone = await service.found()
    assert await service.q("   ") == everyone
    assert not everyone & ids(21, 22)  # tombstones and chat admins are never listed


# --- phones, e-mails, platform ids ----------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("0812345678", ids(1)),
        ("081-234-5678", ids(1)),
        ("081 234 5678", ids(1)),
        ("(081) 234.5678", ids(1)),
        ("+66 81 234 5678", ids(1)),
        ("+66812345678", ids(1)),
        ("66812345678", ids(1)),
        ("๐๘๑๒๓๔๕๖๗๘", ids(1)),  # Thai digits
        ("081", ids(1, 6)),  # the start, from 3 digits
        ("0812", ids(1)),
        ("081 234", ids(1)),
        ("+66 81 234", ids(1)),
        ("5678", ids(1, 2)),  # the last 4 digits
        ("2345678", ids(1)),
        ("๕๖๗๘", ids(1, 2)),
        ("1234", ids(4)),  # 0861231234 ends so; 0812345678 and 021234567 only contain it
        ("0123", ids(6)),
        ("123", set()),  # 3 digits: a start only, and no phone starts so
        ("08", set()),  # too few digits for a phone
        ("(02) 123-4567", ids(3)),
        ("+66 2 123 4567", ids(3)),
        ("087", ids(20)),  # the person once: not its tombstone (21), not the chat admin (22)
        ("0001", ids(20)),
        ("0870000022", set()),  # the chat admin's phone
        ("Unewcontact123", ids(8)),  # its platform id; not a phone, so not 0811110123
    ],
)
async def test_phones_written_any_way(service: Service, q: str, expected: set[str]) -> None:
    assert await service.q(q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("mailbox.one@example.com", ids(5)),
        ("MAILBOX.ONE@Example.COM", ids(5)),
        ("mailbox.one", ids(5)),  # the part before @
        ("Mailbox.One", ids(5)),
        ("mailbox", set()),  # neither the whole address nor its local part
        ("example.com", set()),
        ("@example.com", set()),
        ("ploy@example.com", ids(4)),
    ],
)
async def test_emails_whole_or_their_local_part(
    service: Service, q: str, expected: set[str]
) -> None:
    assert await service.q(q) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        (line_id(3), ids(3)),
        (line_id(3).lower(), ids(3)),  # compared casefolded, like every term
        (line_id(3)[:20], set()),  # the whole id only
        ("5123456789", ids(10)),  # a Telegram id
        ("66899990001", ids(9)),  # a WhatsApp id, also by its phone forms
        ("+66899990001", ids(9)),
        ("+66 89 999 0001", ids(9)),
        ("Utombstone21", ids(20)),  # a merged identity's id finds its person
        (line_id(22), set()),  # a chat admin
    ],
)
async def test_platform_ids_whole(service: Service, q: str, expected: set[str]) -> None:
    assert await service.q(q) == expected


async def test_tombstones_and_chat_admins_are_never_found(service: Service) -> None:
    for q in ("tomb", "Tomb Wongsawat", "admin", "Admin Wongsawat", "0870000001"):
        assert not await service.q(q) & ids(21, 22), q
    assert await service.found(tag="TombTag") == ids(20)  # the person took its tags
    assert await service.q("merge wong") == ids(20)


async def test_another_shops_customers_are_never_found(service: Service) -> None:
    assert await service.q("สมชาย") == ids(1)
    assert await service.q("0812345678") == ids(1)
    assert await service.q("ploy@example.com") == ids(4)
    assert await service.q("สมชาย", service.other) == {cid(101)}
    assert await service.q("ploy", service.other) == {cid(102)}
    assert await service.found(service.other, tag="ส่งฟรี") == {cid(102)}


# --- channels of a shop with merged customers ------------------------------------------------

LINE_CUSTOMERS = ids(*range(1, 9), *range(11, 21), *range(23, 31))
"""Shop A's live LINE customers: not the chat admin (22)."""


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"channel": "line"}, LINE_CUSTOMERS),
        ({"channel": "messenger"}, ids(20)),  # the person, by its merged identity's channel
        ({"channel": ["messenger", "whatsapp"]}, ids(9, 20)),
        ({"channel": "telegram"}, ids(10)),
        ({"channel": "instagram"}, set()),
        ({"channel": "messenger", "q": "wongsawat"}, ids(20)),
        ({"channel": ["line", "telegram"], "q": "person"}, ids(10)),
        ({"channel": "line", "q": "087"}, ids(20)),
        ({"channel": "line", "tag": "VIP"}, ids(1, 2)),
        ({"channel": "messenger", "tag": ["Keeper", "TombTag"], "tag_mode": "all"}, ids(20)),
        ({"channel": "line", "updated_to": "2026-10-10", "q": "edge"}, ids(23)),
    ],
)
async def test_channels_of_persons(
    service: Service, params: dict[str, Any], expected: set[str]
) -> None:
    assert await service.found(**params) == expected


async def test_summary_counts_a_person_on_each_of_its_channels(service: Service) -> None:
    summary = await service.get("/api/v1/report/summary", q="wongsawat")
    assert summary["customers"] == 8
    assert {c["channel"]: c["customers"] for c in summary["channels"]} == {
        "line": 8,
        "messenger": 1,
    }


# --- tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"tag": "VIP"}, ids(1, 2)),  # not the chat admin's
        ({"tag": "COD"}, ids(1, 3)),
        ({"tag": ["VIP", "COD"]}, ids(1, 2, 3)),
        ({"tag": "VIP,COD"}, ids(1, 2, 3)),
        ({"tag": ["VIP", "COD"], "tag_mode": "any"}, ids(1, 2, 3)),
        ({"tag": ["VIP", "COD"], "tag_mode": "all"}, ids(1)),
        ({"tag": "COD", "tag_mode": "all"}, ids(1, 3)),
        ({"tag": "Nope"}, set()),
        ({"tag": ["Nope", "VIP"]}, ids(1, 2)),
        ({"tag": ["Nope", "VIP"], "tag_mode": "all"}, set()),
        ({"tag": "ส่งฟรี"}, ids(4)),
        ({"tag": ["Keeper", "TombTag"], "tag_mode": "all"}, ids(20)),
        ({"tag": "COD", "q": "สม"}, ids(1, 3)),
        ({"tag": "VIP", "q": "สม"}, ids(1)),
        ({"tag": ["VIP", "COD"], "tag_mode": "all", "q": "5678"}, ids(1)),
    ],
)
async def test_tags_any_or_all(
    service: Service, params: dict[str, Any], expected: set[str]
) -> None:
    assert await service.found(**params) == expected


async def test_summary_totals_of_a_search(service: Service) -> None:
    summary = await service.get("/api/v1/report/summary", q="สม")
    assert summary["customers"] == 2 and summary["paid_total"] == 5000
    summary = await service.get("/api/v1/report/summary", tag="VIP")
    assert summary["customers"] == 2 and summary["paid_total"] == 8000
    assert {t["tag"]: t["customers"] for t in summary["tags"]} == {"VIP": 2, "COD": 1}


# --- date ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"updated_to": "2026-10-10"}, {cid(23), *WONGSAWAT_IDS}),  # 23:59:59 is in
        ({"updated_from": "2026-10-10", "updated_to": "2026-10-10"}, ids(23)),
        ({"updated_from": "2026-10-11", "updated_to": "2026-10-11"}, ids(24)),  # 00:00 is in
        ({"updated_from": "2026-10-11", "updated_to": "2026-10-20"}, ids(24, 25)),
        ({"updated_to": "2026-10-20"}, {*ids(23, 24, 25), *WONGSAWAT_IDS}),
        ({"updated_from": "2026-10-21", "updated_to": "2026-10-21"}, ids(26)),
        ({"updated_from": "2026-10-12", "updated_to": "2026-10-19"}, set()),
        ({"updated_from": "2026-09-13", "updated_to": "2026-09-14"}, ids(13, 14)),
        (
            {"updated_from": "2026-09-14", "updated_to": "2026-10-10", "q": "wong"},
            ids(*range(14, 20)),
        ),
    ],
)
async def test_date_range_edges_in_the_shops_time_zone(
    service: Service, params: dict[str, Any], expected: set[str]
) -> None:
    assert await service.found(**params) == expected


async def test_date_range_of_a_shop_in_another_time_zone(service: Service) -> None:
    la = service.other
    assert await service.found(la, updated_to="2026-10-10") == {cid(103)}
    assert await service.found(la, updated_from="2026-10-11", updated_to="2026-10-11") == {cid(104)}


async def test_date_range_pages_in_the_default_order(service: Service) -> None:
    rows = await service.pages(2, updated_from="2026-09-01", updated_to="2026-10-21")
    assert {r["id"] for r in rows} == {*ids(23, 24, 25, 26), *WONGSAWAT_IDS}
    keys = [(r["paid_total"], r["id"]) for r in rows]
    assert keys == sorted(keys)


# --- sort and paging ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("paid_total", "asc"),
        ("paid_total", "desc"),
        ("name", "asc"),
        ("name", "desc"),
        ("updated_at", "desc"),
        ("order_count", "asc"),
        ("last_order_at", "asc"),
    ],
)
@pytest.mark.parametrize("limit", [1, 3])
async def test_search_results_page_in_the_requested_order(
    service: Service, sort: str, order: str, limit: int
) -> None:
    rows = await service.pages(limit, q="wongsawat", sort=sort, order=order)
    listed = [r["id"] for r in rows]
    assert len(listed) == len(set(listed)) and set(listed) == LIVE_WONGSAWAT
    # the customer key is the id here; nulls first in ascending order
    keys = [(r[sort] is not None, r[sort] or 0, r["id"]) for r in rows]
    assert keys == sorted(keys, reverse=order == "desc")


async def test_default_order_is_paid_total_then_key(service: Service) -> None:
    rows = await service.pages(50, q="wongsawat")
    assert [r["id"] for r in rows] == [cid(i) for i in (15, 20, 13, 14, 17, 18, 16, 19)]
    assert [r["paid_total"] for r in rows] == [0, 0, 10000, 10000, 30000, 30000, 70000, 90000]


# --- a shop of more customers than a page ---------------------------------------------------

BULK = range(120)
"""Customers 800 + i of the bulk shop: four updates a day in July 2026 (Bangkok), the last
at 23:59:59; each its own spend; all tagged Common, three also Rare; every fifth in Bangkok,
every sixth blocked."""
RARE = (7, 64, 118)  # updated on 2 July, 17 July, 30 July


def bulk_doc(i: int) -> dict[str, Any]:
    day = local(BANGKOK, 2026, 7, 1 + i // 4, 0, 0, 0)
    slot = [timedelta(0), timedelta(hours=8), timedelta(hours=16), timedelta(seconds=86399)]
    return {
        "name": f"Bulk Person {i}",
        "paid_total": (i * 37 % 120) * 100,
        "updated_at": day + slot[i % 4],
        "tags": ["Common", *(["Rare"] if i in RARE else [])],
        "postal_code": "10110" if i % 5 == 0 else None,  # Bangkok
        "status": "blocked" if i % 6 == 0 else "following",
    }


def bulk_ids(*numbers: int) -> set[str]:
    return {cid(800 + i) for i in numbers}


FOLLOWING = bulk_ids(*(i for i in BULK if i % 6))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bulk(service: Service) -> ShopFixture:
    """A shop of 120 customers: pages of 50 and rare matches among many."""
    return await service.own_shop({800 + i: bulk_doc(i) for i in BULK})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "bulk", "tag": "Rare"}, bulk_ids(*RARE)),
        ({"tag": ["Common", "Rare"], "tag_mode": "all"}, bulk_ids(*RARE)),
        ({"q": "bulk person", "tag": ["Rare", "Nope"]}, bulk_ids(*RARE)),
        ({"q": "bulk", "tag": ["Common", "Rare"], "tag_mode": "all"}, bulk_ids(*RARE)),
        ({"q": "bulk person 11"}, bulk_ids(11, *range(110, 120))),
        ({"q": "bulk", "province": "Bangkok", "status": "blocked"}, bulk_ids(0, 30, 60, 90)),
        ({"tag": "Common", "postal_code": "10*", "status": "blocked"}, bulk_ids(0, 30, 60, 90)),
        ({"q": "bulk", "tag": "Rare", "status": "following"}, bulk_ids(*RARE)),
        ({"q": "bulk", "tag": "Rare", "province": "Bangkok"}, set()),
        ({"updated_from": "2026-07-01", "updated_to": "2026-07-01"}, bulk_ids(0, 1, 2, 3)),
        ({"updated_from": "2026-07-02", "updated_to": "2026-07-02"}, bulk_ids(4, 5, 6, 7)),
        ({"updated_to": "2026-07-05"}, bulk_ids(*range(20))),
        ({"updated_from": "2026-07-30"}, bulk_ids(116, 117, 118, 119)),
        (
            {"updated_from": "2026-07-02", "updated_to": "2026-07-17", "tag": "Rare"},
            bulk_ids(7, 64),
        ),
        (
            {"updated_from": "2026-07-03", "updated_to": "2026-07-16", "q": "bulk", "tag": "Rare"},
            set(),
        ),
    ],
)
async def test_rare_matches_among_many(
    service: Service, bulk: ShopFixture, params: dict[str, Any], expected: set[str]
) -> None:
    assert await service.found(bulk, **params) == expected


@pytest.mark.parametrize(
    ("params", "field", "descending", "expected"),
    [
        ({"q": "bulk"}, "paid_total", False, bulk_ids(*BULK)),
        ({"q": "bulk", "sort": "name"}, "name", False, bulk_ids(*BULK)),
        ({"q": "bulk", "sort": "updated_at", "order": "desc"}, "updated_at", True, bulk_ids(*BULK)),
        ({"tag": "Common", "order": "desc"}, "paid_total", True, bulk_ids(*BULK)),
        (
            {"updated_from": "2026-07-01", "updated_to": "2026-07-20"},
            "paid_total",
            False,
            bulk_ids(*range(80)),
        ),
        ({"q": "bulk", "updated_to": "2026-07-10"}, "paid_total", False, bulk_ids(*range(40))),
        ({"q": "bulk", "province": "Bangkok"}, "paid_total", False, bulk_ids(*range(0, 120, 5))),
        ({"tag": "Common", "status": "blocked"}, "paid_total", False, bulk_ids(*range(0, 120, 6))),
        ({"q": "bulk", "sort": "name", "status": "following"}, "name", False, FOLLOWING),
    ],
)
async def test_many_matches_page_in_order(
    service: Service,
    bulk: ShopFixture,
    params: dict[str, Any],
    field: str,
    descending: bool,
    expected: set[str],
) -> None:
    for limit in (50, 7):
        rows = await service.pages(limit, bulk, **params)
        listed = [row["id"] for row in rows]
        assert len(listed) == len(set(listed)) and set(listed) == expected
        keys = [(row[field], row["id"]) for row in rows]
        assert keys == sorted(keys, reverse=descending)


# --- right after a change -------------------------------------------------------------------


async def test_an_edit_is_found_by_its_new_values_and_not_its_old_ones(service: Service) -> None:
    shop = await service.own_shop(
        {
            301: {
                "name": "Kanya Oldname",
                "phone": "0811111111",
                "email": "old.box@example.com",
                "tags": ["OldTag"],
            },
            302: {"name": "Kanya Bystander", "tags": ["Other"]},
        }
    )
    me = cid(301)
    assert await service.q("oldname", shop) == {me}
    assert await service.q("1111", shop) == {me}
    await service.edit(
        shop,
        me,
        name="Kanya Newname",
        phone="+66 82 222 2222",
        email="New.Box@Example.com",
        tags=["NewTag"],
    )
    for old in ("oldname", "kanya old", "0811111111", "1111", "old.box@example.com", "old.box"):
        assert await service.q(old, shop) == set(), old
    for new in ("newname", "kanya new", "0822222222", "+66822222222", "2222", "new.box"):
        assert await service.q(new, shop) == {me}, new
    assert await service.q("kanya", shop) == {me, cid(302)}
    assert await service.found(shop, tag="OldTag") == set()
    assert await service.found(shop, tag=["NewTag", "Other"], tag_mode="all") == set()
    assert await service.found(shop, tag=["NewTag", "Other"]) == {me, cid(302)}

    # a change of tags alone keeps the name, phone and e-mail found
    await service.edit(shop, me, tags=["NewTag", "Other"])
    assert await service.found(shop, tag=["NewTag", "Other"], tag_mode="all") == {me}
    for new in ("newname", "0822222222", "new.box@example.com"):
        assert await service.q(new, shop) == {me}, new

    # and a second edit forgets the first edit's values
    await service.edit(shop, me, name="Kanya Third", phone=None, email=None)
    for old in ("newname", "0822222222", "2222", "new.box"):
        assert await service.q(old, shop) == set(), old
    assert await service.q("kanya third", shop) == {me}


async def order(
    service: Service,
    shop: ShopFixture,
    order_id: str,
    who: tuple[str, str],
    amount: int,
    **extra: Any,
) -> None:
    """Record an order of the customer of chat identity `who` (paid unless `extra` says)."""
    body = {
        "order_id": order_id,
        "customer": {"channel": who[0], "platform_user_id": who[1]},
        "amount": amount,
        "status": "paid",
        "paid_at": "2026-11-20T10:15:00+07:00",
        **extra,
    }
    await service.call("POST", "/api/v1/orders", shop, json=body)


async def in_order(service: Service, shop: ShopFixture, **params: Any) -> list[str]:
    """The ids of the first page, in the order listed."""
    body = await service.get("/api/v1/customers", shop, **params)
    return [row["id"] for row in body["items"]]


async def test_a_merge_and_an_unmerge_are_found_at_once(service: Service) -> None:
    telegram = ("telegram", "7000402")
    shop = await service.own_shop(
        {
            401: {"name": "Anong Keeper", "tags": ["ATag"]},
            402: {
                "name": "Boonmee Tomb",
                "phone": "0833333333",
                "email": "boonmee@example.com",
                "tags": ["BTag"],
                "channel": telegram[0],
                "platform_user_id": telegram[1],
            },
            403: {"name": "Anong Other"},
        }
    )
    a, b, other = cid(401), cid(402), cid(403)
    for order_id, who, amount in (
        ("A-1", ("line", line_id(401)), 1000),
        ("B-1", telegram, 5000),
        ("C-1", ("line", line_id(403)), 3000),
    ):
        await order(service, shop, order_id, who, amount)
    assert await service.q("tomb", shop) == {b}
    assert await service.q("7000402", shop) == {b}
    assert await in_order(service, shop, q="anong") == [a, other]

    await service.call("POST", f"/api/v1/customers/{a}/merge", shop, json={"others": [b]})
    assert await service.q("tomb", shop) <= {a}  # never the tombstone
    assert await service.q("7000402", shop) == {a}  # the merged identity's id
    assert await service.q(line_id(401), shop) == {a}
    assert await service.q("0833333333", shop) == {a}  # the phone it took from b
    assert await service.q("boonmee@example.com", shop) == {a}
    assert await service.q("anong", shop) == {a, other}
    assert await in_order(service, shop, q="anong") == [other, a]  # a's spend is b's too
    assert await service.found(shop, tag=["ATag", "BTag"], tag_mode="all") == {a}
    assert await service.found(shop, channel="telegram") == {a}
    assert await service.found(shop, channel="telegram", q="anong") == {a}
    assert await service.found(shop) == {a, other}
    assert await in_order(service, shop, tag=["ATag", "BTag"], tag_mode="any") == [a]
    # an edit of the person keeps what its merged identity brought
    await service.edit(shop, a, tags=["ATag", "BTag", "Both"])
    assert await service.q("7000402", shop) == {a}
    assert await service.q("0833333333", shop) == {a}
    assert await service.found(shop, channel="telegram", tag="Both") == {a}

    identity = {"channel": telegram[0], "platform_user_id": telegram[1]}
    await service.call("POST", f"/api/v1/customers/{a}/unmerge", shop, json={"identity": identity})
    assert await service.q("7000402", shop) == {b}
    assert await service.q("tomb", shop) == {b}
    assert await service.q("anong", shop) == {a, other}
    assert await in_order(service, shop, q="anong") == [a, other]
    assert b in await service.found(shop, tag="BTag")
    assert await service.found(shop, channel="telegram") == {b}
    assert await service.found(shop, channel="line") == {a, other}
    assert await service.found(shop) == {a, b, other}


async def test_a_paid_order_moves_the_customer_in_paid_total_order(service: Service) -> None:
    numbers = (501, 502, 503)
    shop = await service.own_shop(
        {
            i: {
                "name": f"Mover {i}",
                "channel": "telegram",
                "platform_user_id": f"70{i}",
                "tags": ["Moving"],
            }
            for i in numbers
        }
    )
    for n, i in enumerate(numbers, start=1):
        await order(service, shop, f"M-{i}", ("telegram", f"70{i}"), 1000 * n)

    async def listed(**params: Any) -> list[str]:
        by_q = await in_order(service, shop, q="mover", **params)
        assert await in_order(service, shop, tag="Moving", **params) == by_q
        return by_q

    assert await listed() == [cid(501), cid(502), cid(503)]
    await order(service, shop, "M-more", ("telegram", "70501"), 2500)
    assert await listed() == [cid(502), cid(503), cid(501)]
    assert await listed(order="desc") == [cid(501), cid(503), cid(502)]
    assert await listed(limit="1", order="desc") == [cid(501)]
    # an order placed moves nothing until it is paid
    await order(
        service, shop, "M-later", ("telegram", "70502"), 5000, status="placed", paid_at=None
    )
    assert await listed() == [cid(502), cid(503), cid(501)]
    await service.call("PATCH", "/api/v1/orders/M-later", shop, json={"status": "paid"})
    assert await listed() == [cid(503), cid(501), cid(502)]
    summary = await service.get("/api/v1/report/summary", shop, q="mover")
    assert summary["paid_total"] == 1000 + 2000 + 3000 + 2500 + 5000
    summary = await service.get("/api/v1/report/summary", shop, tag="Moving")
    assert summary["paid_total"] == 1000 + 2000 + 3000 + 2500 + 5000


async def test_concurrent_edits_each_found_by_their_own_new_values(service: Service) -> None:
    numbers = range(1001, 1009)
    shop = await service.own_shop({i: {"name": f"Concurrent {i} Before"} for i in numbers})

    async def rename(i: int) -> None:
        await service.edit(shop, cid(i), name=f"Concurrent {i} After", tags=[f"after {i}"])
        assert await service.q(f"concurrent {i} after", shop) == {cid(i)}
        assert await service.q(f"concurrent {i} before", shop) == set()

    await asyncio.gather(*(rename(i) for i in numbers))
    assert await service.q("concurrent", shop) == {cid(i) for i in numbers}
    assert await service.q("concurrent 1001 b", shop) == set()


async def test_of_concurrent_edits_of_one_version_only_the_winners_values_find(
    service: Service,
) -> None:
    shop = await service.own_shop({1051: {"name": "Race Start", "phone": "0866666666"}})

    async def attempt(n: int) -> int:
        body = {"name": f"Race Entrant{n}", "phone": f"08666666{n:02d}", "version": 1}
        resp = await service.client.patch(
            f"/api/v1/customers/{cid(1051)}", json=body, headers=shop.auth()
        )
        return resp.status

    statuses = await asyncio.gather(*(attempt(n) for n in range(6)))
    assert sorted(statuses) == [200] + [409] * 5
    winner = statuses.index(200)
    for n in range(6):
        expected = {cid(1051)} if n == winner else set()
        assert await service.q(f"entrant{n}", shop) == expected, n
        assert await service.q(f"08666666{n:02d}", shop) == expected, n
    assert await service.q("race start", shop) == set()
    assert await service.q("0866666666", shop) == set()
    assert await service.q("race", shop) == {cid(1051)}


async def test_pages_of_a_search_stay_whole_while_customers_change(service: Service) -> None:
    numbers = range(701, 709)
    shop = await service.own_shop(
        {i: {"name": f"Paging Tester {i}", "paid_total": 100 * (i % 3)} for i in numbers}
    )
    expected = [cid(i) for i in sorted(numbers, key=lambda i: (i % 3, i))]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        body = await service.get("/api/v1/customers", shop, q="paging", limit="3", **extra)
        assert body["total"] == len(expected)
        seen += [row["id"] for row in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        # between pages, one customer already listed and one not yet are edited
        later = next(c for c in reversed(expected) if c not in seen)
        for customer_id in (seen[0], later):
            await service.edit(shop, customer_id, tags=[f"seen {len(seen)}"])
    assert seen == expected


async def test_chat_profiles_are_found_as_the_platform_renames_them(service: Service) -> None:
    shop = await make_shop(service.store, "Chat shop")
    customers = service.store.for_shop(shop.id).customers
    at = datetime(2026, 11, 5, tzinfo=UTC)

    def profile(name: str) -> dict[str, Any]:
        return {"name": name, "profile_name": name}

    line, telegram = ("line", "Uchat701"), ("telegram", "7000701")
    contacts = [Contact(*line, "ch_1", at), Contact(*telegram, "ch_2", at)]
    written, errors = await customers.record_contacts(  # as the inbox worker does
        contacts,
        await customers.by_identities([line, telegram]),
        set_fields={
            line: profile("Chanida Old"),
            telegram: {**profile("Tg Chat"), "phone": IfNull("0855555555")},
        },
    )
    assert errors == {}
    by_line, by_telegram = written[line]["_id"], written[telegram]["_id"]
    assert await service.q("chanida old", shop) == {by_line}
    assert await service.q("Uchat701", shop) == {by_line}
    assert await service.q("0855555555", shop) == {by_telegram}
    assert await service.q("5555", shop) == {by_telegram}
    assert await service.q("7000701", shop) == {by_telegram}

    # the seller names the customer; the platform then renames its chat profile
    await service.edit(shop, by_line, name="Seller Typed")
    later = at + timedelta(minutes=1)
    await customers.upsert_contact(
        *line, channel_id="ch_1", at=later, set_fields=profile("Chanida New")
    )
    assert await service.q("seller typed", shop) == {by_line}
    assert await service.q("chanida old", shop) == set()
    assert await service.q("chanida new", shop) == {by_line}  # its chat profile name
    # and again, through a batch
    await customers.record_contacts(
        [Contact(*line, "ch_1", later + timedelta(minutes=1))],
        await customers.by_identities([line]),
        set_fields={line: profile("Chanida Third")},
    )
    assert await service.q("chanida new", shop) == set()
    assert await service.q("chanida third", shop) == {by_line}
    assert await service.q("seller", shop) == {by_line}
    assert await service.q("uchat701", shop) == {by_line}  # ids compare casefolded too


async def test_an_import_is_found_at_once_and_a_reimport_by_new_values(service: Service) -> None:
    shop = await make_shop(service.store, "Import shop")

    async def run(csv: str) -> None:
        resp = await service.client.post(
            "/api/v1/imports?kind=customers",
            data=csv.encode(),
            headers={**shop.auth(), "Content-Type": "text/csv"},
        )
        assert resp.status == 200, await resp.text()

    header = "channel,platform_user_id,name,phone,email,tags\n"
    await run(header + "line,Uimport1,มาลี ศรีสุข,081-555-0001,Malee@Example.com,VIP\n")
    assert len(found := await service.q("มาลี", shop)) == 1
    for q in ("ศรี", "0815550001", "0001", "malee", "malee@example.com", "Uimport1"):
        assert await service.q(q, shop) == found, q
    await run(header + "line,Uimport1,มาลี ใหม่,081-555-0002,new.malee@example.com,COD\n")
    for q in ("มาลี ใหม่", "0815550002", "new.malee"):
        assert await service.q(q, shop) == found, q
    assert await service.found(shop, tag=["VIP", "COD"], tag_mode="all") == found  # tags added
    for q in ("ศรี", "0815550001", "malee@example.com"):
        assert await service.q(q, shop) == set(), q


async def test_a_chat_admin_link_hides_and_its_removal_shows_again(service: Service) -> None:
    shop = await service.own_shop({601: {"name": "Pim Admin", "phone": "0844444444"}})
    customers = service.store.for_shop(shop.id).customers
    assert await service.q("pim", shop) == {cid(601)}
    assert await customers.set_chat_admin(("line", line_id(601)), True) == 1
    assert await service.q("pim", shop) == set()
    assert await service.q("0844444444", shop) == set()
    assert await customers.set_chat_admin(("line", line_id(601)), False) == 1
    assert await service.q("pim", shop) == {cid(601)}


@pytest.mark.parametrize("q", ["\x1ftag\x1fVIP", "\x1fchannel\x1fline", "VIP\x00"])
async def test_a_q_with_control_characters_is_refused_naming_q(service: Service, q: str) -> None:
    """Tags and channels are stored as search terms behind a control character: a `q` that
    spells one is refused, so it can never reach them."""
    resp = await service.client.get(
        "/api/v1/customers", params={"q": q}, headers=service.shop.auth()
    )
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "q"


async def test_a_q_spelling_a_tag_finds_no_one_by_the_tag(service: Service) -> None:
    assert await service.found(q="tag:VIP") == set()
