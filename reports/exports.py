"""Customer exports: selected / filtered / all customers as XLSX or CSV, 20,000 rows per file.

An export that fits one file is read in one scan of an index whose keys never change (see
`ShopCustomers.scan_raw`); the rows are put in the requested order by the writer. More rows
(split exports) first take a snapshot of the matching ids in sort order, then fetch the current
documents in batches by id and write them in snapshot order. Either way every customer appears
at most once and none that matched when the scan reached it is skipped, even while customers
change. The files are written by a child process, so the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from chatcrm.domain import DomainError, Shop
from chatcrm.report_query import CustomerFilters, Sort, parse_filters, parse_sort
from chatcrm.segments import resolve_segment
from reports.columns import ExportLayout
from reports.writers import FORMATS, ProcessSheet

if TYPE_CHECKING:
    from chatcrm.store import ShopStore
    from chatcrm.store.customers import ShopCustomers

log = logging.getLogger(__name__)

EXPORT_ROW_LIMIT = 20_000
"""Most rows in one export file (the reference product's limit)."""
FETCH_BATCH = 1_000
"""Customers read from the database and handed to the writer at a time."""
READ_AHEAD = 2
"""Batches the scan may read ahead of the writer."""
PROGRESS_EVERY = 5_000
MODES = ("selected", "filtered", "all")
BODY_NAMES = ("mode", "format", "filters", "ids", "sort", "order", "split")
ZIP_TYPE = "application/zip"

T = TypeVar("T")

Progress = Callable[[int, int], None]
"""Called with (rows written so far, rows expected) after each batch."""


class ExportTooLarge(DomainError):
    """More customers match than one file may hold, and no split was asked for."""

    def __init__(self, count: int, limit: int = EXPORT_ROW_LIMIT) -> None:
        super().__init__(
            f"{count} customers match; an export file holds at most {limit} rows "
            "(narrow the filters, or ask for split=true to get a ZIP of parts)",
            code="export_too_large",
        )
        self.count = count
        self.limit = limit


@dataclass(frozen=True)
class ExportLimits:
    """Rows per export file and customers read at a time; the service always uses the defaults.

    Tests pass small values (through `create_app`) to cover splitting and the 422 with a few
    dozen customers instead of 20,001.
    """

    rows: int = EXPORT_ROW_LIMIT
    batch: int = FETCH_BATCH


DEFAULT_LIMITS = ExportLimits()


@dataclass(frozen=True)
class ExportRequest:
    """A validated export request."""

    mode: str
    format: str
    filters: CustomerFilters
    sort: Sort
    split: bool = False
    described: dict[str, Any] = field(default_factory=dict)
    """The request's filters as given, for the audit trail."""
    default_sort: bool = False
    """Neither sort nor order was asked for: a saved segment's sort applies."""


@dataclass(frozen=True)
class ExportResult:
    """A finished export file (a ZIP of parts when split)."""

    path: Path
    filename: str
    content_type: str
    rows: int
    parts: int


def parse_export_request(body: Mapping[str, Any], timezone: str) -> ExportRequest:
    """Validate an export body; DomainError names the field of the first bad value.

    ``filters`` holds the report's query parameters (strings or lists of strings) and is used
    only by mode ``filtered``; ``ids`` only by mode ``selected``.
    """
    for name in body:
        if name not in BODY_NAMES:
            raise DomainError(f"unknown field {str(name)[:50]}", field=str(name)[:50])
    mode = _choice(body, "mode", MODES)
    fmt = _choice(body, "format", tuple(FORMATS))
    split = body.get("split", False)
    if not isinstance(split, bool):
        raise DomainError("split must be true or false", field="split")
    for name in ("sort", "order"):
        if not isinstance(body.get(name, ""), str):
            raise DomainError(f"{name} must be text", field=name)
    sort = parse_sort({"sort": body.get("sort"), "order": body.get("order")})
    raw_filters = body.get("filters")
    raw_ids = body.get("ids")
    if mode != "filtered" and raw_filters:
        raise DomainError("filters are used only with mode filtered", field="filters")
    if mode != "selected" and raw_ids:
        raise DomainError("ids are used only with mode selected", field="ids")
    described: dict[str, Any] = {}
    filters = CustomerFilters()
    if mode == "filtered":
        raw_filters = raw_filters or {}
        if not isinstance(raw_filters, dict):
            raise DomainError("filters must be an object", field="filters")
        try:
            filters = parse_filters(raw_filters, timezone)
        except DomainError as err:
            raise DomainError(str(err), field=f"filters.{err.field}") from None
        described = dict(raw_filters)
    elif mode == "selected":
        filters = CustomerFilters(ids=_ids(raw_ids))
        described = {"ids": len(filters.ids)}
    default_sort = body.get("sort") is None and body.get("order") is None
    return ExportRequest(mode, fmt, filters, sort, split, described, default_sort)


def _choice(body: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    """The body's `name`: one of `allowed`, as text (never a list or an object)."""
    value = body.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise DomainError(f"{name} must be one of {', '.join(allowed)}", field=name)
    return value


def _ids(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise DomainError("ids must be a non-empty list of customer ids", field="ids")
    if len(raw) > EXPORT_ROW_LIMIT:
        raise DomainError(f"at most {EXPORT_ROW_LIMIT} ids", field="ids")
    if not all(isinstance(i, str) and 0 < len(i) <= 100 for i in raw):
        raise DomainError("ids must be customer ids (text)", field="ids")
    return tuple(dict.fromkeys(raw))


def export_basename(shop: Shop, now: datetime | None = None) -> str:
    """File name without extension: the shop and the shop-local date."""
    layout = ExportLayout(shop.locale, shop.timezone, shop.currency)
    day = (now or datetime.now(layout.tz)).astimezone(layout.tz).date().isoformat()
    return f"customers-{shop.id}-{day}"


@asynccontextmanager
async def export_workdir() -> AsyncIterator[Path]:
    """A private temporary directory for an export's files, removed afterwards."""
    path = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="chatcrm-export-"))
    try:
        yield path
    finally:
        await asyncio.to_thread(shutil.rmtree, path, True)


class _Progress:
    """Rows written so far: told to the caller's `progress`, logged every PROGRESS_EVERY rows."""

    def __init__(self, shop_id: str, progress: Progress | None) -> None:
        self.shop_id = shop_id
        self.progress = progress
        self.total = 0
        """Rows expected (0 until known)."""
        self.done = 0
        """Rows of the files already finished."""
        self.logged = 0

    def __call__(self, rows: int) -> None:
        """`rows` of the file being written are written."""
        if self.progress is not None:
            self.progress(self.done + rows, self.total)
        if self.done + rows - self.logged >= PROGRESS_EVERY:
            self.logged = self.done + rows
            log.info("export for shop %s: %d rows written", self.shop_id, self.logged)


@dataclass(frozen=True)
class _FileNames:
    """Where an export's files go: ``<base>.<ext>``, or ``<base>-part<n>.<ext>`` when split."""

    workdir: Path
    base: str
    ext: str

    def file(self, number: int | None = None) -> Path:
        """The whole export's file, or part `number` of a split one."""
        suffix = f"-part{number}" if number is not None else ""
        return self.workdir / f"{self.base}{suffix}.{self.ext}"


async def export_customers(
    shop_store: ShopStore,
    shop: Shop,
    request: ExportRequest,
    *,
    actor: str,
    workdir: Path,
    progress: Progress | None = None,
    limits: ExportLimits = DEFAULT_LIMITS,
) -> ExportResult:
    """Write the export into `workdir` and record it in the audit trail.

    Raises ExportTooLarge when more than `limits.rows` customers match without `split`,
    NotFoundError when the filters name a segment the shop does not have.
    """
    started = time.monotonic()
    request = await _with_segment(shop_store, shop, request)
    layout = ExportLayout(shop.locale, shop.timezone, shop.currency)
    content_type, ext = FORMATS[request.format]
    report = _Progress(shop.id, progress)
    named = _FileNames(workdir, export_basename(shop), ext)
    paths = await _write_files(shop_store.customers, request, named, layout, report, limits)
    path = paths[0]
    if len(paths) > 1:
        path = workdir / f"{named.base}.zip"
        await asyncio.to_thread(_zip, paths, path, request.format)
        content_type = ZIP_TYPE
    result = ExportResult(path, path.name, content_type, report.done, len(paths))
    elapsed_ms = int((time.monotonic() - started) * 1000)
    await _record(shop_store, shop, request, actor, result, elapsed_ms)
    return result


async def _with_segment(shop_store: ShopStore, shop: Shop, request: ExportRequest) -> ExportRequest:
    """`request` with its saved segment applied (filters, and its sort unless one was asked)."""
    filters, segment_sort = await resolve_segment(shop_store, shop.timezone, request.filters)
    sort = segment_sort if segment_sort is not None and request.default_sort else request.sort
    return replace(request, filters=filters, sort=sort)


async def _write_files(
    customers: ShopCustomers,
    request: ExportRequest,
    named: _FileNames,
    layout: ExportLayout,
    report: _Progress,
    limits: ExportLimits,
) -> list[Path]:
    """The export's files: one when it fits; else the parts, or ExportTooLarge without split."""
    path = named.file()
    rows = await _write_scanned(customers, request, path, layout, report, limits)
    if rows is not None:
        report.done = report.total = rows
        report(0)
        return [path]
    if not request.split:
        count = await customers.count_matching(request.filters)
        raise ExportTooLarge(max(count, limits.rows + 1), limits.rows)
    return await _write_parts(customers, request, named, layout, report, limits)


async def _write_parts(
    customers: ShopCustomers,
    request: ExportRequest,
    named: _FileNames,
    layout: ExportLayout,
    report: _Progress,
    limits: ExportLimits,
) -> list[Path]:
    """A snapshot of the matching ids in order, then files of `limits.rows` rows each."""
    ids = await customers.export_ids(request.filters, request.sort, None)
    report.total = len(ids)
    starts = range(0, max(len(ids), 1), limits.rows)
    paths = []
    for number, start in enumerate(starts, 1):
        path = named.file() if len(starts) == 1 else named.file(number)
        chunk = ids[start : start + limits.rows]
        report.done += await _write_file(
            customers, request.format, path, layout, chunk, report, limits.batch
        )
        paths.append(path)
    return paths


async def _record(
    shop_store: ShopStore,
    shop: Shop,
    request: ExportRequest,
    actor: str,
    result: ExportResult,
    elapsed_ms: int,
) -> None:
    """The export in the audit trail and the log."""
    await shop_store.audit.record(
        actor,
        "customers.export",
        mode=request.mode,
        format=request.format,
        filters=request.described,
        sort=request.sort.field,
        order="asc" if request.sort.ascending else "desc",
        split=request.split,
        rows=result.rows,
        parts=result.parts,
        file=result.filename,
        duration_ms=elapsed_ms,
    )
    log.info(
        "export for shop %s by %s: %s %s, %d rows in %d file(s), %d ms",
        shop.id,
        actor,
        request.mode,
        request.format,
        result.rows,
        result.parts,
        elapsed_ms,
    )


async def _write_scanned(
    customers: ShopCustomers,
    request: ExportRequest,
    path: Path,
    layout: ExportLayout,
    report: Callable[[int], None],
    limits: ExportLimits = DEFAULT_LIMITS,
) -> int | None:
    """Write the export in one pass when it fits one file: the rows written, else None.

    The matching documents come from one scan (`ShopCustomers.scan_raw`) as undecoded BSON and
    go to a child process that renders each row as it arrives and puts them in the requested
    order on close. Each row shows a customer as it was when the scan read it, and the
    customer matched the filters then. The scan reads up to READ_AHEAD batches ahead while
    the child renders (at most READ_AHEAD + 2 batches in memory), so neither waits for the
    other's hand-over. More than `limits.rows` documents: the file is dropped and None
    returned.
    """
    sheet = await asyncio.to_thread(ProcessSheet, request.format, path, layout, request.sort)
    writing: asyncio.Future[int] | None = None
    read = 0
    keep = False
    scan = customers.scan_raw(request.filters, limits.rows + 1, limits.batch)
    try:
        async with contextlib.aclosing(read_ahead(scan, READ_AHEAD)) as pages:
            async for raws in pages:
                read += len(raws)
                if read > limits.rows:
                    return None
                if writing is not None:
                    report(await writing)
                writing = asyncio.ensure_future(asyncio.to_thread(sheet.add_raw, raws))
        if writing is not None:
            report(await writing)
            writing = None
        keep = True
    finally:
        if writing is not None:  # failed, cancelled or too many: let the thread finish first
            await asyncio.wait([writing])
        await asyncio.to_thread(sheet.close, keep=keep)
    return sheet.rows


async def _write_file(
    customers: ShopCustomers,
    fmt: str,
    path: Path,
    layout: ExportLayout,
    ids: list[str],
    report: Callable[[int], None],
    fetch_batch: int = FETCH_BATCH,
) -> int:
    """Fetch `ids` batch by batch and write them in order; return the rows written.

    A child process decodes and writes; the next batch is fetched (as undecoded BSON) while it
    writes the previous one, so at most two batches are in memory.
    """
    sheet = await asyncio.to_thread(ProcessSheet, fmt, path, layout)
    writing: asyncio.Future[int] | None = None
    try:
        for start in range(0, len(ids), fetch_batch):
            batch = ids[start : start + fetch_batch]
            raws = await customers.fetch_raw_by_ids(batch)
            if writing is not None:
                report(await writing)
            writing = asyncio.ensure_future(asyncio.to_thread(sheet.write_raw, batch, raws))
        if writing is not None:
            report(await writing)
            writing = None
    finally:
        if writing is not None:  # failed or cancelled: let the thread finish with the sheet
            await asyncio.wait([writing])
        await asyncio.to_thread(sheet.close)
    return sheet.rows


async def read_ahead(source: AsyncIterator[T], depth: int) -> AsyncIterator[T]:
    """`source`'s items, read by a task of their own up to `depth` items ahead of the caller.

    The export's scan then fetches its next pages while the writer renders, instead of
    waiting for each hand-over (on a busy machine every wake-up costs a scheduling delay). An
    error of `source` is raised here; leaving early stops the task.
    """
    queue: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(depth)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((True, item))
        except Exception as err:  # noqa: BLE001 - raised again by the reader below
            await queue.put((False, err))
        else:
            await queue.put((False, None))

    task = asyncio.create_task(pump(), name="export-read-ahead")
    try:
        while True:
            more, item = await queue.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _zip(paths: list[Path], target: Path, fmt: str) -> None:
    """Pack the parts into `target` and remove them (XLSX is already compressed)."""
    compression = zipfile.ZIP_STORED if fmt == "xlsx" else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(target, "w", compression) as archive:
        for path in paths:
            archive.write(path, arcname=path.name)
            path.unlink()
