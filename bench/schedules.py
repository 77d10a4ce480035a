"""Scheduled-report load benchmark: every shop's report due at once, webhooks arriving meanwhile.

Seeds N shops (default 1,000) in a fresh embedded database, each with a few customers, a LINE
channel and one daily report schedule (XLSX of every customer, two recipients) whose time is
the same instant in every shop's own time zone, a minute or two ahead (the service's clock is
not moved: the schedules are made to fall due soon). Then runs `chatcrm serve` on that data
dir, sending through a local aiosmtpd server that counts what it receives, while signed LINE
webhooks arrive at a steady rate before the fire time (the idle baseline) and during it.

Prints the time from the fire time to the last e-mail received, e-mails received against
expected (one per schedule and recipient; duplicates counted), the webhook acknowledgement
p50/p99 idle and during, and the worst event-loop lag the service reports in `GET /healthz`
(idle and during) beside that of an idle process ticking on the same machine meanwhile (the
share of the machine's other load); then MET/MISSED against issue 10's targets: every e-mail
within 5 min, ack p99 during at most 2x idle, no stall over 100 ms.

Run from the repository root: ``.venv/bin/python bench/schedules.py [--shops 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import aiohttp
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import free_port, pct, wait_http  # noqa: E402
from chatcrm.config import Settings  # noqa: E402
from chatcrm.database import open_database  # noqa: E402
from chatcrm.demo_data import generate  # noqa: E402
from chatcrm.loop_lag import LoopLag  # noqa: E402
from chatcrm.provinces import province_key  # noqa: E402
from chatcrm.schedules import parse_schedule  # noqa: E402
from chatcrm.store import Store  # noqa: E402
from chatcrm.store.base import utcnow  # noqa: E402
from chatcrm.store.schedules import ms_of  # noqa: E402
from tests.fakes.line import FakeLine  # noqa: E402
from tests.fakes.signing import line_signature  # noqa: E402
from tests.fakes.smtp import FakeSmtp  # noqa: E402

SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "bench-line-token"
MAIL_FROM = "reports@bench.example"
ZONES = (  # (time zone, locale): the same instant is a different wall-clock time in each
    ("Asia/Bangkok", "th"),
    ("Asia/Tokyo", "en"),
    ("Europe/Rome", "en"),
    ("America/New_York", "en"),
)
RECIPIENTS = ("owner", "accounts")
TARGET_S = 300.0
TARGET_P99_RATIO = 2.0
TARGET_STALL_MS = 100.0
T = TypeVar("T")


@dataclass
class Fakes:
    """LINE's API and an SMTP server on an event loop of their own, in a thread: what they do
    is not measured as the load generator's latency."""

    smtp: FakeSmtp = field(default_factory=FakeSmtp)
    line: FakeLine = field(default_factory=lambda: FakeLine(access_token=TOKEN))
    arrivals: list[tuple[float, list[str]]] = field(default_factory=list)
    """(wall-clock time, recipients) of every message accepted."""
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)

    def start(self) -> Fakes:
        threading.Thread(target=self.loop.run_forever, name="fakes", daemon=True).start()
        self.call(self.smtp.start())
        self.call(self.line.start())
        handle = self.smtp.handle_DATA

        async def counted(server: Any, session: Any, envelope: Any) -> str:
            answer = await handle(server, session, envelope)
            if answer.startswith("250"):
                received = self.smtp.messages.pop()  # keep counts, not 1,000 attachments
                self.arrivals.append((time.time(), received.recipients))
            return answer

        self.smtp.handle_DATA = counted  # type: ignore[method-assign]
        return self

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(60)

    def stop(self) -> None:
        self.call(self.smtp.stop())
        self.call(self.line.close())
        self.loop.call_soon_threadsafe(self.loop.stop)


@dataclass(frozen=True)
class BenchShop:
    """A seeded shop: where its webhooks go, who sends them, who gets its report."""

    id: str
    zone: str
    webhook_path: str
    users: tuple[str, ...]
    recipients: tuple[str, ...]


def fire_instant(earliest: datetime) -> datetime:
    """The first whole minute at or after `earliest` (cadences are HH:MM)."""
    minute = earliest.replace(second=0, microsecond=0)
    return minute if minute == earliest else minute + timedelta(minutes=1)


async def seed_shop(store: Store, i: int, customers: int, now: datetime) -> BenchShop:
    """A shop with a LINE channel and `customers` customers."""
    zone, locale = ZONES[i % len(ZONES)]
    shop = await store.shops.create(f"ร้านเบนช์ {i:04d}", timezone=zone, locale=locale)
    channel = await store.for_shop(shop.id).channels.add(
        "line", {"channel_secret": SECRET, "access_token": TOKEN}, name=f"LINE {i}"
    )
    docs = generate(shop.id, {"line": channel.id}, customers=customers, now=now, seed=i).customers
    for doc in docs:
        doc["province_key"] = province_key(doc["province"], doc["postal_code"])
        doc["_key"] = doc["_id"]
    await store.for_shop(shop.id).customers.insert_new(docs)  # with derived keys
    users = tuple(d["platform_user_id"] for d in docs)
    recipients = tuple(f"{who}@shop{i:04d}.example" for who in RECIPIENTS)
    return BenchShop(shop.id, zone, channel.webhook_path, users, recipients)


async def add_schedule(store: Store, shop: BenchShop, fire: datetime) -> None:
    """The shop's daily report (XLSX of every customer) at `fire`'s time in its time zone."""
    at = fire.astimezone(ZoneInfo(shop.zone)).strftime("%H:%M")
    fields = parse_schedule(
        {
            "name": "ลูกค้าทั้งหมด รายวัน",
            "cadence": {"every": "day", "at": at},
            "recipients": list(shop.recipients),
            "format": "xlsx",
            "period": "all",
        }
    )
    await store.for_shop(shop.id).schedules.create(fields, shop.zone, ms_of(utcnow()))


async def in_batches(work: list[Coroutine[Any, Any, T]], size: int = 20) -> list[T]:
    done: list[T] = []
    for start in range(0, len(work), size):
        done += await asyncio.gather(*work[start : start + size])
    return done


async def seed(
    data_dir: Path, shops: int, customers: int, lead_s: float
) -> tuple[list[BenchShop], datetime]:
    """Seed the shops through the store on the embedded database (closed again afterwards);
    their schedules fall due at the first whole minute at least `lead_s` after seeding."""
    settings = Settings(data_dir=data_dir, log_level="WARNING")
    async with open_database(settings) as database:
        store = database.store
        started = time.monotonic()
        now = utcnow()
        made = await in_batches([seed_shop(store, i, customers, now) for i in range(shops)])
        fire = fire_instant(utcnow() + timedelta(seconds=lead_s + 1.0 + shops * 0.01))
        await in_batches([add_schedule(store, shop, fire) for shop in made])
        if utcnow() + timedelta(seconds=lead_s) > fire:
            raise SystemExit("adding the schedules took too long: the fire time is too close")
        took = time.monotonic() - started
        print(f"seeded {shops} shops in {took:.1f} s; all schedules due at {fire:%H:%M:%S} UTC")
        return made, fire


@dataclass
class Sample:
    """One webhook request: when it left (wall clock) and how long its acknowledgement took."""

    sent: float
    latency: float
    status: int


async def webhooks(
    base: str, shops: list[BenchShop], rate: float, stop: asyncio.Event, out: list[Sample]
) -> None:
    """Signed LINE webhooks at `rate` per second (open loop: each leaves at its slot), one
    message event each, round the shops and their customers."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    tasks: set[asyncio.Task[None]] = set()

    async def one(n: int) -> None:
        shop = shops[n % len(shops)]
        user = shop.users[(n // len(shops)) % len(shop.users)]
        event = {
            "type": "message",
            "mode": "active",
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user},
            "webhookEventId": f"bench-{n}",
            "deliveryContext": {"isRedelivery": False},
            "replyToken": f"rt{n}",
            "message": {"id": f"9{n:012d}", "type": "text", "text": "สนใจสินค้าค่ะ"},
        }
        body = json.dumps({"destination": "U" + "0" * 32, "events": [event]}).encode()
        headers = {"X-Line-Signature": line_signature(SECRET, body)}
        sent, t0 = time.time(), time.perf_counter()
        async with session.post(base + shop.webhook_path, data=body, headers=headers) as resp:
            await resp.read()
        out.append(Sample(sent, time.perf_counter() - t0, resp.status))

    start, n = time.perf_counter(), 0
    try:
        while not stop.is_set():
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            task = asyncio.create_task(one(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
        await asyncio.gather(*tasks)
    finally:
        await session.close()


async def health(base: str, stop: asyncio.Event, out: list[tuple[float, float]]) -> None:
    """Read the service's event-loop lag from `GET /healthz` every second: (wall-clock time,
    worst of the last 10 s in milliseconds)."""
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.get(base + "/healthz") as resp:
                    lag = (await resp.json())["loop_lag_ms"]
                out.append((time.time(), lag["last_10s"]))
            except (aiohttp.ClientError, KeyError, ValueError):
                pass
            await asyncio.sleep(1.0)


async def reference_ticker() -> None:
    """An idle process's event-loop lag, each second's worst on a line: the machine's share.

    Run as ``bench/schedules.py --ticker`` beside the service: the same gauge as `/healthz`
    (`chatcrm.loop_lag`) in a process with nothing else to do, so a lag it sees too came
    from the machine (other processes holding the CPUs), not from the service's code.
    """
    lag = LoopLag()
    task = asyncio.create_task(lag.run())
    try:
        while True:
            await asyncio.sleep(1.0)
            print(f"{time.time():.3f} {lag.worst_s * 1000:.1f}", flush=True)
            lag.worst_s = 0.0
    finally:
        task.cancel()


async def reference_lags(out: list[tuple[float, float]]) -> asyncio.subprocess.Process:
    """Start `reference_ticker` in a child process; its lines go to `out` (time, worst ms)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--ticker", stdout=asyncio.subprocess.PIPE
    )

    async def read() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            at, worst = line.split()
            out.append((float(at), float(worst)))

    proc.reader = asyncio.create_task(read())  # type: ignore[attr-defined]
    return proc


async def delivery_states(data_dir: Path) -> Counter[str]:
    """How the service recorded the deliveries: state -> count."""
    state = json.loads((data_dir / "nx-27017.json").read_text())
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{state['port']}/?directConnection=true"
    )
    try:
        docs = await client["chatcrm"]["report_deliveries"].find({}, {"state": 1}).to_list(None)
        return Counter(str(d.get("state")) for d in docs)
    finally:
        await client.close()


def stopped(service: subprocess.Popen[bytes], grace_s: float = 30.0) -> None:
    """SIGTERM the service; SIGKILL it (and say so) when it has not stopped within `grace_s`."""
    service.terminate()
    try:
        service.wait(grace_s)
    except subprocess.TimeoutExpired:
        print(f"  chatcrm serve had not stopped {grace_s:.0f} s after SIGTERM: killed")
        service.kill()
        service.wait()


@dataclass
class Run:
    """What one run measured."""

    shops: list[BenchShop]
    fire: datetime
    acks: list[Sample]
    lags: list[tuple[float, float]]
    reference: list[tuple[float, float]]
    arrivals: list[tuple[float, list[str]]]
    states: Counter[str]
    warm_until: float
    done_at: float


async def run(args: argparse.Namespace) -> Run:
    data_dir = Path(tempfile.mkdtemp(prefix="chatcrm-schedbench-"))
    lead = args.idle_seconds + 25.0  # start-up, warm-up, then the idle baseline
    shops, fire = await seed(data_dir, args.shops, args.customers, lead)
    fakes = Fakes().start()
    for shop in shops:
        for user in shop.users:
            fakes.line.add_profile(user, f"ลูกค้า {user[-6:]}")
    port = free_port()
    env = {
        **os.environ,
        "CHATCRM_DATA_DIR": str(data_dir),
        "LINE_API_BASE_URL": fakes.line.base_url,
        "SMTP_URL": f"smtp://127.0.0.1:{fakes.smtp.port}",
        "MAIL_FROM": MAIL_FROM,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MONGODB_URI", None)
    service = subprocess.Popen(
        [sys.executable, "-m", "chatcrm.cli", "serve", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    stop = asyncio.Event()
    acks: list[Sample] = []
    lags: list[tuple[float, float]] = []
    reference: list[tuple[float, float]] = []
    ticker = await reference_lags(reference)
    expected = len(shops) * len(RECIPIENTS)
    try:
        await wait_http(base + "/healthz", timeout=120)
        load = asyncio.create_task(webhooks(base, shops, args.rate, stop, acks))
        watch = asyncio.create_task(health(base, stop, lags))
        warm_until = time.time() + 5.0  # the first seconds warm caches: not in the baseline
        if fire.timestamp() - warm_until < 10:
            raise SystemExit("the service took too long to start: the fire time is too close")
        print(
            f"service up; idle baseline for {fire.timestamp() - warm_until:.0f} s, "
            f"then waiting for {expected} e-mails (at most {args.timeout:.0f} s)"
        )
        deadline, shown = fire.timestamp() + args.timeout, 0.0
        while time.time() < deadline:
            received = sum(len(r) for _, r in fakes.arrivals)
            if received >= expected:
                break
            if time.time() - shown >= 30 and time.time() > fire.timestamp():
                shown = time.time()
                late = shown - fire.timestamp()
                print(f"  {late:4.0f} s after the fire time: {received} e-mails")
            await asyncio.sleep(0.5)
        done_at = time.time()
        await asyncio.sleep(args.settle)  # late duplicates, if any, arrive meanwhile
        stop.set()
        await asyncio.gather(load, watch)
        states = await delivery_states(data_dir)
    finally:
        stop.set()
        stopped(service)
        fakes.stop()
        ticker.terminate()
        await ticker.wait()
    arrivals = list(fakes.arrivals)
    return Run(shops, fire, acks, lags, reference, arrivals, states, warm_until, done_at)


def report(args: argparse.Namespace, r: Run) -> None:
    fire = r.fire.timestamp()
    expected = {m for s in r.shops for m in s.recipients}  # each address: one shop's report
    per_recipient = Counter(rcpt for _, rcpts in r.arrivals for rcpt in rcpts)
    duplicates = sum(n - 1 for n in per_recipient.values() if n > 1)
    reached = expected & per_recipient.keys()
    last = max((t for t, _ in r.arrivals), default=math.nan) - fire
    first = min((t for t, _ in r.arrivals), default=math.nan) - fire
    all_in = len(reached) == len(expected)
    end = fire + last if all_in else r.done_at
    idle = [s for s in r.acks if r.warm_until <= s.sent < fire]
    during = [s for s in r.acks if fire <= s.sent <= end]
    failed = sum(1 for s in r.acks if s.status != 200)
    lag_idle = [x for t, x in r.lags if r.warm_until + 10 <= t < fire]
    lag_during = [x for t, x in r.lags if fire <= t <= end + 10]
    ref_idle = [x for t, x in r.reference if r.warm_until <= t < fire]
    ref_during = [x for t, x in r.reference if fire <= t <= end]
    print(
        f"\nScheduled reports: {len(r.shops)} shops x 1 daily schedule (XLSX of every customer, "
        f"{args.customers} customers, {len(RECIPIENTS)} recipients), all due at "
        f"{r.fire:%Y-%m-%d %H:%M:%S} UTC in {len(ZONES)} time zones; `chatcrm serve` on the "
        f"embedded nx-27017, SMTP to aiosmtpd on 127.0.0.1; signed LINE webhooks at "
        f"{args.rate:g}/s throughout"
    )
    print(
        f"e-mails: {len(r.arrivals)} messages, {len(reached)} of {len(expected)} recipients "
        f"reached, {duplicates} duplicates, {len(expected) - len(reached)} missing; "
        f"deliveries recorded: {', '.join(f'{k} {v}' for k, v in sorted(r.states.items()))}"
    )
    print(
        f"first e-mail {first:.1f} s after the fire time, last {last:.1f} s "
        f"({len(r.arrivals) / max(last, 1e-9):.1f} messages/s)"
    )
    print(f"{'':30}{'idle':>10}{'during':>10}{'ratio':>8}")
    rows = [
        ("webhook requests", len(idle), len(during)),
        ("ack p50 ms", pct([s.latency for s in idle], 50) * 1000,
         pct([s.latency for s in during], 50) * 1000),
        ("ack p99 ms", pct([s.latency for s in idle], 99) * 1000,
         pct([s.latency for s in during], 99) * 1000),
        ("ack max ms", max((s.latency for s in idle), default=math.nan) * 1000,
         max((s.latency for s in during), default=math.nan) * 1000),
        ("worst loop lag ms (/healthz)", max(lag_idle, default=math.nan),
         max(lag_during, default=math.nan)),
        ("  idle process beside it ms", max(ref_idle, default=math.nan),
         max(ref_during, default=math.nan)),
    ]  # fmt: skip
    for name, a, b in rows:
        print(f"{name:30}{a:10.1f}{b:10.1f}{b / a if a else math.nan:8.2f}")
    if failed:
        print(f"  ({failed} webhook requests answered other than 200)")
    p99_idle = pct([s.latency for s in idle], 99)
    p99_during = pct([s.latency for s in during], 99)
    stall = max(lag_during, default=math.nan)
    checks = [
        (f"all {len(expected)} e-mails within 5 min, none twice ({last:.0f} s)",
         all_in and duplicates == 0 and last <= TARGET_S),
        (f"webhook ack p99 during <= 2 x idle ({p99_during / p99_idle:.2f} x)",
         p99_during <= TARGET_P99_RATIO * p99_idle),
        (f"no event-loop stall over 100 ms ({stall:.0f} ms)", stall <= TARGET_STALL_MS),
    ]  # fmt: skip
    for name, ok in checks:
        print(f"  {'MET   ' if ok else 'MISSED'}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shops", type=int, default=1000, help="shops, one schedule each")
    parser.add_argument("--customers", type=int, default=5, help="customers per shop")
    parser.add_argument("--rate", type=float, default=20.0, help="webhook requests per second")
    parser.add_argument(
        "--idle-seconds", type=float, default=40.0, help="at least this long idle baseline"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="give up this long after the fire time"
    )
    parser.add_argument(
        "--settle", type=float, default=15.0, help="wait this long after the last e-mail"
    )
    parser.add_argument("--ticker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.ticker:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(reference_ticker())
        return
    report(args, asyncio.run(run(args)))


if __name__ == "__main__":
    main()
