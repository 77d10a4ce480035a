"""Ingest benchmark: signed LINE webhooks against `chatcrm serve` and a raw-insert baseline.

Run from the repository root: ``.venv/bin/python bench/ingest.py``. Prints acked events/s,
p50/p99 acknowledge latency, p99 acknowledge -> customer visible, both apps side by side.

The throughput run is done in rounds, each the baseline then chatcrm back to back (seconds
apart, so both see the same background load on a shared machine), chatcrm's backlog drained
before the next round; the figures pool every round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from pymongo import AsyncMongoClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed import BATCH, make_customers  # noqa: E402
from chatcrm.secrets_box import SecretBox  # noqa: E402
from chatcrm.store import Store  # noqa: E402
from tests.fakes.line import FakeLine  # noqa: E402
from tests.fakes.signing import line_signature  # noqa: E402

SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "bench-line-token"
EVENTS_PER_REQUEST = 5
CONCURRENCY = 16
REQUESTS = 300  # per throughput run: 1,500 events
PACED_RATE = 200  # events/s for the visibility run
PACED_SECONDS = 10
WORKERS = 4
ROUNDS = 3  # throughput rounds, pooled: the machine's load drifts between runs
CUSTOMERS = 0  # customers in the shop before the rounds (--customers)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def line_text(
    user: str, text: str, event_id: str, reply_token: str, message_id: str
) -> dict[str, Any]:
    """One LINE text message event of `user` in a one-to-one chat."""
    return {
        "type": "message",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "webhookEventId": event_id,
        "deliveryContext": {"isRedelivery": False},
        "replyToken": reply_token,
        "message": {"id": message_id, "type": "text", "text": text},
    }


def line_body(events: list[dict[str, Any]]) -> bytes:
    """A LINE webhook body carrying `events`."""
    return json.dumps({"destination": "U" + "0" * 32, "events": events}).encode()


def body_for(run: str, batch: int) -> tuple[bytes, list[str]]:
    users = [
        f"U{abs(hash(run)) % 10**8:08d}{batch:012d}{i:012d}" for i in range(EVENTS_PER_REQUEST)
    ]
    events = [
        line_text(user, "สนใจสินค้าค่ะ", f"{run}-{batch}-{i}", f"rt{batch}{i}", f"{run}{batch}{i:03d}")
        for i, user in enumerate(users)
    ]
    return line_body(events), users


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


async def load(
    url: str, run: str, requests: int, *, concurrency: int = CONCURRENCY, rate: float | None = None
) -> dict[str, Any]:
    """Send signed requests; return ack latencies, ack times per user, wall time."""
    latencies: list[float] = []
    acked: dict[str, float] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)
    start = time.monotonic()

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            i = queue.get_nowait()
            if rate is not None:  # paced: request i leaves at its slot
                await asyncio.sleep(
                    max(0.0, start + i * EVENTS_PER_REQUEST / rate - time.monotonic())
                )
            body, users = body_for(run, i)
            headers = {"X-Line-Signature": line_signature(SECRET, body)}
            t0 = time.monotonic()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
            t1 = time.monotonic()
            latencies.append(t1 - t0)
            for user in users:
                acked[user] = t1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        await asyncio.gather(*(client(s) for _ in range(concurrency)))
    wall = time.monotonic() - start
    return {
        "latencies": latencies,
        "acked": acked,
        "wall": wall,
        "events": requests * EVENTS_PER_REQUEST,
    }


async def watch_visible(
    uri: str, shop_id: str, users: set[str], done: asyncio.Event, seen: dict[str, float]
) -> None:
    """Record when each user's customer document first shows up (polled every 20 ms).

    One query per poll for the user-id range from the oldest user not seen yet (user ids sort
    in sending order): `$eq`/`$gte`/`$lte` on the customer_identity key, which nx-27017 serves
    from that index, so the poll reads only recent customers. (An `$in` of the waiting ids
    made nx-27017 read every customer at every poll, loading the server under test.)
    """
    client: AsyncMongoClient = AsyncMongoClient(uri)
    coll = client["chatcrm"]["customers"]
    try:
        while not (done.is_set() and not (users - seen.keys())):
            waiting = users - seen.keys()
            if waiting:
                found = coll.find(
                    {
                        "shop_id": {"$eq": shop_id},
                        "channel": {"$eq": "line"},
                        "platform_user_id": {"$gte": min(waiting), "$lte": max(waiting)},
                    },
                    {"platform_user_id": 1},
                )
                now = time.monotonic()
                async for doc in found:
                    if doc["platform_user_id"] in users:
                        seen.setdefault(doc["platform_user_id"], now)
            await asyncio.sleep(0.02)
    finally:
        await client.close()


async def inbox_done(uri: str) -> float:
    """Wait until no inbox event is pending or processing (polled every 20 ms); return when.

    Only such events have a ``due_ms``: a range on it is served by the index ``claim_due``.
    """
    client: AsyncMongoClient = AsyncMongoClient(uri)
    try:
        inbox = client["chatcrm"]["inbox"]
        while True:
            if await inbox.find_one({"due_ms": {"$gte": 0}}, {"_id": 1}) is None:
                return time.monotonic()
            await asyncio.sleep(0.02)
    finally:
        await client.close()


def cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "chatcrm.cli", *args, "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return json.loads(out.stdout)


def service_env(tmp: Path, fake: FakeLine) -> dict[str, str]:
    """The environment of `chatcrm serve` and the CLI: the embedded default in `tmp`, LINE at
    `fake`, WORKERS inbox workers."""
    env = {
        **os.environ,
        "CHATCRM_DATA_DIR": str(tmp),
        "LINE_API_BASE_URL": fake.base_url,
        "CHATCRM_INBOX_WORKERS": str(WORKERS),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("MONGODB_URI", None)
    env.pop("CHATCRM_PUBLIC_URL", None)
    return env


def line_shop(env: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new shop (the CLI's answer: id, owner token) and its LINE channel (webhook path)."""
    shop = cli(env, "shop", "create", "Bench shop")
    channel = cli(
        env, "channel", "add", "--shop", shop["shop_id"], "--platform", "line",
        "--channel-secret", SECRET, "--access-token", TOKEN,
    )  # fmt: skip
    return shop, channel


class CpuMeter:
    """CPU seconds (user + system) spent by the processes under test, read between phases.

    Wall time on a shared 2-core machine swings with other people's load; the CPU each process
    spends per request does much less, so it tells which process costs more from round to round.
    """

    def __init__(self, service: int, baseline: int) -> None:
        nx = [p for p in psutil.Process(service).children() if "nx_27017" in " ".join(p.cmdline())]
        self.procs = {
            "service": psutil.Process(service),
            "nx-27017": nx[0],
            "baseline": psutil.Process(baseline),
        }
        self.last = self.read()

    def read(self) -> dict[str, float]:
        return {name: sum(p.cpu_times()[:2]) for name, p in self.procs.items()}

    def lap(self) -> dict[str, float]:
        """CPU seconds of each process since the previous lap."""
        now = self.read()
        spent = {name: now[name] - self.last[name] for name in now}
        self.last = now
        return spent


def cpu_line(svc: dict[str, Any], base: dict[str, Any]) -> str:
    """One round's CPU per request of each process, in ms: while acknowledging, and draining."""

    def ms(cpu: dict[str, float], name: str) -> str:
        return f"{cpu[name] * 1000 / REQUESTS:.2f}"

    a, d, b = svc["cpu"], svc["drain cpu"], base["cpu"]
    return (
        f"CPU ms/request: chatcrm acks {ms(a, 'service')} + nx {ms(a, 'nx-27017')}, "
        f"drain {ms(d, 'service')} + nx {ms(d, 'nx-27017')} "
        f"(settled {svc['settled']:.1f}s after visible); "
        f"baseline {ms(b, 'baseline')} + nx {ms(b, 'nx-27017')}"
    )


async def seed_customers(uri: str, shop_id: str, count: int) -> None:
    """Put `count` generated customers (`bench.seed.make_customers`) in the shop, so the rounds
    run against a shop of a realistic size: a cost that grows with the customers shows."""
    store = Store.connect(uri, "chatcrm", SecretBox(SecretBox.generate_key()), timeout_ms=600000)
    try:
        customers = store.for_shop(shop_id).customers
        for offset in range(0, count, BATCH):
            docs = make_customers(shop_id, min(BATCH, count - offset), seed=offset)
            for j, doc in enumerate(docs):
                doc["_id"] = doc["_key"] = f"cus_seed_{offset + j:07d}"
            await customers.insert_new(docs)
    finally:
        await store.client.close()


def pooled(results: list[dict[str, Any]]) -> dict[str, float]:
    """Events/s over all rounds' wall time; p50/p99 over all rounds' latencies."""
    lat = [x for r in results for x in r["latencies"]]
    return {
        "events/s": sum(r["events"] for r in results) / sum(r["wall"] for r in results),
        "p50 ms": pct(lat, 50) * 1000,
        "p99 ms": pct(lat, 99) * 1000,
    }


async def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="chatcrm-bench-"))
    fake = await FakeLine(access_token=TOKEN).start()
    env = service_env(tmp, fake)
    shop, channel = line_shop(env)
    shop_id = shop["shop_id"]
    port = free_port()
    service = subprocess.Popen(
        [sys.executable, "-m", "chatcrm.cli", "serve", "--port", str(port)], env=env
    )
    baseline: subprocess.Popen[bytes] | None = None
    paced_requests = PACED_RATE * PACED_SECONDS // EVENTS_PER_REQUEST
    svc: list[dict[str, Any]] = []
    base: list[dict[str, Any]] = []
    drains: list[tuple[float, float]] = []  # (events/s processed, seconds after the last ack)
    try:
        await wait_http(f"http://127.0.0.1:{port}/healthz")
        state = json.loads((tmp / "nx-27017.json").read_text())
        uri = f"mongodb://127.0.0.1:{state['port']}/?directConnection=true"
        url = f"http://127.0.0.1:{port}{channel['webhook_path']}"
        await seed_customers(uri, shop_id, CUSTOMERS)
        runs = {"warm": 20, "paced": paced_requests}
        runs.update({f"tput{r}": REQUESTS for r in range(ROUNDS)})
        for run, requests in runs.items():  # profiles for every user the bench sends
            for i in range(requests):
                for user in body_for(run, i)[1]:
                    fake.add_profile(user, f"ลูกค้า {user[-6:]}")
        # the baseline: one insert_one per request, on the same embedded database server
        bport = free_port()
        baseline = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "baseline.py"), "--uri", uri,
             "--port", str(bport)]
        )  # fmt: skip
        await wait_http(f"http://127.0.0.1:{bport}/")
        burl = f"http://127.0.0.1:{bport}/webhooks/line/baseline"
        await load(url, "warm", 20, concurrency=4)
        await load(burl, "warm", 20, concurrency=4)
        await inbox_done(uri)
        meter = CpuMeter(service.pid, baseline.pid)

        # 1. throughput at fixed concurrency: baseline then chatcrm, back to back, in rounds
        for r in range(ROUNDS):
            meter.lap()
            base.append(await load(burl, f"tput{r}", REQUESTS))
            base[-1]["cpu"] = meter.lap()
            svc.append(await load(url, f"tput{r}", REQUESTS))
            svc[-1]["cpu"] = meter.lap()
            # let chatcrm's backlog drain before the next round, so each starts clean
            users = {u for i in range(REQUESTS) for u in body_for(f"tput{r}", i)[1]}
            seen: dict[str, float] = {}
            drained = asyncio.Event()
            drained.set()
            await watch_visible(uri, shop_id, users, drained, seen)
            first_ack, last_ack = min(svc[-1]["acked"].values()), max(svc[-1]["acked"].values())
            last_seen = max(seen.values())
            drains.append((len(users) / (last_seen - first_ack), last_seen - last_ack))
            svc[-1]["settled"] = await inbox_done(uri) - last_seen
            svc[-1]["drain cpu"] = meter.lap()

        # 2. acknowledge -> visible at a paced 200 events/s
        users = {u for i in range(paced_requests) for u in body_for("paced", i)[1]}
        seen = {}
        done = asyncio.Event()
        watcher = asyncio.create_task(watch_visible(uri, shop_id, users, done, seen))
        paced = await load(url, "paced", paced_requests, concurrency=32, rate=PACED_RATE)
        done.set()
        await asyncio.wait_for(watcher, 120)
        visible = [seen[u] - paced["acked"][u] for u in users]
    finally:
        if baseline is not None:
            baseline.terminate()
            baseline.wait(10)
        service.terminate()
        service.wait(30)
        await fake.close()

    s, b = pooled(svc), pooled(base)
    print(
        f"\nIngest benchmark: {REQUESTS} signed LINE requests x {EVENTS_PER_REQUEST} events, "
        f"concurrency {CONCURRENCY}, embedded nx-27017, {WORKERS} inbox workers; "
        f"{ROUNDS} rounds of baseline then chatcrm, pooled; {CUSTOMERS:,} customers in the "
        "shop beforehand"
    )
    print(f"{'':28}{'chatcrm':>12}{'baseline':>12}{'ratio':>10}")
    for key in ("events/s", "p50 ms", "p99 ms"):
        print(f"{'acked ' + key:28}{s[key]:12.1f}{b[key]:12.1f}{s[key] / b[key]:10.2f}")
    rate = sum(d[0] for d in drains) / len(drains)
    after = sum(d[1] for d in drains) / len(drains)
    print(
        f"{'worker drain events/s':28}{rate:12.1f}"
        f"   (each round's backlog drained {after:.1f}s after its last ack, on average)"
    )
    for r in range(ROUNDS):
        rs, rb = pooled([svc[r]]), pooled([base[r]])
        print(
            f"  round {r + 1}: events/s {rs['events/s']:.0f} / {rb['events/s']:.0f}, "
            f"p99 ms {rs['p99 ms']:.1f} / {rb['p99 ms']:.1f} (chatcrm / baseline)"
        )
        print("    " + cpu_line(svc[r], base[r]))
    print(
        f"\nack -> customer visible at {PACED_RATE} events/s for {PACED_SECONDS}s "
        f"({len(users)} events): p50 {pct(visible, 50) * 1000:.0f} ms, "
        f"p99 {pct(visible, 99) * 1000:.0f} ms, "
        f"max {max(visible) * 1000:.0f} ms; achieved {len(users) / paced['wall']:.0f} events/s"
    )
    checks = [
        ("throughput >= 0.7 x baseline", s["events/s"] >= 0.7 * b["events/s"]),
        ("p99 ack <= 2 x baseline", s["p99 ms"] <= 2 * b["p99 ms"]),
        ("ack->visible p99 < 1 s at 200 events/s", pct(visible, 99) < 1.0),
    ]
    for name, ok in checks:
        print(f"  {'MET ' if ok else 'MISSED'}  {name}")


def parse_args() -> None:
    """--help without running; --rounds sets how many throughput rounds are pooled,
    --customers how many customers the shop has before them."""
    global ROUNDS, CUSTOMERS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="throughput rounds (3)")
    parser.add_argument(
        "--customers", type=int, default=CUSTOMERS, help="customers in the shop beforehand (0)"
    )
    args = parser.parse_args()
    ROUNDS, CUSTOMERS = args.rounds, args.customers


if __name__ == "__main__":
    parse_args()
    asyncio.run(main())
