"""The report's term path: `q`, `tag` and a merged shop's `channel` as equalities on the search
terms (`chatcrm.store.terms`), for `ShopCustomers.search` and `count_matching`.

A filter becomes *groups* of terms, each met when the person has any term of the group: a `q`
one group of its `q_term`; tags with ``tag_mode=any`` one group of their tag terms, with
``all`` a group per tag; channels of a shop with merges one group. What remains (province,
postal code, dates, status, ids, a shop's channel without merges) is a filter on the customers
(`ShopCustomers.report_filter`).

Pages and totals start from the *driver*, the group with the fewest rows (counts are index-only
``COUNT``s on ``by_term``). Its rows come in ``paid_total, _key`` order (several terms: their
streams merged); the other groups are checked by ``_id`` lookups of ``"<person>|<term>"`` (one
``$in`` per batch, nx-27017's primary key), the remaining filters on the customers read by
``_id`` ``$in``, and every customer is checked again against its own terms (`terms.finds`): a
stale row never shows a wrong customer.
"""

from __future__ import annotations

import heapq
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chatcrm.domain import CustomerFilters, Sort
from chatcrm.input_rules import q_term
from chatcrm.store.base import Doc, unpack_cursor
from chatcrm.store.customer_query import (
    _order_value,
    after_cursor,
    combine,
    encode_cursor,
    report_fields,
    snapshot_row,
    sort_key,
    sort_spec,
)
from chatcrm.store.terms import TERMS, channel_term, finds_all, row_term, tag_term

if TYPE_CHECKING:
    from chatcrm.store.customers import ShopCustomers

SORT_IN_SERVICE = 1000
"""Most matches read and sorted in the service for a sort other than ``paid_total``; above it,
the customers' own sort index is walked and each checked by lookups."""
BATCH = 200
"""Rows (or customers) checked per step of a page."""
COUNT_BATCH = 1000
"""Persons checked per step of a total."""


@dataclass(frozen=True)
class TermPlan:
    """A filter as groups of terms (each: any of them) and the filters left for customers."""

    groups: tuple[tuple[str, ...], ...]
    rest: CustomerFilters


def term_plan(filters: CustomerFilters, merged: bool) -> TermPlan | None:
    """The term form of `filters` (None: nothing a term serves). `merged`: the shop has merges,
    whose channel filter (any identity's channel) is a term too when nothing but terms filters
    (with a province, dates and the like, the scalar index of those leads, as before)."""
    groups: list[tuple[str, ...]] = []
    rest = _split(filters, False, groups)
    if merged and _trivial(_split(rest, True, [])):
        groups = []
        rest = _split(filters, True, groups)
    return TermPlan(tuple(dict.fromkeys(groups)), rest) if groups else None


def _split(
    filters: CustomerFilters, channels_too: bool, groups: list[tuple[str, ...]]
) -> CustomerFilters:
    """`filters` without what `groups` now holds (q, tags, and with `channels_too` the
    channels)."""
    within = _split(filters.within, channels_too, groups) if filters.within else None
    if filters.q:
        groups.append((q_term(filters.q),))
    tags = tuple(tag_term(t) for t in filters.tags)
    if tags and filters.tag_mode == "all":
        groups.extend((t,) for t in tags)
    elif tags:
        groups.append(tags)
    channels = filters.channels
    if channels_too and channels:
        groups.append(tuple(channel_term(c) for c in channels))
        channels = ()
    return replace(filters, q=None, tags=(), tag_mode="any", channels=channels, within=within)


def _trivial(filters: CustomerFilters | None) -> bool:
    """Whether `filters` restricts nothing (every searchable person matches)."""
    if filters is None:
        return True
    own = (filters.channels, filters.provinces, filters.postal_code, filters.updated_from)
    more = (filters.updated_before, filters.statuses, filters.ids)
    return not any((*own, *more)) and _trivial(filters.within)


class TermSearch:
    """`ShopCustomers.search` and `count_matching` of one `TermPlan`."""

    sort_in_service = SORT_IN_SERVICE

    def __init__(self, customers: ShopCustomers, plan: TermPlan) -> None:
        self.customers = customers
        self.plan = plan
        self.terms = customers.coll.database[TERMS]
        self._rest: Doc | None = None
        self._counts: dict[str, int] = {}
        self._long = any(row_term(t) != t for group in plan.groups for t in group)
        """A `q` longer than its row (`MAX_START`): its candidates are checked whole."""

    async def rest(self) -> Doc:
        """The customers' filter of what the terms do not serve."""
        if self._rest is None:
            self._rest = await self.customers.report_filter(self.plan.rest)
        return self._rest

    def _term(self, term: str) -> Doc:
        return self.customers.where({"term": {"$eq": row_term(term)}})

    async def count_term(self, term: str) -> int:
        """Rows of `term`: the ``count`` command, one index-only SQL ``COUNT`` over ``by_term``
        on nx-27017 (a ``COUNT_SCAN`` on MongoDB). Not ``$match`` + ``$count``: nx-27017 starts
        every aggregation by counting the whole collection (``SELECT COUNT(1)``), which for
        millions of rows costs more than the count asked for."""
        if term not in self._counts:
            found = await self.terms.database.command("count", TERMS, query=self._term(term))
            self._counts[term] = int(found["n"])
        return self._counts[term]

    async def _ordered_groups(self) -> list[tuple[int, tuple[str, ...]]]:
        """(rows, group), the rarest group first (a group's rows: the sum of its terms')."""
        sized = [(sum([await self.count_term(t) for t in g]), g) for g in self.plan.groups]
        return sorted(sized, key=lambda pair: pair[0])

    async def count(self) -> int:
        """How many persons match: one index ``COUNT`` for a single term and nothing else;
        else the driver's persons checked in batches (`_matching`: a cost that grows with the
        rarest group's rows)."""
        groups = await self._ordered_groups()
        size, driver = groups[0]
        if len(groups) == 1 and len(driver) == 1 and _trivial(self.plan.rest) and not self._long:
            return size
        return sum([1 async for _ in self._matching(groups)])

    async def all_ids(self) -> list[str]:
        """Every matching person's id, in no useful order (exports)."""
        return [pid async for pid in self._matching(await self._ordered_groups())]

    async def _matching(self, groups: list[tuple[int, tuple[str, ...]]]) -> AsyncIterator[str]:
        """The ids of the matching persons: the driver's (the rarest group's) persons, checked
        `COUNT_BATCH` at a time against the other groups and the remaining filters."""
        size, driver = groups[0]
        if size == 0:
            return
        others = [g for _, g in groups[1:]]
        seen: set[str] = set()
        batch: list[str] = []
        async for row in self._merged(driver, Sort("paid_total", True), None):
            if row["person"] not in seen:
                seen.add(row["person"])
                batch.append(row["person"])
            if len(batch) >= COUNT_BATCH:
                for pid in await self._check(batch, others, count=True):
                    yield pid
                batch = []
        for pid in await self._check(batch, others, count=True):
            yield pid

    async def _check(
        self, persons: list[str], others: list[tuple[str, ...]], *, count: bool = False
    ) -> dict[str, Doc]:
        """The customers of `persons` that have a term of every group of `others` (``_id``
        lookups), match the remaining filters and, read now, still have the terms of every
        group (`finds_all`). `count`: only whether they match is needed (``{_id}`` each), and
        when nothing else is filtered no customer is read."""
        for group in others:
            persons = await self._having(persons, group)
        rest = dict(await self.rest())
        chosen = rest.pop("_id", None)  # selected ids (exports): kept here, not a second $in
        if chosen is not None:
            allowed = set(chosen["$in"])
            persons = [p for p in persons if p in allowed]
        if not persons:
            return {}
        whole = not count or self._long  # customers read whole, their terms checked
        if not whole and _trivial(self.plan.rest):
            return {p: {"_id": p} for p in persons}
        docs = await self._by_ids(combine(rest, {"_id": {"$in": persons}}), whole)
        if not whole:
            return {d["_id"]: d for d in docs}
        return {d["_id"]: d for d in docs if finds_all(d, self.plan.groups)}

    async def _by_ids(self, query: Doc, whole: bool = True) -> list[Doc]:
        """The shop's customers of `query` (an ``_id`` ``$in`` and the remaining filters).

        The shop is checked here, not in the filter: with ``shop_id`` in it SQLite walks the
        shop's index and tests every customer of the shop (450 ms at 200,000), without it
        the ``_id`` column leads (2 ms for 50). The ids come from this shop's rows anyway.
        """
        fields = {**report_fields(), "shop_id": 1} if whole else {"_id": 1, "shop_id": 1}
        docs = await self.customers.coll.find(query, fields).to_list(None)
        return [d for d in docs if d.get("shop_id") == self.customers.shop_id]

    async def _having(self, persons: list[str], group: tuple[str, ...]) -> list[str]:
        """`persons` that have a row of a term of `group`: one ``_id`` ``$in`` lookup."""
        if not persons:
            return []
        ids = [f"{p}|{row_term(t)}" for p in persons for t in group]
        found = self.terms.find({"_id": {"$in": ids}}, {"person": 1})
        having = {r["person"] async for r in found}
        return [p for p in persons if p in having]

    async def queries(self, sort: Sort) -> list[tuple[str, str, Doc, Any, Any]]:
        """(what, collection, filter, sort, pipeline or "count") of the queries a first page
        and its total run, for a benchmark's query plans."""
        groups = await self._ordered_groups()
        driver = groups[0][1][0]
        rest = combine(await self.rest(), {"_id": {"$in": ["a", "b"]}})  # see `_by_ids`
        out: list[tuple[str, str, Doc, Any, Any]] = [
            (f"rows of {driver!r} in page order", TERMS, self._term(driver), sort_spec(sort), None),
            ("its count: the count command", TERMS, self._term(driver), None, "count"),
        ]
        if len(groups) > 1 or len(groups[0][1]) > 1:
            lookups = {"_id": {"$in": ["a|b", "c|d"]}}
            out.append(("other terms, by _id", TERMS, lookups, None, None))
        out.append(("customers of a batch", "customers", rest, None, None))
        return out

    async def page(
        self, sort: Sort, limit: int, cursor: str | None
    ) -> tuple[list[Doc], str | None]:
        """One page in `sort` order and the cursor of the next (`ShopCustomers.search`)."""
        if sort.field == "paid_total" and len(self.plan.groups) == 1:  # no count needed
            groups = [(0, self.plan.groups[0])]
            return await self._page_by_rows(groups, sort, limit, cursor)
        groups = await self._ordered_groups()
        if sort.field == "paid_total":
            return await self._page_by_rows(groups, sort, limit, cursor)
        if groups[0][0] <= self.sort_in_service:
            return await self._page_in_service(groups, sort, limit, cursor)
        return await self._page_by_customers(sort, limit, cursor)

    async def _page_by_rows(
        self,
        groups: list[tuple[int, tuple[str, ...]]],
        sort: Sort,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Doc], str | None]:
        """The driver's rows in page order, checked a batch at a time until the page is full;
        the cursor is the last row's place (its copies of ``paid_total`` and ``_key``)."""
        others = [g for _, g in groups[1:]]
        page: list[tuple[Doc, Doc]] = []
        seen: set[str] = set()
        batch: list[Doc] = []

        async def take(rows: list[Doc]) -> None:
            docs = await self._check([r["person"] for r in rows], others)
            page.extend((r, docs[r["person"]]) for r in rows if r["person"] in docs)

        async for row in self._merged(groups[0][1], sort, cursor, first=limit + 1):
            if row["person"] in seen:
                continue
            seen.add(row["person"])
            batch.append(row)
            if len(batch) >= min(BATCH, limit + 1 - len(page)):
                await take(batch)
                batch = []
                if len(page) > limit:
                    break
        if batch and len(page) <= limit:
            await take(batch)
        following = encode_cursor(sort, page[limit - 1][0]) if len(page) > limit else None
        return [doc for _, doc in page[:limit]], following

    async def _page_in_service(
        self,
        groups: list[tuple[int, tuple[str, ...]]],
        sort: Sort,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[Doc], str | None]:
        """Every match read (the driver has at most `SORT_IN_SERVICE` rows), sorted here."""
        persons = []
        async for row in self._merged(groups[0][1], Sort("paid_total", True), None):
            persons.append(row["person"])
        persons = list(dict.fromkeys(persons))
        docs: dict[str, Doc] = {}
        for at in range(0, len(persons), COUNT_BATCH):
            docs.update(
                await self._check(persons[at : at + COUNT_BATCH], [g for _, g in groups[1:]])
            )
        field = sort_key(sort.field)
        rows = sorted((snapshot_row(d, field) for d in docs.values()), reverse=not sort.ascending)
        if cursor:
            rows = [r for r in rows if _after(r, sort, cursor)]
        chosen = [docs[r[-1]] for r in rows[: limit + 1]]
        following = encode_cursor(sort, chosen[limit - 1]) if len(chosen) > limit else None
        return chosen[:limit], following

    async def _page_by_customers(
        self, sort: Sort, limit: int, cursor: str | None
    ) -> tuple[list[Doc], str | None]:
        """The customers' own sort index walked (the remaining filters applied by it), each
        batch checked for every group by ``_id`` lookups: for many matches in another order."""
        base = await self.customers.report_filter(self.plan.rest, sorted_page=True)
        page: list[Doc] = []
        batch = BATCH
        while len(page) <= limit:
            ranges = after_cursor(sort, cursor) if cursor else [{}]
            read: list[Doc] = []
            for extra in ranges:
                want = batch - len(read)
                if want <= 0:
                    break
                found = self.customers.coll.find(
                    self.customers.where(combine(base, extra)), report_fields()
                )
                read += await found.sort(sort_spec(sort)).limit(want).to_list(None)
            if not read:
                break
            docs = await self._check_loaded(read)
            page += [d for d in read if d["_id"] in docs]
            if len(read) < batch:
                break
            cursor = encode_cursor(sort, read[-1])
            batch = min(batch * 2, 2000)
        following = encode_cursor(sort, page[limit - 1]) if len(page) > limit else None
        return page[:limit], following

    async def _check_loaded(self, docs: list[Doc]) -> set[str]:
        """Ids of customers read already that have a row of every group and still its terms."""
        persons = [d["_id"] for d in docs]
        for group in self.plan.groups:
            persons = await self._having(persons, group)
        by_id = {d["_id"]: d for d in docs}
        return {p for p in persons if finds_all(by_id[p], self.plan.groups)}

    async def _merged(
        self, terms: tuple[str, ...], sort: Sort, cursor: str | None, first: int = BATCH
    ) -> AsyncIterator[Doc]:
        """The rows of `terms` in `sort` order (``paid_total``), the streams of several terms
        merged (a person with two of them comes twice, next to each other)."""
        if len(terms) == 1:
            async for row in self._rows(terms[0], sort, cursor, first):
                yield row
            return
        streams = [self._rows(t, sort, cursor, first) for t in terms]
        heap: list[tuple[Any, int, Doc]] = []
        for i, stream in enumerate(streams):
            row = await anext(stream, None)
            if row is not None:
                heap.append((_row_key(row, sort), i, row))
        heapq.heapify(heap)
        while heap:
            _, i, row = heapq.heappop(heap)
            yield row
            following = await anext(streams[i], None)
            if following is not None:
                heapq.heappush(heap, (_row_key(following, sort), i, following))

    async def _rows(
        self, term: str, sort: Sort, cursor: str | None, first: int = BATCH
    ) -> AsyncIterator[Doc]:
        """The rows of one term after `cursor` in `sort` order, read in growing batches (the
        first of `first` rows): each batch the keyset ranges of `after_cursor` on ``by_term``
        with the term fixed."""
        batch = first
        while True:
            ranges = after_cursor(sort, cursor) if cursor else [{}]
            got: list[Doc] = []
            for extra in ranges:
                want = batch - len(got)
                if want <= 0:
                    break
                found = self.terms.find(combine(self._term(term), extra))
                got += await found.sort(sort_spec(sort)).limit(want).to_list(None)
            for row in got:
                yield row
            if len(got) < batch:
                return
            cursor = encode_cursor(sort, got[-1])
            batch = min(batch * 2, 5000)


class _Desc:
    """A key that sorts in the reverse order of the one it wraps (descending merges)."""

    def __init__(self, key: Any) -> None:
        self.key = key

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.key < self.key)


def _row_key(row: Doc, sort: Sort) -> Any:
    key = (_order_value(row.get("paid_total")), row.get("_key") or "")
    return key if sort.ascending else _Desc(key)


def _after(row: tuple[Any, ...], sort: Sort, cursor: str) -> bool:
    """Whether a `snapshot_row` comes after `cursor` in `sort` order (the same places as the
    ranges of `after_cursor`, which also validates the cursor)."""
    after_cursor(sort, cursor)
    data = unpack_cursor(cursor)
    mark = (*_order_value(data["v"]), data["k"])
    here = row[:3]
    return here > mark if sort.ascending else here < mark
