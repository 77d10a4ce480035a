"""A one-sheet XLSX file written row by row from finished XML: the export's own writer.

Why not a spreadsheet library: an export's rows come from the database in index order and are
put in the report's order only once all have arrived. A library such as xlsxwriter can only be
handed cells once their row number is known, so all of its work (about 6 µs a cell, 2 s for
20,000 rows of 18 columns) waited for the end of the read. Here each customer becomes its
finished ``<row>`` XML as soon as it is read, with a placeholder for the row number; writing
the file is then a byte copy in order, the number filled in, and one deflate.

What the file holds is what xlsxwriter in constant-memory mode wrote before: inline strings,
``_xHHHH_`` escapes of control characters, numbers as ``%.16G``, Excel serial dates, and the
same styles, column widths, frozen header and autofilter. The package is the minimal set of
parts SpreadsheetML needs (no theme, no document properties).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROW_NUMBER = b"\x01"
"""Stands for the row number in a rendered row; never in cell text (`text_cell` escapes
control characters as ``_x0001_``)."""

STYLE_HEADER, STYLE_MONEY, STYLE_DATE, STYLE_QUOTED = 1, 2, 3, 4
"""Indexes into `styles_xml`'s cellXfs (0 is the default)."""

MAX_UTF16_UNITS = 32_767
"""Excel's limit on one cell's text, in UTF-16 code units."""

EXCEL_EPOCH = datetime(1899, 12, 31)

_ESCAPED_ESCAPE = re.compile(r"(_x[0-9a-fA-F]{4}_)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff]")
_SPECIAL = re.compile(r"[\x00-\x08\x0b-\x1f\ufffe\uffff&<>]|_x")

_NS = (
    'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml"


def column_letter(index: int) -> str:
    """``A`` for 0, ``Z`` for 25, ``AA`` for 26."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell_text(text: str) -> str:
    """`text` as XML character data: bounded to Excel's limit, control characters and the
    non-characters U+FFFE/U+FFFF as ``_xHHHH_`` (a literal ``_xHHHH_`` escaped as
    ``_x005F_xHHHH_``, as Excel does), then ``& < >`` escaped. Most texts need none of it:
    one regular expression search tells."""
    if len(text) <= MAX_UTF16_UNITS // 2 and not _SPECIAL.search(text):
        return text
    if len(text) > MAX_UTF16_UNITS // 2 and len(text.encode("utf-16-le")) // 2 > MAX_UTF16_UNITS:
        units = 0
        for index, char in enumerate(text):
            units += 2 if ord(char) > 0xFFFF else 1
            if units > MAX_UTF16_UNITS:
                text = text[:index]
                break
    if "_x" in text:
        text = _ESCAPED_ESCAPE.sub(r"_x005F\1", text)
    text = _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return escape(text)


def text_cell(ref: str, text: str, style: int = 0) -> str:
    """An inline-string cell (`ref` is the column letter; the row number is `ROW_NUMBER`);
    leading or trailing white space kept (``xml:space``)."""
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}\x01"{s} t="inlineStr"><is><t{space}>{_cell_text(text)}</t></is></c>'


def number_cell(ref: str, number: float, style: int = 0) -> str:
    """A number cell, written as xlsxwriter writes one (``%.16G``)."""
    s = f' s="{style}"' if style else ""
    return f'<c r="{ref}\x01"{s}><v>{number:.16G}</v></c>'


def excel_date(when: datetime) -> float:
    """A naive datetime as an Excel serial date (1900 system, after its false 29 Feb 1900)."""
    delta = when - EXCEL_EPOCH
    serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86_400
    return serial + 1 if serial > 59 else serial


def row_xml(number: int, cells: bytes) -> bytes:
    """A rendered row (its cells, `ROW_NUMBER` for the row number) as row `number` (from 1)."""
    text = b"%d" % number
    return b'<row r="' + text + b'">' + cells.replace(ROW_NUMBER, text) + b"</row>"


@dataclass(frozen=True)
class SheetLayout:
    """What surrounds the rows: sheet name, header labels, widths, currency and date formats."""

    name: str
    labels: Sequence[str]
    widths: Sequence[float]
    money_format: str
    date_format: str = "yyyy-mm-dd hh:mm"

    def header(self) -> bytes:
        """The bold header row."""
        cells = "".join(
            text_cell(column_letter(col), label, STYLE_HEADER)
            for col, label in enumerate(self.labels)
        )
        return row_xml(1, cells.encode())


def write_xlsx(path: Path, layout: SheetLayout, rows: Iterable[bytes], count: int) -> None:
    """Write the workbook: the header, then `count` rendered `rows` in file order.

    Rows are copied into the deflate stream in chunks, so memory holds a chunk, not the file.
    No ZIP64 (as xlsxwriter by default): a worksheet over 2 GiB, far beyond 20,000 rows of
    bounded cells in practice, fails here rather than making a file some readers refuse.
    """
    last = f"{column_letter(len(layout.labels) - 1)}{count + 1}"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in _package(layout, count + 1).items():
            book.writestr(name, text)
        with book.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(_sheet_head(layout, last).encode())
            sheet.write(layout.header())
            chunk: list[bytes] = []
            for number, cells in enumerate(rows, 2):
                chunk.append(row_xml(number, cells))
                if len(chunk) == 500:
                    sheet.write(b"".join(chunk))
                    chunk.clear()
            sheet.write(b"".join(chunk))
            sheet.write(f'</sheetData><autoFilter ref="A1:{last}"/>{_MARGINS}</worksheet>'.encode())


_MARGINS = (
    '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
)


def _sheet_head(layout: SheetLayout, last: str) -> str:
    """The worksheet up to its first row: dimension, frozen header, column widths."""
    cols = "".join(
        f'<col min="{i}" max="{i}" width="{_excel_width(width)}" customWidth="1"/>'
        for i, width in enumerate(layout.widths, 1)
    )
    return (
        f'{_HEAD}<worksheet {_NS}><dimension ref="A1:{last}"/>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft"/></sheetView></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
    )


def _attribute(text: str) -> str:
    """`text` escaped for a double-quoted XML attribute."""
    return escape(text, {'"': "&quot;"})


def _excel_width(characters: float) -> float:
    """A column width in characters as Excel stores it (Calibri 11: 7-pixel digits, 5 pixels
    of padding, in 1/256 of a character), as xlsxwriter computes it."""
    return int((int(characters * 7 + 0.5) + 5) / 7 * 256) / 256


def _package(layout: SheetLayout, rows: int) -> dict[str, str]:
    """Every part of the package but the worksheet, by name (`rows` with the header)."""
    name = _attribute(layout.name)
    quoted = "'" + layout.name.replace("'", "''") + "'"
    absolute = f"$A$1:${column_letter(len(layout.labels) - 1)}${rows}"
    return {
        "[Content_Types].xml": (
            f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_TYPE}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_TYPE}.styles+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" '
            f'ContentType="{_TYPE}.worksheet+xml"/></Types>'
        ),
        "_rels/.rels": (
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'relationships"><Relationship Id="rId1" Type="{_REL}/officeDocument" '
            'Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/_rels/workbook.xml.rels": (
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'relationships"><Relationship Id="rId1" Type="{_REL}/worksheet" '
            f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{_REL}/styles" '
            'Target="styles.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f"{_HEAD}<workbook {_NS}><bookViews><workbookView/></bookViews><sheets>"
            f'<sheet name="{name}" sheetId="1" r:id="rId1"/></sheets><definedNames>'
            '<definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
            f"{escape(quoted)}!{absolute}"
            "</definedName></definedNames></workbook>"
        ),
        "xl/styles.xml": _styles(layout),
    }


def _styles(layout: SheetLayout) -> str:
    """Fonts, fills, borders and the cell formats `STYLE_*` name."""
    font = '<sz val="11"/><name val="Calibri"/><family val="2"/>'
    thin = '<{0} style="thin"><color auto="1"/></{0}>'
    border = "".join(thin.format(side) for side in ("left", "right", "top", "bottom"))
    return (
        f'{_HEAD}<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="2">'
        f'<numFmt numFmtId="164" formatCode="{_attribute(layout.money_format)}"/>'
        f'<numFmt numFmtId="165" formatCode="{_attribute(layout.date_format)}"/></numFmts>'
        f'<fonts count="2"><font>{font}</font><font><b/>{font}</font></fonts>'
        '<fills count="3"><fill><patternFill patternType="none"/></fill>'
        '<fill><patternFill patternType="gray125"/></fill><fill><patternFill patternType="solid">'
        '<fgColor rgb="FFE8EEF7"/><bgColor indexed="64"/></patternFill></fill></fills>'
        f'<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
        f"<border>{border}<diagonal/></border></borders>"
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>'
        "</cellStyleXfs>"
        '<cellXfs count="5"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" '
        'applyFill="1" applyBorder="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" quotePrefix="1"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    )
