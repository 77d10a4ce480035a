"""Spreadsheet writers of customer exports: CSV (UTF-8 with BOM) and XLSX (constant memory).

Writers are synchronous; each is fed batches of customer documents in order and keeps only the
current batch in memory. `ProcessSheet` runs one in a child process, so the service's event loop
shares neither a core nor the GIL with the writing.
"""

from __future__ import annotations

import csv
import multiprocessing
import traceback
from collections.abc import Iterable
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Protocol

import bson
import xlsxwriter
from bson.codec_options import CodecOptions

from reports.columns import (
    COLUMNS,
    SHEET_NAMES,
    Doc,
    ExportLayout,
    cells,
    currency_exponent,
    local_time,
    minor_to_text,
    money_number_format,
)

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
}
"""Export format -> (content type, file extension)."""


class SheetWriter(Protocol):
    """A file being written: rows go in order, then it is closed."""

    rows: int

    def write(self, docs: Iterable[Doc]) -> int:
        """Append one row per customer; return how many rows the file now has."""
        ...

    def close(self) -> None:
        """Finish the file."""
        ...


class CsvSheet:
    """RFC 4180 CSV in UTF-8 with a byte-order mark (Excel then reads Thai correctly)."""

    def __init__(self, path: Path, layout: ExportLayout) -> None:
        self.layout = layout
        self.rows = 0
        self._file = open(path, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._file, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        self._csv.writerow([c.label(layout) for c in COLUMNS])

    def _cell(self, kind: str, value: Any) -> Any:
        if value is None:
            return ""
        if kind == "money":
            return minor_to_text(int(value), self.layout.currency)
        if kind == "datetime" and isinstance(value, datetime):
            return local_time(value, self.layout).isoformat(timespec="seconds")
        return value

    def write(self, docs: Iterable[Doc]) -> int:
        """Append one row per customer."""
        kinds = [c.kind for c in COLUMNS]
        for doc in docs:
            values = cells(doc, self.layout)
            self._csv.writerow([self._cell(k, v) for k, v in zip(kinds, values, strict=True)])
            self.rows += 1
        return self.rows

    def close(self) -> None:
        """Flush and close the file."""
        self._file.close()


class XlsxSheet:
    """XLSX through xlsxwriter in constant-memory mode: one row in memory at a time.

    Bold frozen header with an autofilter, column widths, money as numbers in the shop's
    currency format, dates as Excel dates in the shop's time zone, user text as text only.
    """

    def __init__(self, path: Path, layout: ExportLayout) -> None:
        self.layout = layout
        self.rows = 0
        self._book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "tmpdir": str(path.parent),
            },
        )
        self._sheet = self._book.add_worksheet(SHEET_NAMES[layout.language])
        header = self._book.add_format({"bold": True, "bg_color": "#E8EEF7", "border": 1})
        self._money = self._book.add_format({"num_format": money_number_format(layout.currency)})
        self._date = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self._divisor = 10 ** currency_exponent(layout.currency)
        for col, column in enumerate(COLUMNS):
            self._sheet.set_column(col, col, column.width)
        self._sheet.freeze_panes(1, 0)
        for col, column in enumerate(COLUMNS):
            self._sheet.write_string(0, col, column.label(layout), header)

    def write(self, docs: Iterable[Doc]) -> int:
        """Append one row per customer, cell by cell with the cell's own type."""
        sheet = self._sheet
        kinds = [c.kind for c in COLUMNS]
        for doc in docs:
            row = self.rows + 1
            for col, (kind, value) in enumerate(zip(kinds, cells(doc, self.layout), strict=True)):
                if value is None:
                    continue
                if kind == "text":
                    sheet.write_string(row, col, value)
                elif kind == "money":
                    sheet.write_number(row, col, int(value) / self._divisor, self._money)
                elif kind == "count":
                    sheet.write_number(row, col, int(value))
                elif isinstance(value, datetime):
                    naive = local_time(value, self.layout).replace(tzinfo=None)
                    sheet.write_datetime(row, col, naive, self._date)
            self.rows += 1
        return self.rows

    def close(self) -> None:
        """Add the autofilter over the written rows and finish the workbook."""
        self._sheet.autofilter(0, 0, self.rows, len(COLUMNS) - 1)
        self._book.close()


def open_sheet(fmt: str, path: Path, layout: ExportLayout) -> SheetWriter:
    """A writer of `fmt` (``csv`` or ``xlsx``) creating `path`."""
    if fmt == "csv":
        return CsvSheet(path, layout)
    if fmt == "xlsx":
        return XlsxSheet(path, layout)
    raise ValueError(f"unknown export format {fmt!r}")


RAW_DECODING: CodecOptions[dict[str, Any]] = CodecOptions(tz_aware=True)


def decode_in_order(ids: list[str], raws: list[bytes]) -> list[Doc]:
    """Decode BSON customer documents and put them in the order of `ids` (missing ones left out)."""
    found = {}
    for raw in raws:
        doc = bson.decode(raw, codec_options=RAW_DECODING)
        found[doc["_id"]] = doc
    return [found[i] for i in ids if i in found]


class ProcessSheet:
    """A sheet written by a child process, fed undecoded BSON through a pipe.

    The child decodes, orders and writes; this side only moves bytes. Each call blocks until
    the child has written the batch, so callers run it in a worker thread (which waits with the
    GIL released).
    """

    def __init__(self, fmt: str, path: Path, layout: ExportLayout) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_sheet_worker,
            args=(child, fmt, str(path), layout),
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

    def write_raw(self, ids: list[str], raws: list[bytes]) -> int:
        """Send one batch (`ids` in file order, their BSON in any order); wait until written."""
        self.rows = self._call("write", (ids, raws))
        return self.rows

    def close(self) -> None:
        """Finish the file and stop the child."""
        try:
            if not self._failed:
                self.rows = self._call("close")
        finally:
            self._conn.close()
            self._process.join(timeout=30)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()


def _sheet_worker(conn: Connection, fmt: str, path: str, layout: ExportLayout) -> None:
    """Child process: write batches as they arrive until told to close."""
    answering = False  # a request was read and awaits its answer
    try:
        sheet = open_sheet(fmt, Path(path), layout)
        while True:
            command, payload = conn.recv()
            answering = True
            if command == "write":
                conn.send(("ok", sheet.write(decode_in_order(*payload))))
                answering = False
            else:
                sheet.close()
                conn.send(("ok", sheet.rows))
                return
    except EOFError:  # the parent went away
        return
    except Exception as err:  # reported to the parent, which raises
        if not answering and conn.poll(30):  # read the request first: closing would reset it
            conn.recv()
        conn.send(("error", "".join(traceback.format_exception_only(err)).strip()))
    finally:
        conn.close()
