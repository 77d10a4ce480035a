"""Spreadsheet writers of customer exports: CSV (UTF-8 with BOM) and XLSX.

Each customer is rendered to its finished row (a CSV line, or its typed XLSX cell values) as
soon as it is read, and the row is spooled to a temporary file; closing the sheet puts the rows
in order and writes the file. Rendering therefore overlaps the database read, and ordering
needs only the sort keys in memory. `ProcessSheet` runs a sheet in a child process, so the
service's event loop shares neither a core nor the GIL with the work.

XLSX: xlsxwriter in constant-memory mode writes the file, cell by cell with each cell's type.
"""

from __future__ import annotations

import codecs
import csv
import multiprocessing
import os
import pickle
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import bson
import xlsxwriter
from bson.codec_options import CodecOptions

from chatcrm.report_query import Sort
from chatcrm.store.customer_query import order_snapshot, snapshot_row
from reports.columns import (
    COLUMNS,
    SHEET_NAMES,
    Doc,
    ExportLayout,
    cells,
    currency_exponent,
    formula_like,
    local_time,
    minor_to_text,
    money_number_format,
    neutralise,
)

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
}
"""Export format -> (content type, file extension)."""


class RowFormat(Protocol):
    """How one file format renders a customer's row and assembles the finished file."""

    def render(self, doc: Doc) -> bytes:
        """The finished row of one customer, as the format spools it."""
        ...

    def save(self, path: Path, rows: Iterable[bytes], count: int) -> None:
        """Write the file: the header, then the `count` rendered `rows` in file order."""
        ...


class CsvRows:
    """RFC 4180 CSV in UTF-8 with a byte-order mark (Excel then reads Thai correctly)."""

    def __init__(self, layout: ExportLayout) -> None:
        self.layout = layout
        self._line_read = ""
        self._csv = csv.writer(self, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        currency = layout.currency

        def moment(value: Any) -> str:
            return local_time(value, layout).isoformat(timespec="seconds")

        def money(value: Any) -> str:
            return minor_to_text(int(value), currency)

        by_kind: dict[str, Callable[[Any], Any]] = {
            "text": neutralise,  # a formula-like text gets a visible apostrophe
            "money": money,
            "datetime": moment,
            "count": int,
        }
        self._converters = [by_kind[c.kind] for c in COLUMNS]
        """Each column's cell value to its CSV field (None is an empty field)."""

    def write(self, line: str) -> None:
        """Where `csv.writer` puts the line it formats (`_line` takes it)."""
        self._line_read = line

    def _line(self, values: list[Any]) -> bytes:
        self._csv.writerow(values)
        return self._line_read.encode("utf-8")

    def render(self, doc: Doc) -> bytes:
        """One CSV record, CRLF-terminated."""
        values = cells(doc, self.layout)
        return self._line(
            [
                "" if value is None else convert(value)
                for convert, value in zip(self._converters, values, strict=True)
            ]
        )

    def save(self, path: Path, rows: Iterable[bytes], count: int) -> None:
        """BOM, header record, then the rows."""
        with path.open("wb") as file:
            file.write(codecs.BOM_UTF8 + self._line([c.label(self.layout) for c in COLUMNS]))
            file.writelines(rows)


class XlsxRows:
    """XLSX through xlsxwriter in constant-memory mode: bold frozen header with an autofilter,
    column widths, money as numbers in the shop's currency format, dates as Excel dates in the
    shop's time zone, user text written as text only; a `formula_like` text (``=cmd``,
    ``+66812345678``, ``-2``) as typed, in a cell with the quote-prefix style, which Excel and
    LibreOffice keep as text that is not evaluated, even after the cell is edited.

    `render` turns a customer into its typed cell values (spooled, so only sort keys stay in
    memory), each column's converter chosen once; `save` hands them to xlsxwriter row by row,
    in order, one row in memory at a time.
    """

    def __init__(self, layout: ExportLayout) -> None:
        self.layout = layout
        self._kinds = [c.kind for c in COLUMNS]
        divisor = 10 ** currency_exponent(layout.currency)

        def money(value: Any) -> float:
            return int(value) / divisor

        def moment(value: Any) -> Any:
            return local_time(value, layout).replace(tzinfo=None)

        by_kind: dict[str, Callable[[Any], Any]] = {
            "text": str,
            "money": money,
            "datetime": moment,
            "count": int,
        }
        self._converters = [by_kind[kind] for kind in self._kinds]
        """Each column's cell value to what xlsxwriter writes."""

    def render(self, doc: Doc) -> bytes:
        """The row's cell values, converted for the sheet and pickled: text stays text, money
        becomes a number of currency units, dates naive local times in the shop's zone."""
        values = [
            None if value is None or value == "" else convert(value)
            for convert, value in zip(self._converters, cells(doc, self.layout), strict=True)
        ]
        return pickle.dumps(values, protocol=pickle.HIGHEST_PROTOCOL)

    def save(self, path: Path, rows: Iterable[bytes], count: int) -> None:
        """Header, then each row cell by cell with the cell's own type, then the autofilter."""
        book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "tmpdir": str(path.parent),
            },
        )
        sheet = book.add_worksheet(SHEET_NAMES[self.layout.language])
        header = book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
        money = book.add_format({"num_format": money_number_format(self.layout.currency)})
        date = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        quoted = book.add_format({"quote_prefix": True})
        for col, column in enumerate(COLUMNS):
            sheet.set_column(col, col, column.width)
            sheet.write_string(0, col, column.label(self.layout), header)
        sheet.freeze_panes(1, 0)
        methods = {
            "text": sheet.write_string,
            "count": sheet.write_number,
            "money": sheet.write_number,
            "datetime": sheet.write_datetime,
        }
        formats = {"money": money, "datetime": date}
        plan = [(methods[kind], formats.get(kind)) for kind in self._kinds]
        for row, data in enumerate(rows, 1):
            for col, value in enumerate(pickle.loads(data)):  # noqa: S301 - our own spool
                if value is None:
                    continue
                write, cell_format = plan[col]
                if isinstance(value, str) and formula_like(value):
                    cell_format = quoted
                write(row, col, value, cell_format)
        sheet.autofilter(0, 0, count, len(COLUMNS) - 1)
        book.close()


def open_format(fmt: str, layout: ExportLayout) -> RowFormat:
    """The row format of `fmt` (``csv`` or ``xlsx``)."""
    if fmt == "csv":
        return CsvRows(layout)
    if fmt == "xlsx":
        return XlsxRows(layout)
    raise ValueError(f"unknown export format {fmt!r}")


class SpooledRows:
    """Rendered rows kept in a temporary file; only their keys and places stay in memory."""

    def __init__(self, directory: Path) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by close()
        self._size = 0
        self.entries: list[tuple[Any, ...]] = []
        """(*sort key, (offset, length)) of each row, in the order added."""

    def add(self, key: tuple[Any, ...], data: bytes) -> None:
        """Spool one row under `key` (keys must be unique)."""
        self._file.write(data)
        self.entries.append((*key, (self._size, len(data))))
        self._size += len(data)

    def read(self, places: Iterable[tuple[int, int]]) -> Iterator[bytes]:
        """The rows at `places` ((offset, length) pairs), in that order."""
        self._file.flush()
        fd = self._file.fileno()
        for offset, length in places:
            yield os.pread(fd, length, offset)

    def close(self) -> None:
        """Remove the spool file."""
        self._file.close()


class Sheet:
    """One export file being made: customers go in, the file is written on `close`.

    With `sort`, customers may come in any order and are put in `sort` order (the order of
    the report: the field, then the customer key); without, the file keeps the order they
    came in. Either way a customer that comes in twice is written once.
    """

    def __init__(
        self, fmt: str, path: Path, layout: ExportLayout, sort: Sort | None = None
    ) -> None:
        self.path = path
        self.sort = sort
        self.rows = 0
        self._format = open_format(fmt, layout)
        self._spool = SpooledRows(path.parent)
        self._seen: set[str] = set()

    def add(self, docs: Iterable[Doc]) -> int:
        """Render customers; return how many distinct customers the sheet has."""
        for doc in docs:
            if doc["_id"] in self._seen:
                continue
            self._seen.add(doc["_id"])
            key = snapshot_row(doc, self.sort.field) if self.sort else (self.rows,)
            self._spool.add(key, self._format.render(doc))
            self.rows += 1
        return self.rows

    def close(self, *, keep: bool = True) -> int:
        """Write the file (unless not `keep`) and drop the spooled rows; return the rows."""
        try:
            if keep:
                entries = self._spool.entries
                places = (
                    order_snapshot(entries, self.sort) if self.sort else [e[-1] for e in entries]
                )
                self._format.save(self.path, self._spool.read(places), self.rows)
        finally:
            self._spool.close()
        return self.rows


def writer_context() -> multiprocessing.context.BaseContext:
    """Where writer processes come from: a fork server that has this module imported already.

    Each export's writer then starts in milliseconds instead of importing the writer (and its
    dependencies) from scratch; a fork server, unlike a plain fork, holds no copy of the
    service's event loop, sockets or threads. Falls back to spawn where forkserver is missing.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_preload())
    return context


def start_writer_server() -> None:
    """Start the fork server now, so that the service's first export does not wait for it.

    Starting it and importing what it preloads takes about a second of CPU, which the first
    export after start-up paid; started with the service, it imports in the background.
    """
    if writer_context().get_start_method() == "forkserver":
        forkserver.ensure_running()


def _preload() -> list[str]:
    """This module, and the modules the program's main module imports.

    multiprocessing runs the main module again in every child (``chatcrm serve`` is a console
    script importing `chatcrm.cli`; ``python -m chatcrm.cli`` is that module itself): with its
    imports loaded in the fork server already, that costs the child next to nothing instead of
    importing the CLI's dependencies for every export (about a second of CPU each).
    """
    names = {__name__}
    main = sys.modules.get("__main__")
    if main is None:
        return sorted(names)
    spec_name = getattr(getattr(main, "__spec__", None), "name", None)
    if spec_name and not spec_name.endswith("__main__"):
        names.add(spec_name)
    for value in list(vars(main).values()):
        module = (
            value.__name__ if isinstance(value, ModuleType) else getattr(value, "__module__", None)
        )
        if isinstance(module, str) and module not in ("__main__", "__mp_main__", "builtins"):
            names.add(module)
    return sorted(names)


RAW_DECODING: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=False)
"""Dates as naive UTC, which `local_time` and the sort keys read as UTC: a third faster to
decode than aware ones."""


def decode_each(raws: list[bytes]) -> Iterator[Doc]:
    """Decode BSON customer documents one at a time (one decoded document in memory)."""
    return (bson.decode(raw, codec_options=RAW_DECODING) for raw in raws)


def decode_in_order(ids: list[str], raws: list[bytes]) -> list[Doc]:
    """Decode BSON customer documents and put them in the order of `ids` (missing ones left out)."""
    found = {doc["_id"]: doc for doc in decode_each(raws)}
    return [found[i] for i in ids if i in found]


class ProcessSheet:
    """A `Sheet` made by a child process, fed undecoded BSON through a pipe.

    The child decodes, renders, orders and writes; this side only moves bytes. Each call blocks
    until the child has taken the batch in, so callers run it in a worker thread (which waits
    with the GIL released).
    """

    def __init__(
        self, fmt: str, path: Path, layout: ExportLayout, sort: Sort | None = None
    ) -> None:
        context = writer_context()
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_sheet_worker,
            args=(child, fmt, str(path), layout, sort),
            name="chatcrm-export-writer",
            daemon=True,
        )
        self._process.start()
        child.close()
        self.rows = 0
        self.pid = self._process.pid
        self._failed = False

    def _call(self, command: str, payload: Any = None) -> int:
        try:
            self._conn.send((command, payload))
            status, value = self._conn.recv()
        except (EOFError, OSError):
            self._failed = True
            raise RuntimeError("the export writer process died") from None
        if status != "ok":
            self._failed = True
            raise RuntimeError(f"the export writer failed: {value}")
        return int(value)

    def add_raw(self, raws: list[bytes]) -> int:
        """Send customers (BSON, any order; the sheet's sort orders them); return rows so far."""
        self.rows = self._call("add", raws)
        return self.rows

    def write_raw(self, ids: list[str], raws: list[bytes]) -> int:
        """Send one batch (`ids` in file order, their BSON in any order); return rows so far."""
        self.rows = self._call("write", (ids, raws))
        return self.rows

    def close(self, *, keep: bool = True) -> None:
        """Write the file (unless not `keep`: then it is dropped) and stop the child."""
        try:
            if not self._failed:
                self.rows = self._call("close" if keep else "drop")
        finally:
            self._conn.close()
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()


def _sheet_worker(
    conn: Connection, fmt: str, path: str, layout: ExportLayout, sort: Sort | None
) -> None:
    """Child process: take batches as they arrive until told to close."""
    answering = False  # a request was read and awaits its answer
    try:
        sheet = Sheet(fmt, Path(path), layout, sort)
        while True:
            command, payload = conn.recv()
            answering = True
            if command == "add":
                conn.send(("ok", sheet.add(decode_each(payload))))
            elif command == "write":
                conn.send(("ok", sheet.add(decode_in_order(*payload))))
            else:
                conn.send(("ok", sheet.close(keep=command == "close")))
                return
            answering = False
    except EOFError:  # the parent went away
        return
    except Exception as err:  # reported to the parent, which raises
        if not answering and conn.poll(30):  # read the request first: closing would reset it
            conn.recv()
        conn.send(("error", "".join(traceback.format_exception_only(err)).strip()))
    finally:
        conn.close()
