"""Customers for the report and merge benchmarks: generated shops and timing helpers.

Not a benchmark itself (answers --help only): `bench/report.py` and `bench/merges.py` load
their shops with `make_customers` and time with `timed`.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chatcrm.domain import new_customer_fields  # noqa: E402
from chatcrm.embedded import EmbeddedMongo  # noqa: E402
from chatcrm.provinces import all_provinces, province_key  # noqa: E402

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
BATCH = 5000
TZ = "Asia/Bangkok"
FIRST = ("สมชาย", "สมหญิง", "สุภาพร", "ณัฐพล", "ธนากร", "Nok", "Ploy", "Bee", "Mint", "Tong")
LAST = ("ใจดี", "ศรีสุข", "วงศ์ไทย", "Saetang", "Srisuk", "")
CHANNELS = (("line", 52), ("telegram", 28), ("messenger", 15), ("instagram", 5))
TAGS = (("VIP", 0.08), ("COD", 0.08), ("ส่งฟรี", 0.06), ("ลูกค้าประจำ", 0.05), ("รอโอน", 0.04))
BIG = {"Bangkok": 30, "Nonthaburi": 6, "Samut Prakan": 5, "Chiang Mai": 5, "Chon Buri": 4}


@contextlib.contextmanager
def embedded_database() -> Iterator[tuple[str, Path]]:
    """A fresh embedded nx-27017 in a temporary directory: its URI and the directory, both gone
    when the block ends."""
    with tempfile.TemporaryDirectory(prefix="chatcrm-bench-") as tmp:
        server = EmbeddedMongo(Path(tmp))
        try:
            yield server.start(), Path(tmp)
        finally:
            server.stop()


def make_customers(shop_id: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` customer documents with chat-commerce-like distributions."""
    rng = random.Random(seed)
    provinces = all_provinces()
    weights = [BIG.get(p.name_en, 1) for p in provinces]
    channels, channel_weights = zip(*CHANNELS, strict=True)
    docs = []
    for i in range(n):
        cid = f"cus_{shop_id[-4:]}_{i:07d}"
        channel = rng.choices(channels, channel_weights)[0]
        orders = rng.choices((0, 1, 2, 3, 5, 8, 15), (35, 25, 15, 10, 8, 5, 2))[0]
        paid = sum(rng.randint(150, 4000) * 100 for _ in range(orders))
        first_seen = NOW - timedelta(seconds=int(548 * 86400 * rng.random() ** 1.8))
        updated = first_seen + (NOW - first_seen) * rng.random() ** 0.5
        province = postal = None
        roll = rng.random()
        if roll < 0.85:
            p = rng.choices(provinces, weights)[0]
            postal = (rng.choice(p.postal_prefixes) + "00000")[:3] + f"{rng.randrange(100):02d}"
            province = p.name_th if roll < 0.45 else (p.name_en if roll < 0.65 else None)
        tags = [t for t, share in TAGS if rng.random() < share]
        if paid >= 1_000_000 and "VIP" not in tags and rng.random() < 0.7:
            tags.append("VIP")
        known = rng.random() < 0.4  # most chat contacts give no phone or e-mail
        doc = {
            **new_customer_fields(),
            "_id": cid,
            "_key": cid,
            "shop_id": shop_id,
            "channel": channel,
            "channel_id": f"ch_{channel}",
            "platform_user_id": f"U{rng.getrandbits(128):032x}",
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}".strip()
            if rng.random() < 0.9
            else None,
            "phone": f"08{rng.randrange(10**8):08d}" if known else None,
            "email": f"user{i}@example.com" if known and rng.random() < 0.4 else None,
            "province": province,
            "postal_code": postal,
            "tags": tags,
            "status": rng.choices(("following", "unfollowed", "blocked"), (88, 8, 4))[0],
            "paid_total": paid,
            "order_count": orders,
            "unpaid_total": rng.choice((0, 0, 0, 0, 49000)),
            "last_order_at": (updated - timedelta(hours=rng.randint(0, 500))) if orders else None,
            "first_seen_at": first_seen,
            "last_contact_at": updated,
            "updated_at": updated.replace(microsecond=updated.microsecond // 1000 * 1000),
        }
        doc["province_key"] = province_key(province, postal)
        docs.append(doc)
    return docs


async def timed(fn: Callable[[], Awaitable[Any]], runs: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds of `runs` calls (after one warm-up)."""
    p50, p95, _ = await sampled(fn, runs, float("inf"))
    return p50, p95


async def sampled(
    fn: Callable[[], Awaitable[Any]], runs: int, budget: float
) -> tuple[float, float, int]:
    """p50 and p95 in milliseconds, and how many runs: `runs` calls after one warm-up, or
    fewer once `budget` seconds have gone by (at least one; a warm-up slower than the budget
    is the only sample)."""
    start = time.perf_counter()
    await fn()
    warm_up = (time.perf_counter() - start) * 1000
    samples: list[float] = []
    while len(samples) < runs:
        spent = time.perf_counter() - start
        if spent >= budget and (samples or warm_up >= budget * 1000):
            break
        t0 = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples = sorted(samples) or [warm_up]
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, len(samples)


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
