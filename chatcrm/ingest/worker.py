"""The inbox worker: claims stored webhook events in leased batches and turns them into data."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chatcrm.bot.commands import is_link, looks_like_command
from chatcrm.config import Settings
from chatcrm.domain import Channel, DomainError, as_utc, epoch_ms
from chatcrm.ingest.activity import IngestActivity
from chatcrm.input_rules import normalise_phone
from chatcrm.merging import auto_merge
from chatcrm.store import ShopStore, Store
from chatcrm.store.base import DATABASE_ERRORS, Doc, utcnow
from chatcrm.store.customers import Contact, Identity, IfNull, person_id
from chatcrm.store.inbox import Claim
from connectors.base import (
    EDIT,
    ChatEvent,
    ChatMessage,
    Connector,
    PayloadError,
    PlatformError,
    Profile,
)
from connectors.pool import ConnectorPool

if TYPE_CHECKING:
    from chatcrm.bot.lane import CommandLane
    from chatcrm.store import ShopStore

log = logging.getLogger(__name__)

PROFILE_FETCHES = 8
"""Profile fetches in flight at once per batch."""


def _text(event: ChatEvent) -> str:
    return (event.message.text or "") if event.message else ""


class ChannelUnavailable(Exception):
    """The event's channel is gone or disabled (it may come back: the event is retried)."""


@dataclass
class _Parsed:
    """A claimed event and the domain events it holds."""

    claim: Claim
    connector: Connector
    events: list[ChatEvent]


@dataclass
class _Batch:
    """What became of each claimed event of a batch."""

    failed: dict[str, tuple[Claim, str, bool]] = field(default_factory=dict)

    def fail(self, claim: Claim, error: str, *, permanent: bool = False) -> None:
        """Record the first failure of a claimed event (`permanent`: never retry it)."""
        self.failed.setdefault(claim.id, (claim, error, permanent))


class InboxWorker:
    """Process inbox events in batches; run several (in one or many processes) at once.

    A claim is a lease on a batch: events whose worker died are claimed again once the lease
    expires, so nothing is lost; every write is idempotent (customer merges, message unique
    key), so an event processed again after a crash is stored once. One event's failure is
    rescheduled alone; the rest of its batch completes.

    Workers of one process share `claim_lock`, so one of them at a time waits for new events
    and claims; the others are processing. Claims, and each step of a batch that writes
    (`_acks_first`), wait for the webhook routes of the process to be quiet (up to
    `ack_priority_seconds` each): acknowledgements go first.
    """

    def __init__(
        self,
        store: Store,
        pool: ConnectorPool,
        settings: Settings,
        *,
        lease_seconds: float = 30.0,
        idle_seconds: float = 0.5,
        max_idle_seconds: float = 5.0,
        linger_seconds: float = 0.05,
        ack_priority_seconds: float = 1.0,
        batch_size: int | None = None,
        activity: IngestActivity | None = None,
        claim_lock: asyncio.Lock | None = None,
        commands: CommandLane | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.settings = settings
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self.max_idle_seconds = max_idle_seconds
        self.linger_seconds = linger_seconds
        self.ack_priority_seconds = ack_priority_seconds
        self.batch_size = batch_size or settings.inbox_batch_size
        self.activity = activity or IngestActivity()
        self.claim_lock = claim_lock or asyncio.Lock()
        self.commands = commands
        self._currency: dict[str, str] = {}

    async def run(self) -> None:
        """Work until cancelled; a database outage pauses the worker, never stops it.

        Idle, it is woken by the process's webhook routes, or polls (for other processes'
        events and retries coming due) every `idle_seconds`, doubling up to `max_idle_seconds`
        while nothing comes.
        """
        idle = self.idle_seconds
        backlog = True  # look at once: a stopped process may have left events
        while True:
            claims: list[Claim] = []
            try:
                async with self.claim_lock:
                    if not backlog:
                        if await self.activity.wait_for_events(idle):
                            idle = self.idle_seconds
                            await asyncio.sleep(self.linger_seconds)  # let a burst gather
                        else:
                            idle = min(idle * 2, self.max_idle_seconds)
                    await self._acks_first()
                    claims = await self.store.inbox_queue.claim_batch(
                        self.batch_size, self.lease_seconds
                    )
                if claims:
                    idle = self.idle_seconds
                    await self.process_batch(claims)
            except DATABASE_ERRORS as err:
                log.warning("inbox worker: database unavailable: %s", err)
                claims = []
            except Exception:
                log.exception("inbox worker: unexpected error")
                claims = []
            backlog = len(claims) >= self.batch_size

    async def drain(self) -> int:
        """Process due events until none is left; return how many were claimed."""
        count = 0
        while claims := await self.store.inbox_queue.claim_batch(
            self.batch_size, self.lease_seconds
        ):
            await self.process_batch(claims)
            count += len(claims)
        return count

    async def process_batch(self, claims: list[Claim]) -> None:
        """Turn claimed events into customers and messages, then complete or reschedule each.

        Database outages propagate (the lease expires and the batch is claimed again).
        """
        batch = _Batch()
        channels: dict[tuple[str, str], Channel | None] = {}
        by_shop: dict[str, list[_Parsed]] = {}
        for claim in claims:
            parsed = await self._parse(claim, batch, channels)
            if parsed is not None:
                by_shop.setdefault(claim.shop_id, []).append(parsed)
        for shop_id, items in by_shop.items():
            try:
                await self._apply(shop_id, items, batch)
            except DATABASE_ERRORS:
                raise
            except Exception as err:
                log.exception("inbox batch of shop %s failed", shop_id)
                for item in items:
                    batch.fail(item.claim, f"{type(err).__name__}: {err}")
        queue = self.store.inbox_queue
        done = [c for c in claims if c.id not in batch.failed]
        if done:
            await self._acks_first()
            await queue.complete(done)
        for claim, error, permanent in batch.failed.values():
            state = await queue.reschedule(
                claim, error, max_attempts=0 if permanent else self.settings.inbox_max_attempts
            )
            log.warning(
                "inbox event %s attempt %s failed (%s): %s", claim.id, claim.attempts, state, error
            )

    async def _acks_first(self) -> None:
        """Let the process's acknowledgements go first (up to `ack_priority_seconds`).

        A batch is about a hundred database operations, which nx-27017 runs one at a time
        with the acknowledgements; batches run in bursts of webhooks are what set the ack
        p99 apart from the baseline's (docs/benchmarks.md#ingest). So the claim and each
        write step of a batch wait for a quiet moment, which at ordinary rates
        comes within milliseconds; under a sustained burst a batch still advances a step
        per `ack_priority_seconds`, well inside its lease.
        """
        await self.activity.until_quiet(self.ack_priority_seconds)

    async def _parse(
        self, claim: Claim, batch: _Batch, channels: dict[tuple[str, str], Channel | None]
    ) -> _Parsed | None:
        """The claimed event's connector and domain events; None (and a failure) if unusable."""
        if claim.attempts > self.settings.inbox_max_attempts:  # its workers kept dying
            batch.fail(claim, "abandoned: processing never finished", permanent=True)
            return None
        key = (claim.platform, claim.channel_id)
        if key not in channels:
            channels[key] = await self.store.channel_for_webhook(*key)
        channel = channels[key]
        if channel is None or channel.shop_id != claim.shop_id:
            message = f"channel {claim.channel_id} is missing or disabled"
            batch.fail(claim, f"{ChannelUnavailable.__name__}: {message}")
            return None
        connector = self.pool.get(channel)
        try:
            raw = load_event(claim.raw)
            if not isinstance(raw, dict):
                raise PayloadError("the stored event is not a JSON object")
            events = connector.parse(raw, as_utc(claim.received_at) or utcnow())
        except (PayloadError, ValueError) as err:
            # the same bytes will never parse: no point in retrying
            batch.fail(claim, f"payload: {err}", permanent=True)
            return None
        except Exception as err:
            batch.fail(claim, f"{type(err).__name__}: {err}")
            return None
        return _Parsed(claim, connector, events)

    async def _shop_currency(self, shop_id: str) -> str:
        if shop_id not in self._currency:
            found = await self.store.shops.get(shop_id)
            self._currency[shop_id] = found.currency if found else "THB"
        return self._currency[shop_id]

    def _stale(self, customer: Doc | None) -> bool:
        fetched = as_utc(customer.get("profile_fetched_at")) if customer else None
        max_age = timedelta(hours=self.settings.profile_max_age_hours)
        return fetched is None or utcnow() - fetched >= max_age

    async def _apply(self, shop_id: str, items: list[_Parsed], batch: _Batch) -> None:
        """One shop's events: customers (each written once), then messages."""
        shop = self.store.for_shop(shop_id)
        pairs, formers = _current_identities(await self._customer_events(shop, items))
        if not pairs:
            return
        identities = list(dict.fromkeys((e.customer_channel, e.user_id) for _, e in pairs))
        former = [(identity[0], f) for identity, ids in formers.items() for f in ids]
        existing = await shop.customers.by_identities([*identities, *former])
        renaming = [identity for identity in formers if identity not in existing]
        for identity, ids in formers.items():
            if identity not in existing and any((identity[0], f) in existing for f in ids):
                moved = await shop.customers.rekey(identity[0], ids, identity[1])
                if moved is not None:
                    existing[identity] = moved
        pairs = await _follow_renames(shop, pairs, existing)
        profiles = await self._profiles(pairs, existing)
        now = utcnow()
        fields = {identity: _profile_fields(p, now) for identity, p in profiles.items()}
        await self._acks_first()
        contacts = [
            Contact(
                e.customer_channel,
                e.user_id,
                item.connector.channel.id,
                e.at,
                e.status,
                _delivery_order(item.claim, e),
            )
            for item, e in pairs
        ]
        customers, errors = await shop.customers.record_contacts(
            contacts,
            existing,
            currency=await self._shop_currency(shop_id),
            set_fields=fields,
        )
        await shop.customers.touch_persons(contacts, customers)
        names = {i: formers[i] for i in renaming if i in customers}
        await shop.customers.remember_former_ids(names, customers)
        written: list[tuple[_Parsed, ChatEvent, Doc]] = []
        for item, event in pairs:
            identity = (event.customer_channel, event.user_id)
            if identity in errors:
                batch.fail(item.claim, f"customer: {errors[identity]}")
            elif event.message is not None:
                written.append((item, event, customers[identity]))
        await self._acks_first()
        await _store_messages(shop, written, batch)
        await self._auto_merge(shop, _new_platform_phones(profiles, existing, customers), customers)

    async def _auto_merge(
        self, shop: ShopStore, numbers: dict[Identity, str], customers: dict[Identity, Doc]
    ) -> None:
        """Where the shop opted in (`Shop.auto_merge`), merge each customer a platform just
        gave a phone number of with the one other customer that has it (`auto_merge`). After
        the messages are stored, so the merge moves them too. A merge that cannot be made is
        logged; the events stay processed."""
        if not numbers:
            return
        found = await self.store.shops.get(shop.shop_id)
        if found is None or not found.auto_merge:
            return
        for identity, phone in numbers.items():
            try:
                await auto_merge(shop, customers[identity], phone, identity[0])
            except DATABASE_ERRORS:
                raise
            except Exception as err:
                log.warning(
                    "automatic merge of customer %s by its %s number not made: %s",
                    customers[identity]["_id"],
                    identity[0],
                    err,
                    exc_info=not isinstance(err, DomainError),
                )

    async def _customer_events(
        self, shop: ShopStore, items: list[_Parsed]
    ) -> list[tuple[_Parsed, ChatEvent]]:
        """The events that are about customers, each with its claimed event.

        Chat admins are not customers: their events, every ``/link`` (it carries a code) and
        every event the bot has answered are left out, and the first two handed to the
        command lane, which answers each event once.
        """
        pairs = [(item, event) for item in items for event in item.events]
        if not pairs:
            return []
        admins = await shop.chat_admins.identities()
        commands = [i.claim.id for i, e in pairs if looks_like_command(_text(e))]
        answered = await shop.bot_commands.claimed(commands)
        kept = []
        for item, event in pairs:
            admin = (event.customer_channel, event.user_id) in admins
            if admin or is_link(_text(event)):
                if self.commands is not None:
                    self.commands.offer_stored(item.claim, item.connector)
            elif item.claim.id not in answered:
                kept.append((item, event))
        return kept

    async def _profiles(
        self, pairs: list[tuple[_Parsed, ChatEvent]], existing: dict[Identity, Doc]
    ) -> dict[Identity, Profile]:
        """Each customer's profile: the last one an event carried, else fetched if stale.

        Fetches run concurrently (at most `PROFILE_FETCHES` at once); a failed fetch is logged
        and the customer is stored with what is known (the next contact fetches again).
        """
        carried: dict[Identity, Profile] = {}
        wanted: dict[Identity, tuple[Connector, ChatEvent]] = {}
        for item, event in pairs:
            identity = (event.customer_channel, event.user_id)
            if event.profile is not None:
                before = carried.get(identity)
                phone = event.profile.phone or (before.phone if before else None)
                carried[identity] = replace(event.profile, phone=phone)
            elif identity not in wanted:
                wanted[identity] = (item.connector, event)
        fetch = {
            identity: found
            for identity, found in wanted.items()
            if identity not in carried and self._stale(existing.get(identity))
        }
        gate = asyncio.Semaphore(PROFILE_FETCHES)

        async def one(connector: Connector, event: ChatEvent) -> Profile | None:
            async with gate:
                try:
                    return await connector.fetch_profile(event)
                except PlatformError as err:
                    log.warning("profile of a %s user not fetched: %s", connector.platform, err)
                    return None

        fetched = await asyncio.gather(*(one(c, e) for c, e in fetch.values()))
        profiles = {i: p for i, p in zip(fetch, fetched, strict=True) if p is not None}
        return {**profiles, **carried}


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def load_event(raw: str) -> Any:
    """A stored event's JSON, text that is not valid Unicode replaced by U+FFFD.

    Such an event is stored failed (`stored_json`); an operator's retry processes it so.
    """
    data = json.loads(raw)
    if not _SURROGATE_ESCAPE.search(raw):
        return data
    text = json.dumps(data, ensure_ascii=False)
    return json.loads(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))


def _delivery_order(claim: Claim, event: ChatEvent) -> tuple[int, ...]:
    """What orders `event` among events of the same time: the platform's own number of it
    (`ChatEvent.sequence`), else when its request came; then its place in the request."""
    came = event.sequence if event.sequence is not None else epoch_ms(claim.received_at)
    return (came or 0, claim.position)


def _current_identities(
    pairs: list[tuple[_Parsed, ChatEvent]],
) -> tuple[list[tuple[_Parsed, ChatEvent]], dict[Identity, list[str]]]:
    """The events keyed by the id each user has now, and the former ids of each identity.

    An event names the ids its user had before (`ChatEvent.former_user_ids`); an event of the
    same batch keyed by one of them is about the same user, and is moved to the id it has now.
    """
    renamed = {
        (event.customer_channel, former): event.user_id
        for _, event in pairs
        for former in event.former_user_ids
        if former != event.user_id
    }
    formers: dict[Identity, list[str]] = {}
    current: list[tuple[_Parsed, ChatEvent]] = []
    for item, event in pairs:
        channel, user_id = event.customer_channel, event.user_id
        known = list(event.former_user_ids)
        while (channel, user_id) in renamed and renamed[(channel, user_id)] not in known:
            known.append(user_id)
            user_id = renamed[(channel, user_id)]
        if user_id != event.user_id:
            event = replace(event, user_id=user_id)
        if known:
            ids = [*formers.get((channel, user_id), []), *(f for f in known if f != user_id)]
            formers[(channel, user_id)] = list(dict.fromkeys(ids))
        current.append((item, event))
    return current, formers


async def _follow_renames(
    shop: ShopStore, pairs: list[tuple[_Parsed, ChatEvent]], existing: dict[Identity, Doc]
) -> list[tuple[_Parsed, ChatEvent]]:
    """The events of users a platform renamed in an earlier batch, keyed by the id their
    customer has now (`ShopCustomers.by_former_ids`): a late event under an old id finds the
    customer instead of creating a second one. Adds those customers to `existing`.

    Only the platforms that rename users (`Connector.renames_users`) are looked up: a lookup
    per new customer was nearly half of a batch's database operations on the others.
    """
    unknown = list(
        dict.fromkeys(
            (e.customer_channel, e.user_id) for item, e in pairs if item.connector.renames_users
        )
    )
    renamed = await shop.customers.by_former_ids([i for i in unknown if i not in existing])
    if not renamed:
        return pairs
    for (channel, _), doc in renamed.items():
        existing[(channel, doc["platform_user_id"])] = doc
    return [
        (item, replace(event, user_id=renamed[identity]["platform_user_id"]))
        if (identity := (event.customer_channel, event.user_id)) in renamed
        else (item, event)
        for item, event in pairs
    ]


def _profile_fields(profile: Profile, now: datetime) -> dict[str, Any]:
    """The customer fields a profile sets (what the seller typed is kept: see the store).

    The name twice: as ``name``, unless the seller typed one, and always as ``profile_name``;
    the picture; the platform's username and phone number when it gives them, the phone,
    normalised, also as the customer's ``phone`` where the customer has none.
    """
    fields: dict[str, Any] = {
        "name": profile.name,
        "profile_name": profile.name,
        "picture_url": profile.picture_url,
        "profile_fetched_at": now,
    }
    if profile.username is not None:
        fields["platform_username"] = profile.username
    if profile.phone is not None:
        fields["platform_phone"] = profile.phone
        try:
            fields["phone"] = IfNull(normalise_phone(profile.phone))
        except DomainError:
            pass  # not a phone number chatcrm can use: kept as the platform wrote it only
    return fields


def _new_platform_phones(
    profiles: dict[Identity, Profile], existing: dict[Identity, Doc], written: dict[Identity, Doc]
) -> dict[Identity, str]:
    """The normalised phone number of each customer written whose platform gave one it had
    not given before (a first WhatsApp message, a Telegram contact of the sender's own):
    what an automatic merge looks at. A number given again is left alone, so a customer split
    back out of a person stays apart."""
    numbers: dict[Identity, str] = {}
    for identity, profile in profiles.items():
        before = existing.get(identity)
        if profile.phone is None or identity not in written:
            continue
        if before is not None and before.get("platform_phone") == profile.phone:
            continue
        try:
            numbers[identity] = normalise_phone(profile.phone)
        except DomainError:
            continue
    return numbers


def _message_doc(customer: Doc, channel_id: str, event: ChatEvent, message: ChatMessage) -> Doc:
    """The ``messages`` document of `event`'s `message` (for a change: as the change shows it):
    the person's, marked with the identity (customer document) it came from."""
    doc = {
        "customer_id": person_id(customer),
        "identity_id": customer["_id"],
        "channel": event.customer_channel,
        "channel_id": channel_id,
        "direction": message.direction,
        "type": message.type,
        "text": message.text,
        "platform_message_id": message.platform_message_id,
        "sent_at": message.sent_at or event.at,
        "conversation_type": event.conversation_type,
        "conversation_id": event.conversation_id,
        "meta": message.meta,
    }
    if message.change == EDIT:
        doc["edited_at"] = event.at
    return doc


async def _store_messages(
    shop: ShopStore, written: list[tuple[_Parsed, ChatEvent, Doc]], batch: _Batch
) -> None:
    """Store the batch's new messages (one write), then apply edits and withdrawals in order.

    A change of a message of the same batch comes after it; changes apply oldest first.
    """
    new: list[Doc] = []
    owners: list[Claim] = []
    changes: list[tuple[tuple[int, ...], Claim, Doc, str]] = []
    for item, event, customer in written:
        assert event.message is not None
        doc = _message_doc(customer, item.connector.channel.id, event, event.message)
        if event.message.change is None:
            new.append(doc)
            owners.append(item.claim)
        else:
            order = (epoch_ms(event.at) or 0, *_delivery_order(item.claim, event))
            changes.append((order, item.claim, doc, event.message.change))
    for index, error in (await shop.messages.add_many(new)).items():
        batch.fail(owners[index], f"message: {error}")
    for order, claim, doc, change in sorted(changes, key=lambda c: c[0]):
        try:
            if change == EDIT:
                await shop.messages.edit(doc, order)
            else:
                await shop.messages.withdraw(doc)
        except DATABASE_ERRORS:
            raise
        except Exception as err:
            batch.fail(claim, f"message {change}: {type(err).__name__}: {err}")
