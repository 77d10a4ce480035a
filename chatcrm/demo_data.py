"""Deterministic, pure generator of realistic Thai chat-commerce demo data (no I/O)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from chatcrm.domain import whole_ms

__all__ = ["DEMO_PLATFORMS", "DemoData", "generate"]

DEMO_PLATFORMS = ("line", "telegram", "messenger")
"""Platforms the generator can create customers for, in output order of preference."""

_PLATFORM_WEIGHTS = {"line": 55, "telegram": 30, "messenger": 15}
_SPAN = timedelta(days=548)  # about 18 months
_ICT = timezone(timedelta(hours=7))

# ---------------------------------------------------------------------------
# Reference tables
# ---------------------------------------------------------------------------

# (canonical English province name, weight, real postal codes)
_PROVINCES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("Bangkok", 34, ("10110", "10120", "10230", "10240", "10310", "10330", "10400", "10900")),
    ("Nonthaburi", 8, ("11000", "11110", "11120", "11130")),
    ("Samut Prakan", 6, ("10270", "10130", "10540")),
    ("Pathum Thani", 5, ("12000", "12120", "12130")),
    ("Chiang Mai", 6, ("50000", "50200", "50230")),
    ("Khon Kaen", 4, ("40000", "40002")),
    ("Chon Buri", 5, ("20000", "20110", "20150")),
    ("Phuket", 3, ("83000", "83110", "83150")),
    ("Songkhla", 3, ("90000", "90110")),
    ("Nakhon Ratchasima", 4, ("30000", "30130")),
    ("Udon Thani", 2, ("41000", "41330")),
    ("Ubon Ratchathani", 2, ("34000", "34190")),
    ("Chiang Rai", 2, ("57000", "57100", "57130")),
    ("Rayong", 2, ("21000", "21110")),
    ("Surat Thani", 2, ("84000", "84320")),
    ("Nakhon Pathom", 2, ("73000", "73170")),
    ("Samut Sakhon", 2, ("74000", "74110")),
    ("Phra Nakhon Si Ayutthaya", 2, ("13000", "13160")),
    ("Phitsanulok", 1, ("65000",)),
    ("Nakhon Si Thammarat", 1, ("80000",)),
    ("Krabi", 1, ("81000", "81180")),
)
_PROVINCE_WEIGHTS = [p[1] for p in _PROVINCES]

_THAI_FIRST = (
    "สมชาย",
    "สมหญิง",
    "สุภาพร",
    "วิไลวรรณ",
    "ณัฐพล",
    "ธนากร",
    "พิมพ์ชนก",
    "กมลชนก",
    "ศิริพร",
    "อรทัย",
    "ปิยะนุช",
    "จิราพร",
    "ชัยวัฒน์",
    "อนุชา",
    "วรรณา",
    "นภัสสร",
    "ธีรวัฒน์",
    "สุดารัตน์",
    "กิตติศักดิ์",
    "ปวีณา",
    "รัตนา",
    "เกศินี",
    "พรทิพย์",
    "ศุภชัย",
    "มานพ",
    "อัญชลี",
    "ณัฐธิดา",
    "วราภรณ์",
)
_THAI_LAST = (
    "ใจดี",
    "สุขสวัสดิ์",
    "ศรีสุข",
    "วงศ์ใหญ่",
    "บุญมี",
    "แสงทอง",
    "ทองดี",
    "รักษ์ไทย",
    "พงษ์พานิช",
    "เจริญผล",
    "มั่นคง",
    "สายบุญ",
    "ชัยมงคล",
    "อินทร์แก้ว",
    "ศรีวงศ์",
    "กิตติวงศ์",
    "ธนสาร",
    "พรหมมา",
    "แซ่ตั้ง",
    "ศักดิ์ดี",
)
_THAI_NICK = (
    "ปุ๊ก",
    "มายด์",
    "ฝน",
    "แพร",
    "ต่าย",
    "เบียร์",
    "มิ้นท์",
    "ปอ",
    "แป้ง",
    "นก",
    "บีม",
    "จอย",
    "เจี๊ยบ",
    "ตาล",
    "อ้อม",
    "ก้อย",
    "หนิง",
    "ปลา",
    "ออย",
    "ตูน",
    "โบว์",
    "เฟิร์น",
    "กิ๊ฟ",
    "พลอย",
    "แนน",
    "ต้น",
    "แอ๊ด",
    "เอ๋",
)
_THAI_NICK_PREFIX = ("น้อง", "พี่", "คุณ", "แม่", "ป้า")
_LATIN_NICK = (
    "Nok",
    "Beam",
    "Ploy",
    "Mint",
    "Fon",
    "Pear",
    "Bow",
    "Fern",
    "Gift",
    "Nan",
    "Joy",
    "Aom",
    "Toon",
    "Ton",
    "Praew",
    "Mind",
    "Kwan",
    "Ice",
    "Benz",
    "Golf",
    "Bank",
    "Pim",
    "Jane",
    "May",
    "Tle",
    "Pond",
)
_LATIN_FIRST = (
    "Supachai",
    "Natthapong",
    "Pimchanok",
    "Kanokwan",
    "Thanakorn",
    "Siriporn",
    "Chatchai",
    "Wanida",
    "Apinya",
    "Somsak",
    "Kittipong",
    "Nattaya",
    "Jirapat",
    "Warunee",
)
_LATIN_LAST = (
    "Supachai",
    "Srisuk",
    "Boonmee",
    "Chaiyaporn",
    "Wongsawat",
    "Thongdee",
    "Saetang",
    "Jaidee",
    "Rattanakorn",
    "Kittisak",
    "Phromma",
    "Sukjai",
    "Charoenphon",
)
_NICK_PAIRS = (("Fon", "ฝน"), ("Ploy", "พลอย"), ("Beam", "บีม"), ("Mint", "มิ้นท์"), ("Nok", "นก"))
_SHOPLIKE = ("ร้านป้าแดง", "แม่ค้าออนไลน์", "ร้านเจ๊หมวย", "Ploy Shop", "ร้านน้องหมี")
_EMOJI = ("🌸", "💕", "✨", "🐰", "🌷", "😊", "💖", "🍀", "🐱", "🌈", "⭐", "🙏")
_FORMULA_NAMES = ('=HYPERLINK("http://x")', "+66 shop", "-ลด 50%-", "@ร้านแม่มณี")

_TAGS = ("VIP", "ลูกค้าประจำ", "wholesale", "ส่งฟรี", "new", "COD", "รอโอน")
_NOTES = (
    "ชอบสีชมพู ส่งไว",
    "ขอใบกำกับภาษีทุกครั้ง",
    "ส่งของช่วงเย็นเท่านั้น",
    "ไม่สะดวกรับสาย ทักแชทแทน",
    "แพ็คกันกระแทกเยอะๆ",
    "ซื้อเป็นของขวัญ ไม่ต้องใส่ราคา",
    "โทรก่อนส่ง",
    "ที่อยู่ที่ทำงาน ส่ง จ-ศ",
    "เคยตีกลับ 1 ครั้ง",
    "ไซส์ L ประจำ",
)
_EMAIL_DOMAINS = ("gmail.com", "hotmail.com", "yahoo.com", "icloud.com", "outlook.co.th")
_EMAIL_DOMAIN_WEIGHTS = (70, 15, 5, 5, 5)

# (product name, unit prices in THB, variants or ())
_PRODUCTS: tuple[tuple[str, tuple[int, ...], tuple[str, ...]], ...] = (
    ("เสื้อยืดคอกลม", (199, 259), ("สีขาว ไซส์ M", "สีดำ ไซส์ L", "สีชมพู ไซส์ S")),
    ("เสื้อโอเวอร์ไซส์", (290, 350), ("สีครีม", "สีดำ")),
    ("กางเกงยีนส์ขายาว", (590, 790), ("เอว 28", "เอว 30", "เอว 32")),
    ("กระโปรงพลีท", (350,), ("สีกรม", "สีเบจ")),
    ("ชุดเดรสลายดอก", (490, 690), ("ไซส์ M", "ไซส์ L")),
    ("กระเป๋าผ้า", (159, 199), ()),
    ("กระเป๋าสะพายหนังแท้", (1290, 1590), ()),
    ("รองเท้าผ้าใบ", (990, 1290), ("เบอร์ 38", "เบอร์ 40", "เบอร์ 42")),
    ("ครีมกันแดด SPF50", (390,), ()),
    ("เซรั่มวิตามินซี", (590,), ()),
    ("ลิปทินท์", (159,), ("เบอร์ 01", "เบอร์ 05")),
    ("สบู่สมุนไพร", (99,), ()),
    ("น้ำหอมกลิ่นดอกไม้", (1590,), ()),
    ("หมวกบักเก็ต", (199,), ()),
    ("เคสมือถือ", (129, 199), ("iPhone 15", "Galaxy A55")),
    ("หูฟังบลูทูธ", (890,), ()),
    ("นาฬิกาข้อมือ", (2490,), ()),
    ("สร้อยคอเงินแท้", (1890,), ()),
    ("ชุดผ้าปูที่นอน 6 ฟุต", (4990,), ()),
    ("ทุเรียนทอดกรอบ", (150,), ()),
    ("กาแฟดริปคั่วกลาง", (320,), ()),
    ("ชาไทยผง", (180,), ()),
    ("หม้อทอดไร้น้ำมัน", (2990,), ()),
    ("แก้วเก็บความเย็น", (450,), ()),
)

_ORDER_STATUSES = ("paid", "placed", "refunded", "cancelled")
_ORDER_STATUS_WEIGHTS = (75, 12, 5, 8)
_ORDER_COUNTS = tuple(range(1, 13))
_ORDER_COUNT_WEIGHTS = (30, 20, 14, 10, 7, 5, 4, 3, 2, 2, 1.5, 1.5)

_IN_OPEN = (
    "สวัสดีค่ะ",
    "สนใจตัวนี้ค่ะ ราคาเท่าไหร่คะ",
    "มีสีอื่นไหมคะ",
    "ไซส์ M ยังมีไหมครับ",
    "ตัวนี้เหลือไหมคะ",
    "ส่ง kerry ได้ไหม",
    "เก็บเงินปลายทางได้ไหมคะ",
    "ส่งฟรีไหมครับ",
    "ขอดูรูปจริงหน่อยค่ะ",
    "มีโปรไหมคะ 555",
    "ถ้าเอา 3 ชิ้นลดได้ไหมคะ",
    "สอบถามค่ะ",
    "ตัวนี้ผ้าอะไรคะ",
    "พรุ่งนี้ได้ของไหมครับ",
    "ยังมีของไหมครับ",
)
_OUT_OPEN = (
    "สวัสดีค่ะ ยินดีต้อนรับค่ะ 😊",
    "ตัวนี้ราคา {price} บาทค่ะ",
    "มีค่ะ มีสีดำ ขาว ชมพูค่ะ",
    "ส่ง kerry ได้ค่ะ ค่าส่ง 40 บาทค่ะ",
    "ซื้อครบ 500 บาท ส่งฟรีค่ะ",
    "ได้ค่ะ เก็บเงินปลายทาง +20 บาทนะคะ",
    "ของมีพร้อมส่งค่ะ",
    "เดี๋ยวส่งรูปจริงให้นะคะ",
    "ขออภัยค่ะ สีนี้หมดชั่วคราวค่ะ",
)
# purchase-phase lines, in the order a sale usually goes (picked by chat progress)
_IN_BUY = (
    "CF ค่ะ",
    "เอาตัวนี้ 2 ตัวค่ะ",
    "สั่งค่ะ ไซส์ L สีดำ",
    "ขอเลขบัญชีหน่อยค่ะ",
    "ที่อยู่ตามนี้เลยค่ะ",
    "โอนแล้วนะคะ",
    "โอนแล้วครับ ส่งสลิปให้นะ",
    "ok ครับ",
    "เลขพัสดุอะไรคะ",
    "ได้รับของแล้วค่ะ ขอบคุณมากๆ 💕",
    "ของสวยมากค่ะ จะมาอุดหนุนอีกนะคะ",
)
_OUT_BUY = (
    "รบกวนแจ้งชื่อ ที่อยู่ เบอร์โทรด้วยนะคะ",
    "ยอดรวม {price} บาทค่ะ โอนเข้ากสิกรได้เลยค่ะ",
    "ได้รับยอดโอนแล้วค่ะ ขอบคุณค่ะ 🙏",
    "ขอบคุณค่ะ 🙏 จัดส่งพรุ่งนี้นะคะ",
    "แพ็คของเรียบร้อยค่ะ 📦",
    "เลขพัสดุ {track} ค่ะ",
)
_PLACES = (
    "เซ็นทรัลเวิลด์",
    "ตลาดนัดจตุจักร",
    "สยามพารากอน",
    "เซ็นทรัลเฟสติวัล เชียงใหม่",
    "ตลาดน้ำดำเนินสะดวก",
    "บ้าน",
)
_IN_TYPES, _IN_TYPE_WEIGHTS = ("text", "sticker", "image", "location"), (82, 9, 7, 2)
_OUT_TYPES, _OUT_TYPE_WEIGHTS = ("text", "sticker", "image"), (90, 4, 6)

# hour of day (Asia/Bangkok) weights: chat shopping peaks in the evening
_HOUR_WEIGHTS = (2, 1, 0.5, 0.3, 0.3, 0.5, 1, 2, 3, 4, 5, 5, 6, 5, 5, 5, 5, 5, 6, 7, 8, 8, 6, 4)
_HOURS = tuple(range(24))

_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass
class DemoData:
    """Generated documents, each list ready for pymongo ``insert_many``."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _hex_id(prefix: str, *parts: str) -> str:
    digest = hashlib.sha1("/".join(parts).encode(), usedforsecurity=False).hexdigest()
    return prefix + digest[:20]


def _between(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    """A datetime in [lo, hi], whole seconds after lo."""
    span = int((hi - lo).total_seconds())
    return lo + timedelta(seconds=rng.randint(0, span)) if span > 0 else lo


def _thai_daytime(rng: random.Random, dt: datetime) -> datetime:
    """Same Bangkok calendar day as ``dt`` at a plausible chatting hour, in UTC."""
    local = dt.astimezone(_ICT).replace(
        hour=rng.choices(_HOURS, _HOUR_WEIGHTS)[0],
        minute=rng.randrange(60),
        second=rng.randrange(60),
        microsecond=0,
    )
    return local.astimezone(UTC)


def _plausible(rng: random.Random, dt: datetime, lo: datetime, hi: datetime) -> datetime:
    """``dt`` moved to a Bangkok chatting hour of its day, unless that leaves [lo, hi]."""
    moved = _thai_daytime(rng, dt)
    return moved if lo <= moved <= hi else dt


def _unique(rng: random.Random, used: set[str], make: Callable[[random.Random], str]) -> str:
    value = make(rng)
    while value in used:
        value = make(rng)
    used.add(value)
    return value


def _line_user_id(rng: random.Random) -> str:
    return f"U{rng.getrandbits(128):032x}"


def _telegram_user_id(rng: random.Random) -> str:
    # older accounts have 9-digit ids, newer ones 10 digits
    if rng.random() < 0.35:
        return str(rng.randint(100_000_000, 999_999_999))
    return str(rng.randint(1_000_000_000, 7_999_999_999))


def _psid(rng: random.Random) -> str:
    return str(rng.randint(2_000_000_000_000_000, 9_999_999_999_999_999))


_USER_ID_MAKERS = {"line": _line_user_id, "telegram": _telegram_user_id, "messenger": _psid}


def _line_message_id(rng: random.Random) -> str:
    return str(rng.randint(10**17, 10**18 - 1))


def _messenger_mid(rng: random.Random) -> str:
    return "m_" + "".join(rng.choices(_B64URL, k=43))


def _name(rng: random.Random, platform: str) -> tuple[str, str]:
    """A display name and a romanised handle usable for an e-mail/username."""
    first = rng.choice(_LATIN_NICK) if rng.random() < 0.6 else rng.choice(_LATIN_FIRST)
    last = rng.choice(_LATIN_LAST)
    handle = f"{first.lower()}{rng.choice(('', '.', '_'))}{last[: rng.randint(2, 5)].lower()}"
    if platform == "telegram":
        kinds, weights = ("latin_full", "latin_nick", "thai_full", "thai_nick"), (40, 30, 15, 15)
    else:
        kinds = (
            "thai_full",
            "thai_nick_prefix",
            "thai_nick",
            "latin_nick",
            "latin_full",
            "pair",
            "shop",
        )
        weights = (32, 22, 12, 10, 14, 6, 4)
    kind = rng.choices(kinds, weights)[0]
    if kind == "thai_full":
        name = f"{rng.choice(_THAI_FIRST)} {rng.choice(_THAI_LAST)}"
    elif kind == "thai_nick_prefix":
        name = rng.choice(_THAI_NICK_PREFIX) + rng.choice(_THAI_NICK)
    elif kind == "thai_nick":
        name = rng.choice(_THAI_NICK)
    elif kind == "latin_nick":
        name = first
    elif kind == "latin_full":
        name = f"{first} {last}" if rng.random() < 0.8 else f"{first} {last[0]}."
    elif kind == "pair":
        latin, thai = rng.choice(_NICK_PAIRS)
        name, handle = f"{latin} {thai}", f"{latin.lower()}{rng.randint(1, 99)}"
    else:
        name = rng.choice(_SHOPLIKE)
    if platform == "telegram" and kind.startswith("latin") and rng.random() < 0.4:
        name = f"{name} (@{handle.replace('.', '_')})"
    elif rng.random() < 0.12:
        name = f"{name} {rng.choice(_EMOJI)}"
    return name, handle


def _phone(rng: random.Random) -> str:
    return f"0{rng.choice('689')}{rng.randrange(100_000_000):08d}"


def _picture_url(rng: random.Random, platform: str, user_id: str) -> str:
    if platform == "line":
        token = "".join(rng.choices(_B64URL, k=40))
        return f"https://profile.line-scdn.net/0h{token}"
    if platform == "telegram":
        return f"https://t.me/i/userpic/320/{''.join(rng.choices(_B64URL, k=32))}.jpg"
    return f"https://platform-lookaside.fbsbx.com/platform/profilepic/?psid={user_id}&height=200"


def _items(rng: random.Random, wholesale: bool) -> list[dict[str, Any]]:
    lines = rng.choices((1, 2, 3, 4), (55, 28, 12, 5))[0]
    out = []
    for name, prices, variants in rng.sample(_PRODUCTS, lines):
        if variants and rng.random() < 0.7:
            name = f"{name} {rng.choice(variants)}"
        if wholesale:
            quantity = rng.randint(6, 30)
        else:
            quantity = rng.choices((1, 2, 3, 4, 5), (70, 18, 7, 3, 2))[0]
        out.append({"name": name, "quantity": quantity, "unit_price": rng.choice(prices) * 100})
    return out


def _message_times(rng: random.Random, n: int, first: datetime, last: datetime) -> list[datetime]:
    """``n`` ordered times: a burst after ``first`` and one before ``last`` (both included)."""
    if n == 1:
        return [last]
    middle = n - 2
    head = (middle + 1) // 2
    times = [first]
    cursor = first
    for _ in range(head):
        cursor += timedelta(seconds=rng.randint(20, 900))
        times.append(min(cursor, last))
    cursor = last
    for _ in range(middle - head):
        cursor -= timedelta(seconds=rng.randint(20, 900))
        times.append(max(cursor, first))
    times.append(last)
    times.sort()
    return times


def _message_text(
    rng: random.Random, direction: str, kind: str, progress: float | None
) -> str | None:
    """Text of one message; ``progress`` in [0, 1) through the purchase, None if browsing."""
    if kind in ("sticker", "image"):
        return None
    if kind == "location":
        return rng.choice(_PLACES)
    if progress is None:
        template = rng.choice(_IN_OPEN if direction == "in" else _OUT_OPEN)
    else:
        pool = _IN_BUY if direction == "in" else _OUT_BUY
        template = pool[min(len(pool) - 1, int(progress * len(pool)) + rng.randint(0, 1))]
    if "{" in template:
        template = template.format(
            price=rng.choice((199, 259, 390, 590, 690, 990, 1290)),
            track=f"EF{rng.randrange(1_000_000_000):09d}TH",
        )
    return template


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def generate(
    shop_id: str,
    channels: dict[str, str],
    *,
    customers: int = 5000,
    now: datetime,
    seed: int = 20261123,
) -> DemoData:
    """Generate deterministic demo customers, orders and messages for one shop.

    ``channels`` maps a platform ("line", "telegram", "messenger") to the id of the
    shop's channel on it; customers are only created for the platforms given.  The
    same arguments always produce identical documents.  Every datetime is
    timezone-aware UTC, whole milliseconds, and not later than ``now``.
    Raises ValueError on an unknown platform, no channels, a negative count or a
    naive ``now``.
    """
    platforms = _platforms(channels, customers, now)
    shop = _DemoShop(shop_id, channels, platforms, now, customers, random.Random(seed))
    for index in range(customers):
        shop.add_customer(index)
    return shop.finish()


def _platforms(channels: dict[str, str], customers: int, now: datetime) -> list[str]:
    """The platforms to create customers for, after checking `generate`'s arguments."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if customers < 0:
        raise ValueError("customers must be >= 0")
    unknown = sorted(set(channels) - set(DEMO_PLATFORMS))
    if unknown:
        raise ValueError(f"unknown platform(s): {', '.join(unknown)}")
    platforms = [p for p in DEMO_PLATFORMS if p in channels]
    if not platforms:
        raise ValueError("channels must name at least one platform")
    return platforms


def _order_totals(orders: list[dict[str, Any]]) -> dict[str, Any]:
    """A customer's spend aggregates from its orders, as the order path computes them."""
    paid = [o for o in orders if o["status"] == "paid"]
    live = [o["created_at"] for o in orders if o["status"] != "cancelled"]
    return {
        "paid_total": sum(o["amount"] for o in paid),
        "order_count": len(paid),
        "unpaid_total": sum(o["amount"] for o in orders if o["status"] == "placed"),
        "refunded_total": sum(o["amount"] for o in orders if o["status"] == "refunded"),
        "last_order_at": max(live) if live else None,
    }


class _DemoShop:
    """One `generate` run: its random stream, its clock, the ids handed out, the documents.

    Every draw from the stream happens in a fixed order, so a seed gives the same shop.
    """

    def __init__(
        self,
        shop_id: str,
        channels: dict[str, str],
        platforms: list[str],
        now: datetime,
        customers: int,
        rng: random.Random,
    ) -> None:
        self.shop_id = shop_id
        self.channels = channels
        self.platforms = platforms
        self.platform_weights = [_PLATFORM_WEIGHTS[p] for p in platforms]
        self.now = whole_ms(now.astimezone(UTC))  # MongoDB keeps ms
        self.earliest = self.now - _SPAN
        self.span_seconds = int(_SPAN.total_seconds())
        self.rng = rng
        self.used_user_ids: dict[str, set[str]] = {p: set() for p in platforms}
        self.used_msg_ids: dict[str, set[str]] = {p: set() for p in platforms}
        # a few spreadsheet-formula-looking names, to exercise export neutralisation
        formula_slots = rng.sample(range(customers), min(len(_FORMULA_NAMES), customers))
        self.formula_at = dict(zip(formula_slots, _FORMULA_NAMES, strict=False))
        self.out = DemoData()

    def add_customer(self, index: int) -> None:
        """The `index`-th customer, with its orders and messages."""
        rng = self.rng
        platform = rng.choices(self.platforms, self.platform_weights)[0]
        user_id = _unique(rng, self.used_user_ids[platform], _USER_ID_MAKERS[platform])
        customer_id = _hex_id("cus_", self.shop_id, platform, user_id)
        name, handle = _name(rng, platform)
        first_seen, last_contact, has_orders = self._timeline()
        wholesale = has_orders and rng.random() < 0.03
        orders: list[dict[str, Any]] = []
        if has_orders:
            orders = self._orders(customer_id, platform, first_seen, last_contact, wholesale)
        self.out.orders.extend(orders)
        profile_fetched_at, picture_url = self._profile(platform, user_id, first_seen, last_contact)
        contact = self._contact_details(handle)
        status = rng.choices(("following", "unfollowed", "blocked"), (88, 8, 4))[0]
        totals = _order_totals(orders)
        tags = self._tags(totals, wholesale, first_seen)
        notes = rng.choice(_NOTES) if rng.random() < 0.1 else ""
        updated_at = max(
            [last_contact, *(o["updated_at"] for o in orders)]
            + ([profile_fetched_at] if profile_fetched_at else [])
        )
        self.out.customers.append(
            {
                "_id": customer_id,
                "shop_id": self.shop_id,
                "channel": platform,
                "channel_id": self.channels[platform],
                "platform_user_id": user_id,
                "name": self.formula_at.get(index, name),
                "picture_url": picture_url,
                **contact,
                "tags": tags,
                "notes": notes,
                "status": status,
                "first_seen_at": first_seen,
                "last_contact_at": last_contact,
                "updated_at": updated_at,
                "currency": "THB",
                **totals,
                "profile_fetched_at": profile_fetched_at,
                "version": 1,
            }
        )
        self._add_messages(customer_id, platform, user_id, has_orders, first_seen, last_contact)

    def _timeline(self) -> tuple[datetime, datetime, bool]:
        """First seen, last contact, and whether the customer orders."""
        rng = self.rng
        # whole-second offsets from ``now`` keep every value at millisecond precision
        age = int(self.span_seconds * rng.random() ** 1.8)  # more recent more likely
        first_seen = _plausible(rng, self.now - timedelta(seconds=age), self.earliest, self.now)
        has_orders = rng.random() < 0.70
        if has_orders or rng.random() < 0.4:
            gap = int((self.now - first_seen).total_seconds() * rng.random() ** 0.5)
            last_contact = _plausible(
                rng, first_seen + timedelta(seconds=gap), first_seen, self.now
            )
        else:  # a one-off enquiry
            last_contact = min(first_seen + timedelta(seconds=rng.randint(60, 3 * 86400)), self.now)
        return first_seen, last_contact, has_orders

    def _orders(
        self,
        customer_id: str,
        platform: str,
        first_seen: datetime,
        last_contact: datetime,
        wholesale: bool,
    ) -> list[dict[str, Any]]:
        """A customer's orders, placed between its first and last contact (not numbered yet)."""
        count = self.rng.choices(_ORDER_COUNTS, _ORDER_COUNT_WEIGHTS)[0]
        created = sorted(_between(self.rng, first_seen, last_contact) for _ in range(count))
        return [self._order(customer_id, platform, at, wholesale) for at in created]

    def _order(
        self, customer_id: str, platform: str, created_at: datetime, wholesale: bool
    ) -> dict[str, Any]:
        items = _items(self.rng, wholesale)
        status = self.rng.choices(_ORDER_STATUSES, _ORDER_STATUS_WEIGHTS)[0]
        paid_at, updated_at = self._order_times(status, created_at)
        return {
            "_id": None,
            "shop_id": self.shop_id,
            "order_id": None,
            "customer_id": customer_id,
            "channel": platform,
            "currency": "THB",
            "amount": sum(i["quantity"] * i["unit_price"] for i in items),
            "items": items,
            "status": status,
            "created_at": created_at,
            "paid_at": paid_at,
            "updated_at": updated_at,
            "source": "demo",
        }

    def _order_times(self, status: str, created_at: datetime) -> tuple[datetime | None, datetime]:
        """When an order of `status` was paid (None if never) and last changed."""
        rng, now = self.rng, self.now
        paid_at = None
        if status in ("paid", "refunded"):
            paid_at = min(created_at + timedelta(seconds=rng.randint(120, 36 * 3600)), now)
        if status == "refunded":
            assert paid_at is not None
            updated_at = min(paid_at + timedelta(seconds=rng.randint(3600, 10 * 86400)), now)
        elif status == "cancelled":
            updated_at = min(created_at + timedelta(seconds=rng.randint(600, 3 * 86400)), now)
        else:
            updated_at = paid_at or created_at
        return paid_at, updated_at

    def _profile(
        self, platform: str, user_id: str, first_seen: datetime, last_contact: datetime
    ) -> tuple[datetime | None, str | None]:
        """When the platform profile was fetched (None if never) and its picture."""
        fetch_chance = {"line": 0.85, "telegram": 0.4, "messenger": 0.7}[platform]
        profile_fetched_at = None
        picture_url = None
        if self.rng.random() < fetch_chance:
            profile_fetched_at = _between(self.rng, first_seen, last_contact)
            if self.rng.random() < 0.85:
                picture_url = _picture_url(self.rng, platform, user_id)
        return profile_fetched_at, picture_url

    def _contact_details(self, handle: str) -> dict[str, str | None]:
        """Phone, e-mail, province and postal code, each often unknown."""
        rng = self.rng
        phone = _phone(rng) if rng.random() < 0.45 else None
        email = None
        if rng.random() < 0.25:
            suffix = str(rng.randint(1, 2005)) if rng.random() < 0.6 else ""
            domain = rng.choices(_EMAIL_DOMAINS, _EMAIL_DOMAIN_WEIGHTS)[0]
            email = f"{handle}{suffix}@{domain}"
        roll = rng.random()
        province = postal_code = None
        if roll < 0.90:
            province, _, codes = rng.choices(_PROVINCES, _PROVINCE_WEIGHTS)[0]
            postal_code = rng.choice(codes)
            if roll >= 0.75:  # postal code only: province derived later
                province = None
        return {"phone": phone, "email": email, "province": province, "postal_code": postal_code}

    def _tags(self, totals: dict[str, Any], wholesale: bool, first_seen: datetime) -> list[str]:
        """At most three tags, as a seller would set them from the customer's spend."""
        rng = self.rng
        tags: list[str] = []
        if totals["paid_total"] >= 10_000 * 100 and rng.random() < 0.8:
            tags.append("VIP")
        if totals["order_count"] >= 4:
            tags.append("ลูกค้าประจำ")
        if wholesale:
            tags.append("wholesale")
        if totals["unpaid_total"] and rng.random() < 0.6:
            tags.append("รอโอน")
        if self.now - first_seen < timedelta(days=30) and rng.random() < 0.5:
            tags.append("new")
        for extra in ("ส่งฟรี", "COD"):
            if rng.random() < 0.08:
                tags.append(extra)
        return tags[:3]

    def _add_messages(
        self,
        customer_id: str,
        platform: str,
        user_id: str,
        has_orders: bool,
        first_seen: datetime,
        last_contact: datetime,
    ) -> None:
        """A short chat: a burst after the first contact and one before the last."""
        rng = self.rng
        n_messages = rng.randint(2, 8)
        times = _message_times(rng, n_messages, first_seen, last_contact)
        tg_counter = rng.randint(1, 5000)
        direction = "in"
        for position, sent_at in enumerate(times):
            if position and rng.random() < 0.75:
                direction = "out" if direction == "in" else "in"
            if direction == "in":
                kind = rng.choices(_IN_TYPES, _IN_TYPE_WEIGHTS)[0]
            else:
                kind = rng.choices(_OUT_TYPES, _OUT_TYPE_WEIGHTS)[0]
            buy_start = n_messages // 2
            progress = None
            if has_orders and position >= buy_start:
                progress = (position - buy_start) / (n_messages - buy_start)
            text = _message_text(rng, direction, kind, progress)
            if platform == "line":
                msg_id = _unique(rng, self.used_msg_ids[platform], _line_message_id)
            elif platform == "telegram":  # message ids are per chat; chat id == user id
                tg_counter += rng.randint(1, 3)
                msg_id = f"{user_id}:{tg_counter}"
            else:
                msg_id = _unique(rng, self.used_msg_ids[platform], _messenger_mid)
            self.out.messages.append(
                {
                    "_id": _hex_id("msg_", self.shop_id, platform, msg_id),
                    "shop_id": self.shop_id,
                    "customer_id": customer_id,
                    "channel": platform,
                    "channel_id": self.channels[platform],
                    "direction": direction,
                    "type": kind,
                    "text": text,
                    "platform_message_id": msg_id,
                    "sent_at": sent_at,
                    "raw": None,
                }
            )

    def finish(self) -> DemoData:
        """The documents, orders numbered in creation order like a shop's running number."""
        orders = self.out.orders
        orders.sort(key=lambda o: o["created_at"])
        for number, order in enumerate(orders, start=1):
            order["order_id"] = f"DEMO-{number:06d}"
            order["_id"] = _hex_id("ord_", self.shop_id, order["order_id"])
        return self.out
