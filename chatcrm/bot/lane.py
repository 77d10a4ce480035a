"""The command lane: answers chat admins' commands in-process, apart from the ingest backlog.

Two ways in, both after the event is durably in the inbox:
1. the webhook route offers every text that looks like a command (`offer`) as soon as the
   request's events are stored, so a command never waits behind queued ordinary events;
2. the inbox workers, which leave chat admins' events out of the customer data, offer every
   admin text and every ``/link`` (`offer_stored`): the durable path, for a command whose
   process stopped before its lane took it, and for an admin's plain text ("unknown command").

Exactly one answer per event: the lane claims the event by inserting its ``bot_commands``
document (``_id`` = the inbox id), so a redelivery, the second way in or another process finds
it claimed and says nothing. The claim holds a lease, renewed while answering; the answer is
recorded before anything is sent, and each send is marked before and after. A process that
dies mid-answer leaves its lease to expire; `sweep` (every process, every few seconds) takes
the claim over and sends what is left, skipping the one send that may have arrived already.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from chatcrm.bot.answers import Answer, Ask
from chatcrm.bot.commands import UNKNOWN, find, looks_like_command
from chatcrm.bot.split import split_message
from chatcrm.bot.texts import plain, say
from chatcrm.config import Settings
from chatcrm.domain import Channel, CustomerFilters, RawEvent, Shop, Sort, as_utc
from chatcrm.ingest.activity import IngestActivity
from chatcrm.store import ShopStore, Store
from chatcrm.store.base import DATABASE_ERRORS, Doc, utcnow
from chatcrm.store.chat_admins import Identity
from chatcrm.store.inbox import Claim, now_ms, raw_event_id
from connectors.base import ChatText, Connector, PlatformError
from connectors.pool import ConnectorPool
from reports.exports import ExportRequest, ExportTooLarge, export_customers, export_workdir

log = logging.getLogger(__name__)

RATE_LIMIT = 30
"""Commands answered per admin in any 60 s; the next gets one "slow down", later ones none."""
MAX_AGE = timedelta(minutes=10)
"""A command older than this (a backlog after an outage) is not answered any more."""
MAX_TAKEOVERS = 3
"""Claims taken over this often are given up (each answer attempt may have crashed)."""


@dataclass(frozen=True)
class Job:
    """A command-shaped text offered to the lane."""

    channel: Channel
    connector: Connector
    event_id: str
    text: ChatText


def _to_doc(text: ChatText) -> Doc:
    return {
        "user_id": text.user_id,
        "customer_channel": text.customer_channel,
        "text": text.text,
        "at": text.at,
        "reply_token": text.reply_token,
        "name": text.name,
        "recipient": dict(text.recipient),
    }


def _from_doc(doc: Doc) -> ChatText:
    return ChatText(**{**doc, "at": as_utc(doc.get("at")), "recipient": doc.get("recipient", {})})


def _groups(doc: Doc, per_send: int) -> list[tuple[int, int]]:
    """The sends of an answer as (first text, end) ranges; a document is a send of its own."""
    first = 1 if doc.get("document") else 0
    ranges = [(0, 1)] if first else []
    texts = len(doc["texts"])
    ranges += [(i, min(i + per_send, texts)) for i in range(first, texts, per_send)]
    return ranges


class CommandLane:
    """In-process tasks answering commands; any number of processes may run one."""

    def __init__(
        self,
        store: Store,
        pool: ConnectorPool,
        settings: Settings,
        *,
        workers: int = 4,
        lease_seconds: float = 20.0,
        sweep_seconds: float = 5.0,
        queue_size: int = 1000,
        activity: IngestActivity | None = None,
    ) -> None:
        self.store = store
        self.activity = activity or IngestActivity()
        """Shared with the process's inbox workers: their claims wait while commands are
        answered (as they do for acknowledgements; not while an export file is made), so a
        command's queries do not queue behind the backlog's on nx-27017, which runs one
        operation at a time."""
        self.pool = pool
        self.settings = settings
        self.workers = workers
        self.lease_seconds = lease_seconds
        self.sweep_seconds = sweep_seconds
        self.queue: asyncio.Queue[Job] = asyncio.Queue(queue_size)
        self._claimed: OrderedDict[str, None] = OrderedDict()
        self._locks: dict[Identity, tuple[asyncio.Lock, int]] = {}
        """A lock per chat identity with a command in hand, and how many tasks hold or await it."""

    # ---------------------------------------------------------------- ways in
    def offer(self, channel: Channel, connector: Connector, events: Sequence[RawEvent]) -> int:
        """Queue the command-shaped texts among a webhook's stored events; how many. No I/O."""
        queued = 0
        for event in events:
            text = connector.command_text(event.data)
            if text is not None and looks_like_command(text.text):
                event_id = raw_event_id(channel.shop_id, channel.platform, channel.id, event)
                queued += self._put(Job(channel, connector, event_id, text))
        return queued

    def offer_stored(self, claim: Claim, connector: Connector) -> None:
        """Queue an inbox event's text (an admin's, or a ``/link``) unless answered already."""
        if claim.id in self._claimed:
            return
        try:
            text = connector.command_text(json.loads(claim.raw))
        except (ValueError, TypeError, AttributeError):
            return
        if text is not None:
            self._put(Job(connector.channel, connector, claim.id, text))

    def _put(self, job: Job) -> bool:
        if job.event_id in self._claimed:
            return False
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            log.warning("command lane full: event %s left to the inbox workers", job.event_id)
            return False
        return True

    # ---------------------------------------------------------------- running
    async def run(self) -> None:
        """Answer queued commands and take over expired claims until cancelled."""
        tasks = [asyncio.create_task(self._consume()) for _ in range(self.workers)]
        tasks.append(asyncio.create_task(self._sweep_forever()))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def idle(self) -> None:
        """Return once every queued command is handled (tests and benchmarks)."""
        await self.queue.join()

    async def _consume(self) -> None:
        while True:
            job = await self.queue.get()
            try:
                with self.activity.acknowledging():
                    await self.handle(job)
            except DATABASE_ERRORS as err:
                log.warning("command lane: database unavailable: %s", err)
            except Exception:
                log.exception("command lane: event %s failed", job.event_id)
            finally:
                self.queue.task_done()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                await self.sweep()
            except DATABASE_ERRORS as err:
                log.warning("command lane sweep: database unavailable: %s", err)
            except Exception:
                log.exception("command lane sweep failed")

    @contextlib.asynccontextmanager
    async def _one_at_a_time(self, identity: Identity) -> AsyncIterator[None]:
        """Commands of one chat identity are handled in order (exact rate limits)."""
        lock, users = self._locks.get(identity, (asyncio.Lock(), 0))
        self._locks[identity] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[identity]
            if users == 1:
                del self._locks[identity]
            else:
                self._locks[identity] = (lock, users - 1)

    def _remember(self, event_id: str) -> None:
        self._claimed[event_id] = None
        if len(self._claimed) > 10_000:
            self._claimed.popitem(last=False)

    # ---------------------------------------------------------------- one command
    async def handle(self, job: Job) -> None:
        """Claim and answer one offered text, if its sender may be answered."""
        text = job.text
        if job.event_id in self._claimed or (text.at and utcnow() - text.at > MAX_AGE):
            return
        scoped = self.store.for_shop(job.channel.shop_id)
        async with self._one_at_a_time(text.identity):
            admin = await scoped.chat_admins.find(text.identity)
            found = find(text.text)
            if admin is None and (found is None or found[0].roles):
                return  # a customer's message: ingest stores it, nobody answers
            fields = {
                "platform": job.channel.platform,
                "channel_id": job.channel.id,
                "channel": text.customer_channel,
                "platform_user_id": text.user_id,
                "to": _to_doc(text),
            }
            lease = await scoped.bot_commands.claim(job.event_id, fields, self.lease_seconds)
            self._remember(job.event_id)
            if lease is None:
                return  # answered, or being answered, elsewhere
            doc = {**fields, "_id": job.event_id, "state": "claimed", "sent": 0, "sending": None}
            await self._complete(scoped, doc, lease, job.connector, admin)

    async def sweep(self) -> int:
        """Take over the claims whose process died while answering; how many were taken."""
        taken = await self.store.command_leases.take_expired(self.lease_seconds)
        for doc, lease in taken:
            scoped = self.store.for_shop(doc["shop_id"])
            channel = await self.store.channel_for_webhook(doc["platform"], doc["channel_id"])
            too_old = now_ms() - int(doc["at_ms"]) > MAX_AGE.total_seconds() * 1000
            if channel is None or too_old or doc.get("attempts", 1) > MAX_TAKEOVERS:
                await scoped.bot_commands.finish(doc["_id"], lease, outcome="abandoned")
                continue
            who = _from_doc(doc["to"])
            async with self._one_at_a_time(who.identity):
                with self.activity.acknowledging():
                    admin = await scoped.chat_admins.find(who.identity)
                    await self._complete(scoped, doc, lease, self.pool.get(channel), admin)
        return len(taken)

    @contextlib.asynccontextmanager
    async def _held(self, scoped: ShopStore, event_id: str, lease: str) -> AsyncIterator[None]:
        """Renew the claim's lease while the block runs (an export may take a while)."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.lease_seconds / 3)
                if not await scoped.bot_commands.renew(event_id, lease, self.lease_seconds):
                    return

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _complete(
        self, scoped: ShopStore, doc: Doc, lease: str, connector: Connector, admin: Doc | None
    ) -> None:
        """Answer a claimed event (unless its answer is recorded already), then send it."""
        shop = await self.store.shops.get(scoped.shop_id)
        if shop is None:
            await scoped.bot_commands.finish(doc["_id"], lease, outcome="no_shop")
            return
        async with self._held(scoped, doc["_id"], lease):
            fresh = doc["state"] == "claimed"
            if fresh:
                plan = await self._plan(scoped, shop, doc, connector, admin)
                if not await scoped.bot_commands.plan(doc["_id"], lease, plan):
                    return
                doc = {**doc, **plan}
                await self._audit(scoped, doc)
            await self._deliver(scoped, shop, doc, lease, connector, fresh=fresh)

    async def _plan(
        self, scoped: ShopStore, shop: Shop, doc: Doc, connector: Connector, admin: Doc | None
    ) -> Doc:
        """The answer to record before sending: outcome, command, texts, document."""
        who = _from_doc(doc["to"])
        command, args = find(who.text) or (UNKNOWN, who.text)
        answer = None
        if admin is not None:
            # heal a customer record an inbox worker created while the admin was linking
            await scoped.customers.set_chat_admin(who.identity, True)
            answer = await self._rate_limited(scoped, shop, who)
        ask = Ask(
            shop=shop,
            store=scoped,
            who=who,
            admin=admin,
            channel_id=doc["channel_id"],
            args=args,
            settings=self.settings,
            sends_documents=connector.sends_documents,
        )
        if answer is None:
            answer = await command.answer(ask)
        texts = split_message(answer.text, connector.max_text_chars)
        if answer.document:
            texts = [answer.text[:1024]]  # a caption (Telegram: at most 1,024 characters)
        return {
            "outcome": answer.outcome,
            "command": command.name,
            "args": "" if command.name == "link" else plain(args, 100),
            "texts": texts,
            "document": answer.document,
            "rows": answer.rows,
            "actor": ask.actor,
            "sending": 0 if texts else None,
        }

    async def _rate_limited(self, scoped: ShopStore, shop: Shop, who: ChatText) -> Answer | None:
        """None while the admin is within RATE_LIMIT a minute; else "slow down" once, then
        nothing until the minute is over."""
        seen = await scoped.bot_commands.outcomes(who.identity, now_ms() - 60_000)
        if seen.get("answered", 0) < RATE_LIMIT:
            return None
        if seen.get("slowed", 0):
            return Answer("", outcome="silenced")
        return Answer(say(shop.locale, "slow_down", limit=RATE_LIMIT), outcome="slowed")

    async def _audit(self, scoped: ShopStore, doc: Doc) -> None:
        """One audit entry per answered event, even when the answer is taken over."""
        await scoped.audit.record_once(
            f"aud_{doc['_id']}",
            doc["actor"],
            "bot.command",
            command=doc["command"],
            args=doc["args"],
            outcome=doc["outcome"],
            rows=doc["rows"],
            channel_id=doc["channel_id"],
            event_id=doc["_id"],
        )

    async def _deliver(
        self,
        scoped: ShopStore,
        shop: Shop,
        doc: Doc,
        lease: str,
        connector: Connector,
        *,
        fresh: bool,
    ) -> None:
        """Send what is left of a recorded answer, marking each send before and after.

        A send marked as started but not as done (its process died) is skipped: it may have
        arrived, and a second copy is worse than a missing part.
        """
        commands = scoped.bot_commands
        sent = int(doc.get("sent") or 0)
        groups = _groups(doc, connector.texts_per_send)
        if not fresh and doc.get("sending") is not None:
            log.warning("command %s: a send may or may not have arrived; skipped", doc["_id"])
            sent = next((end for start, end in groups if start == doc["sending"]), sent)
        who = _from_doc(doc["to"])
        for start, end in groups:
            if end <= sent:
                continue
            if not (fresh and start == 0) and not await commands.progress(
                doc["_id"], lease, sent, start
            ):
                return  # the lease was lost: another process answers
            to = who if start == 0 else replace(who, reply_token=None)
            try:
                if doc.get("document") and start == 0:
                    await self._send_document(scoped, shop, doc, connector, to)
                else:
                    await connector.reply(to, doc["texts"][start:end])
            except PlatformError as err:
                log.warning("command %s not answered: %s", doc["_id"], err)
                await commands.finish(doc["_id"], lease, sent=sent, error=str(err)[:300])
                return
            sent = end
        await commands.finish(doc["_id"], lease, sent=sent, sending=None)

    async def _send_document(
        self, scoped: ShopStore, shop: Shop, doc: Doc, connector: Connector, to: ChatText
    ) -> None:
        """The export the API makes (every customer), sent as a file."""
        request = ExportRequest("all", doc["document"], CustomerFilters(), Sort())
        with self.activity.aside():  # the workers need not wait for a file
            async with export_workdir() as workdir:
                try:
                    result = await export_customers(
                        scoped, shop, request, actor=doc["actor"], workdir=workdir
                    )
                except ExportTooLarge as err:
                    too_large = say(
                        shop.locale, "export.too_large", count=err.count, limit=err.limit
                    )
                    await connector.reply(to, [too_large])
                    return
                await connector.send_document(to, result.path, result.filename, doc["texts"][0])
