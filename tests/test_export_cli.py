"""`chatcrm export` on the embedded default: the same export as the API, with a progress bar."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import openpyxl
import pytest

from chatcrm.cli import _export_body, build_parser
from chatcrm.report_query import FILTER_NAMES, REPORT_FILTERS
from reports.exports import parse_export_request
from tests.test_embedded import run_cli


@pytest.mark.slow  # five processes, each starting nx-27017
def test_cli_exports_filtered_and_all(tmp_path: Path) -> None:
    demo = run_cli(tmp_path, "demo", "--customers", "300", "--json")
    assert demo.returncode == 0, demo.stderr
    shop = json.loads(demo.stdout)["shop_id"]

    out = tmp_path / "line.csv"
    done = run_cli(
        tmp_path,
        "export",
        *("--shop", shop, "--format", "csv", "--mode", "filtered"),
        *("--channel", "line", "--sort", "paid_total", "--order", "desc", "-o", str(out)),
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["file"] == str(out) and result["parts"] == 1
    assert "rows" in done.stderr and "100%" in done.stderr  # the progress bar
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][2] == "ช่องทาง"  # the demo shop's locale is Thai
    assert 0 < len(rows) - 1 == result["rows"] < 300
    assert {r[2] for r in rows[1:]} == {"LINE"}
    paid = [float(r[10]) for r in rows[1:]]
    assert paid == sorted(paid, reverse=True)

    out = tmp_path / "all.xlsx"
    done = run_cli(
        tmp_path, "export", "--shop", shop, "--format", "xlsx", "--mode", "all", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    sheet = openpyxl.load_workbook(out, read_only=True).worksheets[0]
    ids = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(ids) == len(set(ids)) == 300

    bad = run_cli(
        tmp_path, "export", "--shop", shop, "--format", "csv", "--channel", "icq", "-o", "x"
    )
    assert bad.returncode == 2 and "channel must be one of" in bad.stderr
    assert not (tmp_path / "x").exists()


FILTER_EXAMPLES = {
    "channel": "line",
    "province": "Bangkok",
    "postal_code": "10*",
    "updated_from": "2026-01-01",
    "updated_to": "2026-01-31",
    "tag": "VIP",
    "tag_mode": "all",
    "q": "somchai",
    "status": "following",
}


def test_cli_takes_every_report_filter() -> None:
    assert set(FILTER_EXAMPLES) == set(FILTER_NAMES)
    argv = ["export", "--shop", "shop_1", "--format", "csv", "-o", "out.csv"]
    for report_filter in REPORT_FILTERS:
        argv += ["--" + report_filter.name.replace("_", "-"), FILTER_EXAMPLES[report_filter.name]]
    body = _export_body(build_parser().parse_args(argv))
    assert set(body["filters"]) == set(FILTER_NAMES)
    filters = parse_export_request(body, "Asia/Bangkok").filters
    assert filters.channels == ("line",) and filters.provinces == ("Bangkok",)
    assert filters.postal_code == "10*" and filters.tags == ("VIP",) and filters.tag_mode == "all"
    assert filters.q == "somchai" and filters.statuses == ("following",)
    assert filters.updated_from is not None and filters.updated_before is not None
