"""One attempt at a claimed report delivery: build the e-mail, send it, record what happened.

The claim (`ShopDeliveries.claim`, `DeliveryQueue.take`) leases the delivery to this process.
While the attempt runs, the lease is renewed every third of its length; losing it (another
process took over after the lease ran out) stops the attempt before anything is sent. Right
before the message goes out the lease is confirmed once more. Afterwards the outcome is
recorded under the lease: sent; retrying (a temporary failure: no connection, a 4xx answer)
with backoff for about an hour; or failed (a 5xx answer, or the hour is over), with the
server's words kept. Recipients reached are never sent to again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any

from chatcrm.config import Settings
from chatcrm.domain import NotFoundError
from chatcrm.mailer import Mailer, MailError, SendResult
from chatcrm.store import Store
from chatcrm.store.schedules import (
    FAILED,
    MAX_ERROR_CHARS,
    RETRYING,
    SENT,
    DeliveryClaim,
    at_ms,
    ms_of,
)
from reports.exports import DEFAULT_LIMITS, ExportLimits, export_workdir
from reports.mail import compose
from reports.scheduled import FileLimits, build_report

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def real_clock() -> datetime:
    """The current time (UTC)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class DeliveryTuning:
    """Timings of deliveries; tests shorten them (and set the clock) to run in seconds."""

    lease_s: float = 120.0
    retry_base_s: float = 60.0
    """First retry delay; each next one doubles."""
    retry_window_s: float = 3600.0
    """Temporary failures are retried until this long after the first attempt."""
    attach_bytes: int = 10 * 1024 * 1024
    link_days: int = 7


class _Attempt:
    """The state of one attempt shared with its lease keeper."""

    def __init__(self, claim: DeliveryClaim, task: asyncio.Task[Any] | None) -> None:
        self.claim = claim
        self.task = task
        self.committed = False
        """The message is being handed over: too late to stop."""
        self.lost = False
        """Another process holds the delivery now."""


class Deliverer:
    """Runs claimed deliveries with the configured mailer."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        mailer: Mailer,
        tuning: DeliveryTuning | None = None,
        clock: Clock = real_clock,
        export_limits: ExportLimits = DEFAULT_LIMITS,
    ) -> None:
        self.store = store
        self.export_limits = export_limits
        self.settings = settings
        self.mailer = mailer
        self.tuning = tuning or DeliveryTuning(lease_s=float(settings.delivery_lease_seconds))
        self.clock = clock
        _, address = parseaddr(settings.mail_from)
        self.mail_domain = address.rpartition("@")[2] or "localhost"

    def message_id(self, claim: DeliveryClaim) -> str:
        """The delivery's Message-ID: the same at every attempt, so a mail system that sees a
        message twice (a crash right after the server took it) can tell it is one."""
        digest = hashlib.sha256(claim.id.encode()).hexdigest()[:32]
        return f"<{digest}@{self.mail_domain}>"

    def now_ms(self) -> int:
        """The clock's time in epoch milliseconds."""
        return ms_of(self.clock())

    @property
    def lease_ms(self) -> int:
        """The length of a lease."""
        return int(self.tuning.lease_s * 1000)

    async def send_test(self, schedule: dict[str, Any], actor: str) -> dict[str, Any]:
        """Send `schedule`'s report now as a test (its own delivery); return the delivery."""
        deliveries = self.store.for_shop(schedule["shop_id"]).deliveries
        now = self.now_ms()
        claim = await deliveries.claim(
            schedule, now, now_ms=now, lease_ms=self.lease_ms, kind="test", actor=actor
        )
        assert claim is not None  # a test send's id is new every time
        await asyncio.shield(self.run(claim))
        doc = await deliveries.get(claim.id)
        assert doc is not None
        return doc

    async def run(self, claim: DeliveryClaim) -> str:
        """Make one attempt; return the state recorded (``lost``: another process has it)."""
        attempt = _Attempt(claim, asyncio.current_task())
        keeper = asyncio.create_task(self._keep_lease(attempt), name=f"lease-{claim.id}")
        try:
            return await self._attempt(attempt)
        except asyncio.CancelledError:
            if attempt.lost and attempt.task is not None and attempt.task.uncancel() == 0:
                return "lost"
            if not attempt.committed:  # shutting down: let another process have it at once
                await asyncio.shield(self._release(claim))
            raise
        finally:
            keeper.cancel()

    async def _keep_lease(self, attempt: _Attempt) -> None:
        deliveries = self.store.for_shop(attempt.claim.shop_id).deliveries
        while True:
            await asyncio.sleep(self.tuning.lease_s / 3)
            try:
                held = await deliveries.renew(attempt.claim, self.now_ms() + self.lease_ms)
            except Exception:  # the database may be back before the lease runs out
                log.warning("could not renew the lease of %s", attempt.claim.id, exc_info=True)
                continue
            if not held:
                attempt.lost = True
                if not attempt.committed and attempt.task is not None:
                    attempt.task.cancel()
                return

    async def _release(self, claim: DeliveryClaim) -> None:
        with contextlib.suppress(Exception):
            deliveries = self.store.for_shop(claim.shop_id).deliveries
            await deliveries.finish(claim, {"state": RETRYING, "due_ms": self.now_ms()})

    async def _attempt(self, attempt: _Attempt) -> str:
        claim = attempt.claim
        shop_store = self.store.for_shop(claim.shop_id)
        result, rows = SendResult(), None
        try:
            result, rows = await self._build_and_send(attempt)
        except asyncio.CancelledError:
            raise
        except _Lost:
            return "lost"
        except MailError as err:
            outcome = self._failure(claim, str(err), temporary=err.temporary)
        except NotFoundError as err:
            outcome = self._failure(claim, str(err), temporary=False)
        except Exception as err:  # the database, the export writer: worth trying again
            log.exception("report delivery %s failed", claim.id)
            outcome = self._failure(claim, f"{type(err).__name__}: {err}", temporary=True)
        else:
            outcome = self._after_send(claim, result, rows)
        if not await shop_store.deliveries.finish(claim, outcome):
            log.warning("delivery %s: lease lost before its outcome was recorded", claim.id)
        if attempt.committed:
            await self._audit(shop_store, claim, result, rows, outcome)
        log.info("report delivery %s: %s", claim.id, outcome["state"])
        return str(outcome["state"])

    async def _build_and_send(self, attempt: _Attempt) -> tuple[SendResult, int | None]:
        claim = attempt.claim
        shop_store = self.store.for_shop(claim.shop_id)
        shop = await self.store.shops.get(claim.shop_id)
        schedule = await shop_store.schedules.get(claim.schedule_id)
        if shop is None or schedule is None:
            raise NotFoundError("the report schedule no longer exists")
        limits = FileLimits(
            self.tuning.attach_bytes, self.settings.public_url, self.tuning.link_days
        )
        async with export_workdir() as workdir:
            mail = await build_report(
                shop_store,
                shop,
                schedule,
                at_ms(claim.fire_ms),
                actor=claim.actor,
                workdir=workdir,
                limits=limits,
                now=self.clock(),
                export_limits=self.export_limits,
            )
            message = await asyncio.to_thread(
                compose,
                mail,
                sender=self.settings.mail_from,
                recipients=list(claim.recipients),
                message_id=self.message_id(claim),
                now=self.clock(),
            )
        if not await shop_store.deliveries.renew(claim, self.now_ms() + self.lease_ms):
            raise _Lost
        attempt.committed = True
        result = await self.mailer.send(
            message, sender=self.settings.mail_from, recipients=claim.pending, name=claim.id
        )
        return result, mail.rows

    def _after_send(
        self, claim: DeliveryClaim, result: SendResult, rows: int | None
    ) -> dict[str, Any]:
        """The outcome of an attempt the server answered."""
        refusals = {**result.refused, **result.deferred}
        error = "; ".join(f"{who}: {answer}" for who, answer in refusals.items()) or None
        delivered = [*claim.delivered_to, *result.accepted]
        fields: dict[str, Any] = {
            "delivered_to": delivered,
            "rows": rows,
            "message_id": self.message_id(claim),
            "updated_ms": self.now_ms(),
        }
        if result.accepted:
            fields["sent_ms"] = self.now_ms()
        if result.deferred:
            return {**fields, **self._failure(claim, error or "", temporary=True)}
        state = SENT if delivered else FAILED
        return {**fields, "state": state, "due_ms": None, "last_error": error}

    def _failure(self, claim: DeliveryClaim, error: str, *, temporary: bool) -> dict[str, Any]:
        """Retry later with backoff, within the retry window; else failed for good."""
        now = self.now_ms()
        error = error[:MAX_ERROR_CHARS]
        fields: dict[str, Any] = {"last_error": error, "updated_ms": now}
        if temporary:
            window_end = claim.first_attempt_ms + int(self.tuning.retry_window_s * 1000)
            delay = int(self.tuning.retry_base_s * 1000 * 2 ** (claim.attempts - 1))
            if now < window_end:  # the last try comes at the window's end
                return {**fields, "state": RETRYING, "due_ms": min(now + delay, window_end)}
            fields["last_error"] = f"gave up after {claim.attempts} attempts: {error}"
        return {**fields, "state": FAILED, "due_ms": None}

    async def _audit(
        self,
        shop_store: Any,
        claim: DeliveryClaim,
        result: SendResult,
        rows: int | None,
        outcome: dict[str, Any],
    ) -> None:
        """Every send in the audit trail: schedule, recipients reached, rows (after the outcome
        is recorded: a failure here must not make the delivery look unsent)."""
        try:
            await shop_store.audit.record(
                claim.actor,
                "report.send",
                schedule_id=claim.schedule_id,
                delivery_id=claim.id,
                kind=claim.kind,
                fire_time=at_ms(claim.fire_ms),
                recipients=result.accepted,
                refused=sorted({**result.refused, **result.deferred}),
                rows=rows,
                state=outcome["state"],
                last_error=outcome.get("last_error"),
                message_id=self.message_id(claim),
                via=result.where,
            )
        except Exception:
            log.warning("delivery %s: not recorded in the audit trail", claim.id, exc_info=True)


class _Lost(Exception):
    """Another process took the delivery over."""
