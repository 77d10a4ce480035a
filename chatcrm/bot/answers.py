"""The answer step of each bot command: the shop's data as plain chat text (no sending here).

Every answer reads through the shop's store, so it sees only the shop of the channel the
command came through, and the report's rules (chat admins' own customer records left out).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chatcrm.bot.admins import admin_actor, link_chat_admin, unlink_chat_admin
from chatcrm.bot.texts import local_day, money, plain, say
from chatcrm.config import Settings
from chatcrm.domain import CustomerFilters, Shop, Sort
from chatcrm.provinces import find_province
from chatcrm.report_query import MAX_Q_CHARS
from chatcrm.segments import segment_filters
from chatcrm.store import ShopStore
from chatcrm.store.base import Doc
from chatcrm.store.inbox import now_ms
from connectors.base import ChatText
from connectors.registry import channel_label
from reports.exports import EXPORT_ROW_LIMIT
from reports.rows import effective_province
from reports.writers import FORMATS

MATCHES_SHOWN = 5
TOP_DEFAULT, TOP_MAX = 10, 20
SEGMENTS_SHOWN = 5
"""Segment names an unknown name's answer lists."""
LINK_TRIES = 5
"""Wrong link codes an identity may send in LINK_WINDOW_MS before it is refused."""
LINK_WINDOW_MS = 3_600_000
PERIODS = {
    "today": ("today", 1),
    "วันนี้": ("today", 1),
    "7d": ("7d", 7),
    "7วัน": ("7d", 7),
    "7": ("7d", 7),
    "30d": ("30d", 30),
    "30วัน": ("30d", 30),
    "30": ("30d", 30),
}


@dataclass(frozen=True)
class Ask:
    """One command to answer: who asked, through which channel of which shop, with what."""

    shop: Shop
    store: ShopStore
    who: ChatText
    admin: Doc | None
    channel_id: str
    args: str
    settings: Settings
    sends_documents: bool

    def say(self, key: str, **values: Any) -> str:
        """A text in the shop's language."""
        return say(self.shop.locale, key, **values)

    @property
    def actor(self) -> str:
        """How the audit trail names the asker."""
        if self.admin is not None:
            return admin_actor(self.admin)
        return f"chat-user:{self.who.customer_channel}:{self.who.user_id}"[:200]


@dataclass(frozen=True)
class Answer:
    """What to say back; `rows` customers' data it reveals (for the audit trail)."""

    text: str
    outcome: str = "answered"
    rows: int = 0
    document: str | None = None
    """An export format: the file is sent as a document with `text` as its caption."""


def _channel(ask: Ask, channel: Any) -> str:
    label = channel_label(str(channel), ask.shop.locale[:2])
    return label or plain(channel, 40)


def _province(ask: Ask, doc: Doc) -> str:
    name = effective_province(doc)
    if name is None:
        return ask.say("no_province")
    found = find_province(name) if ask.shop.locale.startswith("th") else None
    return found.name_th if found else name


def _customer_block(ask: Ask, number: int, doc: Doc) -> str:
    """One customer of a /customer answer: several lines, the dashboard link last."""
    tags = [plain(tag, 40) for tag in (doc.get("tags") or [])[:10]]
    details = ask.say(
        "customer.line",
        channel=", ".join(_channel(ask, c) for c in doc.get("channels") or [doc.get("channel")]),
        province=_province(ask, doc),
        tags=", ".join(tags) or ask.say("none"),
        paid=money(int(doc.get("paid_total") or 0), doc.get("currency") or ask.shop.currency),
        orders=int(doc.get("order_count") or 0),
        last=local_day(doc.get("last_order_at"), ask.shop.timezone) or ask.say("never"),
    )
    name = plain(doc.get("name") or ask.say("no_name"))
    block = f"{number}. {name}\n{details}"
    if ask.settings.public_url:
        block += f"\n{ask.settings.public_url}/#customer={doc['_id']}"
    return block


async def customer(ask: Ask) -> Answer:
    """Up to MATCHES_SHOWN customers found like the report's ``q``, biggest spenders first."""
    q = ask.args.strip()[:MAX_Q_CHARS]
    if not q:
        return Answer(ask.say("customer.usage"))
    filters = CustomerFilters(q=q)
    docs, _ = await ask.store.customers.search(
        filters, Sort("paid_total", ascending=False), limit=MATCHES_SHOWN + 1
    )
    if not docs:
        return Answer(ask.say("customer.none", q=plain(q, 50)))
    shown = docs[:MATCHES_SHOWN]
    blocks = [_customer_block(ask, i, doc) for i, doc in enumerate(shown, 1)]
    if len(docs) > MATCHES_SHOWN:
        total = await ask.store.customers.count_matching(filters)
        blocks.append(ask.say("customer.more", shown=len(shown), total=total))
    return Answer("\n\n".join(blocks), rows=len(shown))


async def _segment(ask: Ask, name: str) -> Doc | Answer:
    """The shop's segment called `name` (any case), else `_unknown_segment`'s answer."""
    doc = await ask.store.segments.named(name)
    return doc if doc is not None else await _unknown_segment(ask, name)


async def _unknown_segment(ask: Ask, name: str, usage: str = "") -> Answer:
    """No segment is called `name`: the segments there are (the first SEGMENTS_SHOWN by name),
    then `usage`; just `usage`, when given, in a shop without segments."""
    names = [f"“{plain(d['name'], 50)}”" for d in await ask.store.segments.list()]
    if not names:
        return Answer(usage or ask.say("segment.no_segments", name=plain(name, 50)))
    listed = ", ".join(names[:SEGMENTS_SHOWN])
    if len(names) > SEGMENTS_SHOWN:
        listed += ask.say("segment.more", n=len(names) - SEGMENTS_SHOWN)
    text = ask.say("segment.unknown", name=plain(name, 50), names=listed)
    return Answer(f"{text}\n{usage}" if usage else text)


def _segment_name(doc: Doc | None) -> str:
    return plain(doc["name"], 50) if doc is not None else ""


async def top(ask: Ask) -> Answer:
    """The n (at most TOP_MAX) biggest spenders by paid total, of a segment when one is named."""
    n, name = TOP_DEFAULT, ask.args.strip()
    words = name.split(maxsplit=1)
    if words and words[0].isdecimal():
        n = max(1, min(int(words[0]), TOP_MAX))
        name = words[1] if len(words) > 1 else ""
    filters, segment = CustomerFilters(), None
    if name:
        found = await _segment(ask, name)
        if isinstance(found, Answer):
            return found
        segment = found
        filters, _ = segment_filters(segment, ask.shop.timezone)
    docs, _ = await ask.store.customers.search(
        filters, Sort("paid_total", ascending=False), limit=n
    )
    of = "_of" if segment is not None else ""
    if not docs:
        return Answer(ask.say(f"top.none{of}", segment=_segment_name(segment)))
    lines = [ask.say(f"top.title{of}", n=len(docs), segment=_segment_name(segment))]
    for i, doc in enumerate(docs, 1):
        lines.append(
            ask.say(
                "top.line",
                i=i,
                name=plain(doc.get("name") or ask.say("no_name")),
                paid=money(int(doc.get("paid_total") or 0), doc.get("currency") or "THB"),
                orders=int(doc.get("order_count") or 0),
                channel=", ".join(
                    _channel(ask, c) for c in doc.get("channels") or [doc.get("channel")]
                ),
            )
        )
    return Answer("\n".join(lines), rows=len(docs))


def period_start(days: int, now: datetime, timezone: str) -> datetime:
    """The shop-local midnight starting a period of `days` days that ends now (today counts)."""
    local = now.astimezone(ZoneInfo(timezone))
    first = local.date() - timedelta(days=days - 1)
    return datetime.combine(first, datetime.min.time(), tzinfo=ZoneInfo(timezone))


def split_period(args: str) -> tuple[tuple[str, int] | None, str]:
    """A /report's period (None when the arguments start with none) and the rest: a segment
    name. ``7d``, ``7 d``, ``7 วัน``; a Thai period may run into the name (``วันนี้VIP``)."""
    words = args.split()
    if not words:
        return PERIODS["today"], ""
    for k in (2, 1):
        chosen = PERIODS.get("".join(words[:k]).lower())
        if chosen is not None:
            return chosen, " ".join(words[k:])
    for key, chosen in PERIODS.items():
        if not key.isascii() and words[0].startswith(key):
            return chosen, " ".join([words[0][len(key) :], *words[1:]])
    return None, " ".join(words)


async def _report_segment(ask: Ask, known_period: bool, name: str) -> Doc | Answer | None:
    """The segment a /report names (None for none); an answer when the name is unknown.

    Without a known period the whole text is taken as a segment's name; when it is not one,
    the usage answers (after the shop's segments, when it has any).
    """
    if not name:
        return None if known_period else Answer(ask.say("report.usage"))
    doc = await ask.store.segments.named(name)
    if doc is not None:
        return doc
    return await _unknown_segment(ask, name, "" if known_period else ask.say("report.usage"))


async def report(ask: Ask) -> Answer:
    """New customers, customers who wrote, paid orders in the period, per channel; of a
    segment's customers when one is named."""
    chosen, name = split_period(ask.args)
    segment = await _report_segment(ask, chosen is not None, name)
    if isinstance(segment, Answer):
        return segment
    period, days = chosen or PERIODS["today"]
    filters = segment_filters(segment, ask.shop.timezone)[0] if segment is not None else None
    now = datetime.now(ZoneInfo(ask.shop.timezone))
    start = period_start(days, now, ask.shop.timezone)
    counts = await ask.store.period.counts(start, now, ask.shop.currency, filters)
    currency = ask.shop.currency
    title = ask.say(
        "report.title",
        period=ask.say(f"report.{period}"),
        start=start.date().isoformat(),
        end=now.date().isoformat(),
        tz=ask.shop.timezone,
    )
    if segment is not None:
        title = ask.say("report.title_of", title=title.rstrip(":"), segment=_segment_name(segment))
    lines = [
        title,
        ask.say(
            "report.totals",
            new=sum(counts.new.values()),
            wrote=sum(counts.wrote.values()),
            orders=sum(counts.orders.values()),
            paid=money(sum(counts.paid.values()), currency),
        ),
    ]
    channels = counts.channels()
    if channels:
        lines.append(ask.say("report.by_channel"))
    for channel in channels:
        lines.append(
            ask.say(
                "report.channel",
                channel=_channel(ask, channel),
                new=counts.new[channel],
                wrote=counts.wrote[channel],
                orders=counts.orders[channel],
                paid=money(counts.paid[channel], currency),
            )
        )
    return Answer("\n".join(lines))


async def export(ask: Ask) -> Answer:
    """Every customer as XLSX or CSV: a document where the chat takes files, else a link."""
    fmt = ask.args.strip().lower().lstrip(".") or "xlsx"
    if fmt not in FORMATS:
        return Answer(ask.say("export.usage"))
    if not ask.sends_documents and not ask.settings.public_url:
        return Answer(ask.say("export.no_url"))
    count = await ask.store.customers.count_matching(CustomerFilters())
    if count > EXPORT_ROW_LIMIT:
        return Answer(ask.say("export.too_large", count=count, limit=EXPORT_ROW_LIMIT))
    if ask.sends_documents:
        caption = ask.say("export.caption", shop=plain(ask.shop.name), rows=count, fmt=fmt)
        return Answer(caption, document=fmt, rows=count)
    token = await ask.store.export_links.create(fmt, ask.actor)
    url = f"{ask.settings.public_url}/api/v1/exports/{token}"
    return Answer(ask.say("export.link", fmt=fmt.upper(), url=url))


def _role(ask: Ask, role: str) -> str:
    return ask.say(f"role.{role}")


async def link(ask: Ask) -> Answer:
    """Redeem a link code: the chat identity becomes a chat admin of the shop.

    After LINK_TRIES wrong codes within an hour the identity is refused (told once) until
    the oldest of them is an hour old.
    """
    since = now_ms() - LINK_WINDOW_MS
    tries = await ask.store.bot_commands.outcomes(ask.who.identity, since)
    if tries.get("link_failed", 0) >= LINK_TRIES:
        told = tries.get("link_locked", 0) > 0
        return Answer("" if told else ask.say("link.locked"), outcome="link_locked")
    role = await ask.store.link_codes.redeem(ask.args, ask.who.identity)
    if role is None:
        return Answer(ask.say("link.invalid"), outcome="link_failed")
    await link_chat_admin(ask.store, ask.who, ask.channel_id, role)
    return Answer(
        ask.say("linked", shop=plain(ask.shop.name), role=_role(ask, role)), outcome="linked"
    )


async def unlink(ask: Ask) -> Answer:
    """The asking chat admin stops being one."""
    if ask.admin is not None:
        await unlink_chat_admin(ask.store, ask.admin["_id"], ask.actor)
    return Answer(ask.say("unlinked", shop=plain(ask.shop.name)))


async def unknown(ask: Ask) -> Answer:
    """Anything an admin writes that is not a command."""
    return Answer(ask.say("unknown"))


def role_name(ask: Ask) -> str:
    """The asking admin's role in the shop's language."""
    return _role(ask, str((ask.admin or {}).get("role", "staff")))
