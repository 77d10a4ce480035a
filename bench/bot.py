"""Bot benchmark: chat admins' commands answered while ordinary LINE traffic is ingested.

Runs `chatcrm serve` on the embedded default as a subprocess (shop and LINE channel made with
the CLI, `LINE_API_BASE_URL` pointed at a fake LINE in this process, 4 inbox workers), seeds
customers through webhooks, links chat admins through the real flow (a link code from the API,
then ``/link CODE`` typed to the shop's LINE OA), then sends commands as signed LINE webhooks,
paced, in turn from the admins: first on the idle service (the baseline), then while ordinary
messages arrive at 200 events/s. A command's latency runs from its webhook's acknowledgement to
its answer reaching the fake LINE's reply API. Prints p50/p95 of both phases side by side, and
MET/MISSED against the target: 2 s (p95) under load.

    .venv/bin/python bench/bot.py [--commands 40] [--rate 200] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import (  # noqa: E402
    EVENTS_PER_REQUEST,
    SECRET,
    TOKEN,
    WORKERS,
    body_for,
    free_port,
    line_body,
    line_shop,
    line_text,
    load,
    pct,
    service_env,
    wait_http,
    watch_visible,
)
from chatcrm.bot.lane import RATE_LIMIT  # noqa: E402
from tests.fakes.line import FakeLine  # noqa: E402
from tests.fakes.signing import line_signature  # noqa: E402

COMMANDS = ("/top", "/report today", "/help", "/customer ลูกค้า 00")
"""Sent in turn; /customer searches like the report's q (the slowest lookup on nx-27017)."""
TARGET_SECONDS = 2.0
SEED_REQUESTS = 200
"""Requests of 5 events that make the customers the commands look up (1,000)."""
RAMP_SECONDS = 2.0
"""Ordinary traffic runs this long before the first command, and after the last."""
ANSWER_TIMEOUT = 60.0


class StampedSent(list[dict[str, Any]]):
    """The fake LINE's record of sends, stamping when each reply token's answer arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def expect(self, reply_token: str) -> asyncio.Future[float]:
        """A future of the moment the answer to `reply_token` arrives."""
        future = asyncio.get_running_loop().create_future()
        self.waiting[reply_token] = future
        return future

    def append(self, item: dict[str, Any]) -> None:
        super().append(item)
        future = self.waiting.pop(str(item.get("replyToken")), None)
        if future is not None and not future.done():
            future.set_result(time.monotonic())


@dataclass
class Service:
    """The running service as the bench drives it."""

    webhook: str
    api: str
    token: str
    sent: StampedSent
    session: aiohttp.ClientSession
    serial: int = 0

    async def command(self, admin: str, text: str) -> tuple[float | None, str]:
        """Type `text` as `admin`; seconds from the webhook's ack to the answer (None: no
        answer within ANSWER_TIMEOUT), and the answer's first text."""
        self.serial += 1
        reply_token = f"cmd-{self.serial}"
        answered = self.sent.expect(reply_token)
        event = line_text(admin, text, reply_token, reply_token, f"9{self.serial:09d}")
        body = line_body([event])
        headers = {"X-Line-Signature": line_signature(SECRET, body)}
        async with self.session.post(self.webhook, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"command webhook: HTTP {resp.status}")
        acked = time.monotonic()
        try:
            arrived = await asyncio.wait_for(answered, ANSWER_TIMEOUT)
        except TimeoutError:
            return None, ""
        [sent] = [s for s in self.sent if s.get("replyToken") == reply_token]
        return max(0.0, arrived - acked), str(sent["messages"][0].get("text", ""))

    async def link(self, admin: str) -> None:
        """Make `admin` a chat admin: a code from the API, then ``/link CODE`` on LINE."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.session.post(
            f"{self.api}/api/v1/chat-admins/link-codes", json={"role": "owner"}, headers=headers
        ) as resp:
            if resp.status != 201:
                raise RuntimeError(f"link code: HTTP {resp.status}: {await resp.text()}")
            code = (await resp.json())["code"]
        latency, answer = await self.command(admin, f"/link {code}")
        if latency is None or not answer.startswith(("ผูกแชทนี้", "This chat is now linked")):
            raise RuntimeError(f"/link was not confirmed: {answer!r}")


Latencies = list[tuple[str, float | None]]
"""Each command sent and its ack -> answer seconds (None: unanswered)."""


async def commands(service: Service, admins: list[str], n: int, interval: float) -> Latencies:
    """`n` commands, one every `interval` seconds, admins and COMMANDS in turn."""
    start = time.monotonic()

    async def one(i: int) -> tuple[str, float | None]:
        await asyncio.sleep(max(0.0, start + i * interval - time.monotonic()))
        text = COMMANDS[i % len(COMMANDS)]
        return text, (await service.command(admins[i % len(admins)], text))[0]

    return list(await asyncio.gather(*(one(i) for i in range(n))))


def figures(latencies: Latencies, command: str | None = None) -> dict[str, float]:
    """p50/p95/max in ms and the unanswered count, of one command or all."""
    mine = [x for text, x in latencies if command in (None, text)]
    answered = [x for x in mine if x is not None]
    return {
        "p50 ms": pct(answered, 50) * 1000,
        "p95 ms": pct(answered, 95) * 1000,
        "max ms": max(answered, default=float("nan")) * 1000,
        "unanswered": float(len(mine) - len(answered)),
    }


async def all_visible(uri: str, shop_id: str, run: str, requests: int) -> float:
    """When the last customer of the ordinary traffic `run` became visible (waits for it)."""
    users = {u for i in range(requests) for u in body_for(run, i)[1]}
    seen: dict[str, float] = {}
    done = asyncio.Event()
    done.set()
    await watch_visible(uri, shop_id, users, done, seen)
    return max(seen.values())


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="chatcrm-bench-bot-"))
    fake = await FakeLine(access_token=TOKEN).start()
    fake.sent = StampedSent()
    env = service_env(tmp, fake)
    shop, channel = line_shop(env)
    load_requests = int(args.rate * args.seconds) // EVENTS_PER_REQUEST
    for run, requests in (("seed", SEED_REQUESTS), ("ordinary", load_requests)):
        for i in range(requests):
            for user in body_for(run, i)[1]:
                fake.add_profile(user, f"ลูกค้า {user[-6:]}")
    # each admin stays well under the rate limit (RATE_LIMIT a minute) over both phases
    per_admin = RATE_LIMIT * 2 // 3
    admins = [f"Uad{i:030x}" for i in range(max(4, math.ceil(2 * args.commands / per_admin)))]
    interval = (args.seconds - 2 * RAMP_SECONDS) / args.commands
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "chatcrm.cli", "serve", "--port", str(port)], env=env
    )
    try:
        api = f"http://127.0.0.1:{port}"
        await wait_http(f"{api}/healthz")
        state = json.loads((tmp / "nx-27017.json").read_text())
        uri = f"mongodb://127.0.0.1:{state['port']}/?directConnection=true"
        webhook = f"{api}{channel['webhook_path']}"
        async with aiohttp.ClientSession() as session:
            service = Service(webhook, api, shop["token"], fake.sent, session)
            seeded = await load(webhook, "seed", SEED_REQUESTS)
            await all_visible(uri, shop["shop_id"], "seed", SEED_REQUESTS)
            for admin in admins:
                await service.link(admin)
            idle = await commands(service, admins, args.commands, interval)

            ordinary = asyncio.create_task(
                load(webhook, "ordinary", load_requests, concurrency=32, rate=args.rate)
            )
            await asyncio.sleep(RAMP_SECONDS)
            busy = await commands(service, admins, args.commands, interval)
            traffic = await ordinary
            visible = await all_visible(uri, shop["shop_id"], "ordinary", load_requests)
            backlog = visible - max(traffic["acked"].values())
    finally:
        server.terminate()
        server.wait(30)
        await fake.close()
    report(args, admins, interval, seeded, idle, busy, traffic, backlog)


def report(
    args: argparse.Namespace,
    admins: list[str],
    interval: float,
    seeded: dict[str, Any],
    idle: Latencies,
    busy: Latencies,
    traffic: dict[str, Any],
    backlog: float,
) -> None:
    a, b = figures(idle), figures(busy)
    print(
        f"\nBot benchmark: {args.commands} commands per phase ({', '.join(COMMANDS)} in turn, "
        f"one every {interval:.2f} s) from {len(admins)} chat admins linked on LINE; "
        f"{seeded['events']} customers seeded; embedded nx-27017, {WORKERS} inbox workers"
    )
    print(f"{'ack -> answer at fake LINE':32}{'idle':>12}{'under load':>12}")
    for key in ("p50 ms", "p95 ms", "max ms", "unanswered"):
        print(f"{key:32}{a[key]:12.0f}{b[key]:12.0f}")
    for command in COMMANDS:
        c, d = figures(idle, command), figures(busy, command)
        print(f"  {command:30}p95 {c['p95 ms']:7.0f}{d['p95 ms']:12.0f}")
    lat = traffic["latencies"]
    print(
        f"ordinary traffic meanwhile: {traffic['events']} events at "
        f"{traffic['events'] / traffic['wall']:.0f} events/s (asked {args.rate}), ack p50 "
        f"{pct(lat, 50) * 1000:.0f} ms, p99 {pct(lat, 99) * 1000:.0f} ms; its backlog drained "
        f"{backlog:.1f} s after its last ack"
    )
    met = b["p95 ms"] <= TARGET_SECONDS * 1000 and b["unanswered"] == 0
    print(
        f"  {'MET ' if met else 'MISSED'}  command answered within {TARGET_SECONDS:.0f} s (p95) "
        f"of its ack while {args.rate} events/s are ingested"
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=40, help="commands per phase")
    parser.add_argument("--rate", type=float, default=200, help="ordinary events/s under load")
    parser.add_argument(
        "--seconds", type=float, default=20, help="how long the ordinary traffic runs"
    )
    args = parser.parse_args()
    if args.seconds <= 2 * RAMP_SECONDS or args.commands < 1:
        parser.error(f"--seconds must exceed {2 * RAMP_SECONDS:.0f} and --commands be positive")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
