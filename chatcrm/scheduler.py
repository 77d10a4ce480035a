"""The report scheduler inside every service process: APScheduler fires, MongoDB decides who sends.

Each process keeps every enabled schedule in an in-memory APScheduler 3 `AsyncIOScheduler`
(never APScheduler's job stores: they must not be shared between processes), one job per
distinct trigger (cadence and time zone) serving all schedules that fire at the same instants.
When a job fires, every process tries to claim each of its schedules' delivery for that fire
time (`ShopDeliveries.claim`: the insert of a unique key); one wins and sends. Three
interval jobs complete the picture:

- sync: schedules changed by any process (the API of another instance, the CLI) are picked up
  within `sync_s`; a change made through this process applies at once (`refresh`);
- catch-up (at start-up and for each schedule synced): fire times since the schedule last
  fired, up to `lookback_s` back, are sent when less than `grace_s` (6 h) late, else recorded
  as skipped with the reason;
- poll: deliveries whose retry time came, or whose lease ran out (the process holding them
  died), are taken over (`DeliveryQueue.take`).

Deliveries run `parallel` at a time per process, each one claimed only when a worker is free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from chatcrm.delivery import Clock, Deliverer, DeliveryTuning, real_clock
from chatcrm.schedules import Cadence, fire_times, next_fire
from chatcrm.store import Store
from chatcrm.store.schedules import at_ms, ms_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerTuning:
    """Timings of the scheduler; tests shorten them and set the clock."""

    clock: Clock = real_clock
    delivery: DeliveryTuning | None = None
    """Leases, retries and attachments (None: the lease from CHATCRM_DELIVERY_LEASE_SECONDS)."""
    poll_s: float = 10.0
    """How often due retries and expired leases are looked for."""
    sync_s: float = 30.0
    """How often schedules changed by other processes are looked for."""
    sync_margin_s: float = 300.0
    """How far back each sync looks before the newest change it saw (clocks of processes
    differ and writes land out of order)."""
    grace_s: float = 6 * 3600.0
    """A missed fire time later than this is recorded as skipped instead of sent."""
    lookback_s: float = 7 * 86400.0
    """How far back start-up looks for missed fire times."""
    parallel: int = 4
    """Deliveries made at once by one process."""


@dataclass
class _Entry:
    """What this process knows of one schedule."""

    id: str
    shop_id: str
    version: int
    cadence: Cadence
    timezone: str
    enabled: bool
    active_since_ms: int
    last_fire_ms: int

    @property
    def key(self) -> str:
        """The trigger it shares with every schedule firing at the same instants."""
        return self.cadence.key(self.timezone)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> _Entry:
        """From a stored schedule."""
        return cls(
            id=doc["_id"],
            shop_id=doc["shop_id"],
            version=int(doc["version"]),
            cadence=Cadence.from_doc(doc["cadence"]),
            timezone=doc["timezone"],
            enabled=bool(doc.get("enabled")),
            active_since_ms=int(doc.get("active_since_ms") or 0),
            last_fire_ms=int(doc.get("last_fire_ms") or 0),
        )


@dataclass(frozen=True)
class _Work:
    """A fire time of a schedule to claim (`entry`), or a due delivery to take over (`due`)."""

    key: str
    entry: _Entry | None = None
    fire_ms: int = 0
    due: dict[str, Any] | None = None


class ReportScheduler:
    """Fires this process's report schedules and runs their deliveries."""

    def __init__(
        self, store: Store, deliverer: Deliverer, tuning: SchedulerTuning | None = None
    ) -> None:
        self.store = store
        self.deliverer = deliverer
        self.tuning = tuning or SchedulerTuning()
        self.clock = self.tuning.clock
        self.fires = 0
        """Trigger firings handled by this process (for operators and tests)."""
        self._aps: AsyncIOScheduler | None = None
        self._entries: dict[str, _Entry] = {}
        self._groups: dict[str, set[str]] = {}
        self._mark: int | None = None
        self._queue: asyncio.Queue[_Work] = asyncio.Queue()
        self._queued: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Load every schedule, catch up on missed fire times, start firing and polling."""
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # not every poll's INFO lines
        self._aps = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone=UTC)
        self._aps.start()
        self._workers = [
            asyncio.create_task(self._work(), name=f"report-delivery-{i}")
            for i in range(self.tuning.parallel)
        ]
        await self._sync()
        await self._poll()
        # overlapping runs are refused by `_once` (quietly: APScheduler's own limit logs warnings)
        every = {"trigger": "interval", "max_instances": 100, "coalesce": True}
        sync, poll = self._once(self._sync), self._once(self._poll)
        self._aps.add_job(sync, seconds=self.tuning.sync_s, id="report-sync", **every)
        self._aps.add_job(poll, seconds=self.tuning.poll_s, id="report-poll", **every)
        log.info(
            "report scheduler: %d schedules on %d triggers",
            sum(len(g) for g in self._groups.values()),
            len(self._groups),
        )

    @staticmethod
    def _once(job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """`job`, skipped while its previous run has not finished."""
        running = False

        async def run() -> None:
            nonlocal running
            if running:
                return
            running = True
            try:
                await job()
            finally:
                running = False

        return run

    async def stop(self) -> None:
        """Stop firing; deliveries in progress are cancelled (another process takes them)."""
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    @property
    def apscheduler(self) -> AsyncIOScheduler | None:
        """This process's APScheduler: one job per trigger, plus the sync and poll jobs."""
        return self._aps

    async def wait_idle(self) -> None:
        """Wait until every fire time and delivery queued in this process is handled."""
        await self._queue.join()

    async def refresh(self, doc: dict[str, Any]) -> None:
        """Apply a schedule changed through this process now, rather than at the next sync."""
        entry = self._apply(doc)
        if entry is not None:
            await self._catch_up([entry])

    def forget(self, schedule_id: str) -> None:
        """Stop firing a deleted schedule."""
        entry = self._entries.pop(schedule_id, None)
        if entry is not None:
            self._leave_group(entry)

    # --- what is scheduled -------------------------------------------------------------------

    async def _sync(self) -> None:
        """Pick up schedules changed since the last sync (all of them the first time)."""
        margin = int(self.tuning.sync_margin_s * 1000)
        since = None if self._mark is None else self._mark - margin
        docs = await self.store.schedule_feed.changed_since(since)
        changed = []
        for i, doc in enumerate(docs):
            entry = self._apply(doc)
            if entry is not None:
                changed.append(entry)
            self._mark = max(self._mark or 0, int(doc.get("changed_ms") or 0))
            if i % 100 == 99:
                await asyncio.sleep(0)  # a long first sync must not hold the event loop
        if self._mark is None:
            self._mark = ms_of(self.clock())
        await self._catch_up(changed)

    def _apply(self, doc: dict[str, Any]) -> _Entry | None:
        """Track a schedule as stored; the entry when it is enabled and new or changed."""
        old = self._entries.get(doc["_id"])
        if old is not None and old.version >= int(doc["version"]):
            return None
        entry = _Entry.from_doc(doc)
        if old is not None:
            entry.last_fire_ms = max(entry.last_fire_ms, old.last_fire_ms)
            self._leave_group(old)
        self._entries[entry.id] = entry
        if not entry.enabled:
            return None
        group = self._groups.setdefault(entry.key, set())
        group.add(entry.id)
        if len(group) == 1 and self._aps is not None:
            self._aps.add_job(
                self._fire,
                trigger=entry.cadence.trigger(entry.timezone),
                args=[entry.key],
                id=entry.key,
                replace_existing=True,
                misfire_grace_time=None,
                coalesce=True,
                max_instances=1,
            )
        return entry

    def _leave_group(self, entry: _Entry) -> None:
        group = self._groups.get(entry.key)
        if group is None:
            return
        group.discard(entry.id)
        if not group:
            del self._groups[entry.key]
            if self._aps is not None and self._aps.get_job(entry.key) is not None:
                self._aps.remove_job(entry.key)

    async def _fire(self, key: str) -> None:
        """APScheduler's job: the schedules sharing trigger `key` are due."""
        self.fires += 1
        await self._catch_up([self._entries[i] for i in list(self._groups.get(key, ()))])

    async def _catch_up(self, entries: Iterable[_Entry]) -> None:
        """Queue every fire time of `entries` since each last fired (and at most lookback)."""
        now = self.clock()
        start = now - timedelta(seconds=self.tuning.lookback_s)
        times: dict[str, list[int]] = {}
        work = []
        for i, entry in enumerate(entries):
            if entry.key not in times:
                fires = fire_times(entry.cadence, entry.timezone, start, now)
                times[entry.key] = [ms_of(t) for t in fires]
            since = max(entry.active_since_ms, entry.last_fire_ms)
            work += [_Work(f"fire:{entry.id}:{t}", entry, t) for t in times[entry.key] if t > since]
            if i % 100 == 99:
                await asyncio.sleep(0)
        random.shuffle(work)  # processes then meet on different schedules first
        for item in work:
            self._enqueue(item)

    async def _poll(self) -> None:
        """Queue the deliveries due again: a retry's time came, or a lease ran out."""
        due = await self.store.delivery_queue.due(ms_of(self.clock()), self.tuning.parallel * 4)
        for doc in due:
            self._enqueue(_Work(f"due:{doc['_id']}:{doc['attempts']}", due=doc))

    def _enqueue(self, item: _Work) -> None:
        if item.key not in self._queued:
            self._queued.add(item.key)
            self._queue.put_nowait(item)

    # --- deliveries --------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                if item.entry is not None:
                    await self._deliver_fire(item.entry, item.fire_ms)
                elif item.due is not None:
                    await self._take_over(item.due)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("report scheduler: %s failed", item.key)
            finally:
                self._queued.discard(item.key)
                self._queue.task_done()

    async def _deliver_fire(self, entry: _Entry, fire_ms: int) -> None:
        """Claim and send one fire time of a schedule, or record it as skipped when too late."""
        shop = self.store.for_shop(entry.shop_id)
        schedule = await shop.schedules.get(entry.id)
        if schedule is None:
            self.forget(entry.id)
            return
        if not self._still_due(schedule, fire_ms):
            self._apply(schedule)
            return
        now = self.clock()
        late, grace = now - at_ms(fire_ms), timedelta(seconds=self.tuning.grace_s)
        if late > grace:
            claim = None
            won = await shop.deliveries.skip(
                schedule, fire_ms, now_ms=ms_of(now), reason=_missed_reason(late, grace)
            )
        else:
            claim = await shop.deliveries.claim(
                schedule, fire_ms, now_ms=ms_of(now), lease_ms=self.deliverer.lease_ms
            )
            won = claim is not None
        entry.last_fire_ms = max(entry.last_fire_ms, fire_ms)
        if won:
            await shop.schedules.note_fire(entry.id, fire_ms)
        if claim is not None:
            await self.deliverer.run(claim)

    @staticmethod
    def _still_due(schedule: dict[str, Any], fire_ms: int) -> bool:
        """Whether the schedule as stored now is enabled and fires at `fire_ms`."""
        if not schedule.get("enabled") or fire_ms <= int(schedule.get("active_since_ms") or 0):
            return False
        cadence = Cadence.from_doc(schedule["cadence"])
        return ms_of(next_fire(cadence, schedule["timezone"], at_ms(fire_ms - 1))) == fire_ms

    async def _take_over(self, doc: dict[str, Any]) -> None:
        claim = await self.store.delivery_queue.take(
            doc, now_ms=ms_of(self.clock()), lease_ms=self.deliverer.lease_ms
        )
        if claim is not None:
            log.info("report delivery %s taken up again (attempt %d)", claim.id, claim.attempts)
            await self.deliverer.run(claim)


def _missed_reason(late: timedelta, grace: timedelta) -> str:
    return (
        "missed: no chatcrm process was running at the fire time, and "
        f"{late.total_seconds() / 3600:.1f} h later is too late to send it "
        f"(the limit is {grace.total_seconds() / 3600:g} h)"
    )
