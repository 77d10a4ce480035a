"""Export benchmark: 20,000 customers through the API on the embedded default, XLSX and CSV.

Starts `chatcrm serve` as a subprocess on a temporary data dir (embedded nx-27017), seeds a shop
with 20,000 demo customers, then in each round, for each format, measures the wall time of POST
/api/v1/exports, the service process's peak RSS increase during the export (Linux /proc VmHWM,
reset before each run through clear_refs), the peak USS of the process that writes the file (a
child of the service's fork server; its RSS would count the pages it shares with the fork
server), and the worst latency of `GET /healthz` (which pings the database) requested every
10 ms meanwhile: a database wait shows there, and the CPU seconds the service, its database
server and the writer spent (the pings included), which the machine's load does not inflate as
it does wall times. After each round, in this process, pandas
`DataFrame.to_excel` (its default engine, openpyxl) writes the same 20,000 rows.

    pip install -e ".[bench]" && python bench/export.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from chatcrm.demo_data import generate
from chatcrm.embedded import EmbeddedMongo
from chatcrm.provinces import province_key
from chatcrm.report_query import Sort
from chatcrm.secrets_box import SecretBox
from chatcrm.store import Store
from chatcrm.store.base import utcnow
from reports.columns import COLUMNS, ExportLayout, cells, currency_exponent, local_time
from reports.writers import Sheet

CUSTOMERS = 20_000
TICK = 0.010
TARGET_SPEEDUP = 2.0
TARGET_MEMORY_MIB = 100
TARGET_STALL_MS = 100
TARGET_CSV_S = 1.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def writers(pid: int, own: bytes) -> list[int]:
    """The processes that write the export: children of the service's fork server (forked from
    it, they show its command line), or a child of the service itself that is neither the
    database server nor a fork of the service not yet turned into something else."""
    found: list[int] = []
    for child in children(pid):
        try:
            cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"forkserver" in cmd:
            found.extend(children(child))
        elif b"nx_27017" not in cmd and cmd != own:
            found.append(child)
    return found


async def child_peaks(pid: int, stop: asyncio.Event, peaks: dict[str, int]) -> None:
    """Peak USS, PSS and RSS (bytes) of the processes that write the export (`writers`), sampled.

    USS (the pages only the writer maps) is what an export costs the machine: the system gets it
    back when the writer exits. Its RSS also counts every page it still shares with the fork
    server it was forked from (the preloaded service modules, about 100 MiB), which one export
    does not add; PSS counts a share of those.
    """
    import psutil  # the bench extra

    own = Path(f"/proc/{pid}/cmdline").read_bytes()  # noqa: ASYNC240 - procfs
    while not stop.is_set():
        for writer in writers(pid, own):
            try:
                info = psutil.Process(writer).memory_full_info()
            except (psutil.Error, OSError):
                continue
            for name in ("uss", "pss", "rss"):
                peaks[name] = max(peaks.get(name, 0), getattr(info, name))
        await asyncio.sleep(0.01)


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU of `pid` (with `reaped`, also of its children that have exited)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_by_process(pid: int) -> dict[str, float]:
    """CPU seconds so far of the service, its database server and its writers (the children
    the fork server has reaped). Differences of these are load-independent where wall times
    are not: this machine is shared."""
    out = {"service": cpu_seconds(pid), "database": 0.0, "writers": 0.0}
    for child in children(pid):
        cmd = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"nx_27017" in cmd:
            out["database"] += cpu_seconds(child)
        elif b"forkserver" in cmd:
            out["writers"] += cpu_seconds(child, reaped=True) - cpu_seconds(child)
    return out


def reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


async def wait_up(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("chatcrm serve exited during start-up")
        try:
            async with session.get(base + "/healthz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("chatcrm serve did not answer within 60 s")


async def seed(data_dir: Path, key: str) -> tuple[str, str, list[dict[str, Any]]]:
    """Create a shop and its customers in the service's embedded database."""
    uri = EmbeddedMongo(data_dir).start()  # the service's running server, not a second one
    store = Store.connect(uri, "chatcrm", SecretBox(key))
    try:
        shop = await store.shops.create("ร้านเบนช์มาร์ก Bench", timezone="Asia/Bangkok")
        token = await store.tokens.create(shop.id, "owner", "bench")
        channels = {"line": "ch_line", "telegram": "ch_tg", "messenger": "ch_fb"}
        docs = generate(shop.id, channels, customers=CUSTOMERS, now=utcnow()).customers
        for doc in docs:
            doc["province_key"] = province_key(doc["province"], doc["postal_code"])
            doc["_key"] = doc["_id"]
        customers = store.for_shop(shop.id).customers  # as the product writes them: derived keys
        for start in range(0, len(docs), 2000):
            await customers.insert_new(docs[start : start + 2000])
        return shop.id, token, docs
    finally:
        await store.close()


async def ticker(
    session: aiohttp.ClientSession, url: str, stop: asyncio.Event, worst: list[float]
) -> None:
    """Send a request every TICK seconds; keep the worst latency."""
    while not stop.is_set():
        started = time.perf_counter()
        async with session.get(url) as resp:
            await resp.read()
        worst[0] = max(worst[0], time.perf_counter() - started)
        await asyncio.sleep(TICK)


async def run_export(
    session: aiohttp.ClientSession, base: str, token: str, fmt: str, pid: int
) -> dict[str, Any]:
    baseline_ms = []
    for _ in range(20):  # the ticker's latency with an idle service, for reference
        started = time.perf_counter()
        async with session.get(base + "/healthz") as resp:
            await resp.read()
        baseline_ms.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(TICK)
    rss_before = status_kib(pid, "VmRSS")
    exact_peak = reset_peak(pid)
    stop, worst = asyncio.Event(), [0.0]
    peaks: dict[str, int] = {}
    tick = asyncio.ensure_future(ticker(session, base + "/healthz", stop, worst))
    sampler = asyncio.ensure_future(child_peaks(pid, stop, peaks))
    await asyncio.sleep(0.05)
    cpu_before = cpu_by_process(pid)
    started = time.perf_counter()
    async with session.post(
        base + "/api/v1/exports",
        json={"mode": "all", "format": fmt, "sort": "paid_total", "order": "desc"},
        headers={"Authorization": f"Bearer {token}"},
    ) as resp:
        body = await resp.read()
        assert resp.status == 200, body[:300]
        rows = int(resp.headers["X-Export-Rows"])
    wall = time.perf_counter() - started
    stop.set()
    await tick
    await sampler
    peak = status_kib(pid, "VmHWM")
    await asyncio.sleep(0.2)  # the fork server reaps the writer
    cpu = {k: v - cpu_before[k] for k, v in cpu_by_process(pid).items()}
    return {
        "format": fmt,
        "rows": rows,
        "bytes": len(body),
        "wall_s": wall,
        "mem_mib": (peak - rss_before) / 1024,
        "writer_mib": peaks.get("uss", 0) / 2**20,
        "writer_pss_mib": peaks.get("pss", 0) / 2**20,
        "writer_rss_mib": peaks.get("rss", 0) / 2**20,
        "exact_peak": exact_peak,
        "stall_ms": worst[0] * 1000,
        "idle_tick_ms": max(baseline_ms),
        "cpu": cpu,
    }


def pandas_rows(docs: list[dict[str, Any]], layout: ExportLayout) -> list[list[Any]]:
    """The export's cells as pandas can write them: money as numbers, naive local dates."""
    divisor = 10 ** currency_exponent(layout.currency)
    out = []
    for doc in docs:
        row = []
        for column, value in zip(COLUMNS, cells(doc, layout), strict=True):
            if value is not None and column.kind == "money":
                value = value / divisor
            elif value is not None and column.kind == "datetime":
                value = local_time(value, layout).replace(tzinfo=None)
            row.append(value)
        out.append(row)
    return out


def baselines(docs: list[dict[str, Any]], workdir: Path) -> dict[str, float]:
    """pandas `to_excel` (openpyxl, its default, and xlsxwriter) and the export's own `Sheet`
    writing the same rows in this process."""
    import pandas  # the bench extra: only the baseline needs it

    layout = ExportLayout("th", "Asia/Bangkok", "THB")
    docs = sorted(docs, key=lambda d: (d["paid_total"], d["_key"]), reverse=True)
    rows = pandas_rows(docs, layout)
    times = {}
    for engine in ("openpyxl", "xlsxwriter"):
        started, cpu = time.perf_counter(), time.process_time()
        frame = pandas.DataFrame(rows, columns=[c.label(layout) for c in COLUMNS])
        frame.to_excel(workdir / f"pandas-{engine}.xlsx", index=False, engine=engine)
        times[engine] = time.perf_counter() - started
        times[engine + "_cpu"] = time.process_time() - cpu
    started = time.perf_counter()
    sheet = Sheet("xlsx", workdir / "writer.xlsx", layout, Sort("paid_total", ascending=False))
    sheet.add(docs)
    sheet.close()
    writer_s = time.perf_counter() - started
    return {
        "pandas_s": times["openpyxl"],
        "pandas_cpu_s": times["openpyxl_cpu"],
        "pandas_xw_s": times["xlsxwriter"],
        "writer_s": writer_s,
    }


async def main(rounds: int) -> int:
    with tempfile.TemporaryDirectory(prefix="chatcrm-bench-") as tmp:
        data_dir = Path(tmp) / "var"
        data_dir.mkdir()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URI",)}
        env.update(
            CHATCRM_DATA_DIR=str(data_dir),
            CHATCRM_SECRET_KEY=SecretBox.generate_key(),
            LOG_LEVEL="WARNING",
        )
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before any timing
            [sys.executable, "-m", "chatcrm.cli", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        verdicts: list[tuple[str, bool]] = []
        try:
            timeout = aiohttp.ClientTimeout(total=600)
            async with aiohttp.ClientSession(timeout=timeout) as session:
                await wait_up(session, base, proc)
                started = time.perf_counter()
                _, token, docs = await seed(data_dir, env["CHATCRM_SECRET_KEY"])
                print(f"seeded {len(docs)} customers in {time.perf_counter() - started:.1f} s")
                for number in range(1, rounds + 1):
                    results = [
                        await run_export(session, base, token, f, proc.pid) for f in ("xlsx", "csv")
                    ]
                    # the service idles meanwhile: pandas has a core to itself as the export had
                    base_times = baselines(docs, Path(tmp))
                    verdicts += report(number, results, base_times)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print()
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for text, ok in verdicts:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in verdicts) else 1


def report(
    number: int, results: list[dict[str, Any]], base: dict[str, float]
) -> list[tuple[str, bool]]:
    """Print one round; return its verdicts."""
    verdicts = []
    print()
    print(
        f"round {number:<46}{'rows':>7}{'wall s':>8}{'service +MiB':>14}"
        f"{'writer USS/PSS/RSS MiB':>24}{'healthz ms':>11}{'CPU s svc/db/writer':>21}"
    )
    for r in results:
        label = f"API POST /api/v1/exports {r['format']} ({r['bytes'] / 1e6:.1f} MB)"
        writer = f"{r['writer_mib']:.1f}/{r['writer_pss_mib']:.1f}/{r['writer_rss_mib']:.1f}"
        cpu = "/".join(f"{r['cpu'][k]:.2f}" for k in ("service", "database", "writers"))
        print(
            f"{label:<52}{r['rows']:>7}{r['wall_s']:>8.2f}{r['mem_mib']:>14.1f}"
            f"{writer:>24}{r['stall_ms']:>11.1f}{cpu:>21}"
        )
        total = r["mem_mib"] + r["writer_mib"]
        verdicts.append(
            (
                f"round {number} {r['format']}: peak memory increase (service + writer USS) "
                f"{total:.0f} MiB < {TARGET_MEMORY_MIB} MiB",
                total < TARGET_MEMORY_MIB,
            )
        )
        verdicts.append(
            (
                f"round {number} {r['format']}: GET /healthz (pings the database) never over "
                f"{TARGET_STALL_MS} ms meanwhile: worst {r['stall_ms']:.0f} ms",
                r["stall_ms"] < TARGET_STALL_MS,
            )
        )
    for label, key in (
        ("pandas DataFrame.to_excel, openpyxl (default)", "pandas_s"),
        ("pandas DataFrame.to_excel, engine=xlsxwriter", "pandas_xw_s"),
        ("chatcrm Sheet alone (render, order, write), in-process", "writer_s"),
    ):
        print(f"{label:<52}{CUSTOMERS:>7}{base[key]:>8.2f}")
    xlsx = next(r for r in results if r["format"] == "xlsx")
    csv = next(r for r in results if r["format"] == "csv")
    speedup = base["pandas_s"] / xlsx["wall_s"]
    print(
        f"XLSX through the API (fetch + write + download) vs pandas to_excel (write only, rows "
        f"in memory): {speedup:.2f}x; writer alone vs pandas: "
        f"{base['pandas_s'] / base['writer_s']:.2f}x; GET /healthz idle: "
        f"{max(r['idle_tick_ms'] for r in results):.1f} ms; service peak memory "
        f"{'exact (VmHWM reset)' if all(r['exact_peak'] for r in results) else 'an upper bound'}"
    )
    print(
        f"CPU: XLSX export {sum(xlsx['cpu'].values()):.2f} s in all processes, pandas "
        f"to_excel {base['pandas_cpu_s']:.2f} s"
    )
    verdicts.insert(
        0,
        (
            f"round {number}: XLSX {speedup:.2f}x faster than pandas "
            f"(target {TARGET_SPEEDUP:.0f}x)",
            speedup >= TARGET_SPEEDUP,
        ),
    )
    verdicts.insert(
        1,
        (
            f"round {number}: CSV {csv['wall_s']:.2f} s (target under {TARGET_CSV_S:.0f} s)",
            csv["wall_s"] < TARGET_CSV_S,
        ),
    )
    return verdicts


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog='needs the bench extra: pip install -e ".[bench]"',
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of XLSX + CSV (default 3)")
    sys.exit(asyncio.run(main(parser.parse_args().rounds)))
