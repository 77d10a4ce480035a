"""The inbox worker: claims stored webhook events with a lease and turns them into data."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from chatcrm.config import Settings
from chatcrm.http import DATABASE_ERRORS
from chatcrm.store import ShopStore, Store
from chatcrm.store.base import as_utc, utcnow
from chatcrm.store.inbox import Claim
from connectors import ConnectorPool
from connectors.base import ChatEvent, Connector, PayloadError, PlatformError

log = logging.getLogger(__name__)


class ChannelUnavailable(Exception):
    """The event's channel is gone or disabled (it may come back: the event is retried)."""


class InboxWorker:
    """Process inbox events one at a time; run several (in one or many processes) at once.

    A claim is a lease: an event whose worker died is claimed again once the lease expires,
    so nothing is lost; every write is idempotent (customer upsert, message unique key), so
    an event processed again after a crash is stored once.
    """

    def __init__(
        self,
        store: Store,
        pool: ConnectorPool,
        settings: Settings,
        *,
        lease_seconds: float = 30.0,
        idle_seconds: float = 0.5,
        wakeup: asyncio.Event | None = None,
    ) -> None:
        self.store = store
        self.pool = pool
        self.settings = settings
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self.wakeup = wakeup or asyncio.Event()
        self._currency: dict[str, str] = {}

    async def run(self) -> None:
        """Work until cancelled; a database outage pauses the worker, never stops it."""
        while True:
            try:
                worked = await self.run_once()
            except DATABASE_ERRORS as err:
                log.warning("inbox worker: database unavailable: %s", err)
                worked = False
            except Exception:
                log.exception("inbox worker: unexpected error")
                worked = False
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.idle_seconds)
                self.wakeup.clear()

    async def drain(self) -> int:
        """Process due events until none is left; return how many were claimed."""
        count = 0
        while await self.run_once():
            count += 1
        return count

    async def run_once(self) -> bool:
        """Claim and process one due event; False when there was none."""
        claim = await self.store.inbox_queue.claim(self.lease_seconds)
        if claim is None:
            return False
        if claim.attempts > self.settings.inbox_max_attempts:  # its workers kept dying
            await self.store.inbox_queue.reschedule(
                claim, "abandoned: processing never finished", max_attempts=0
            )
            return True
        try:
            await self.process(claim)
        except DATABASE_ERRORS:
            raise  # the lease expires and the event is claimed again
        except PayloadError as err:
            # the same bytes will never parse: no point in retrying
            log.warning("inbox event %s cannot be parsed: %s", claim.id, err)
            await self.store.inbox_queue.reschedule(claim, f"payload: {err}", max_attempts=0)
            return True
        except Exception as err:
            state = await self.store.inbox_queue.reschedule(
                claim, f"{type(err).__name__}: {err}", max_attempts=self.settings.inbox_max_attempts
            )
            log.warning(
                "inbox event %s attempt %s failed (%s): %s", claim.id, claim.attempts, state, err
            )
            return True
        await self.store.inbox_queue.complete(claim)
        return True

    async def process(self, claim: Claim) -> None:
        """Turn one claimed event into customers and messages."""
        shop = self.store.for_shop(claim.shop_id)
        channel = await shop.channels.get(claim.channel_id)
        if channel is None or not channel.enabled or channel.platform != claim.platform:
            raise ChannelUnavailable(f"channel {claim.channel_id} is missing or disabled")
        connector = self.pool.get(channel)
        for event in connector.parse(claim.raw, claim.received_at):
            await self._apply(shop, connector, event)

    async def _shop_currency(self, shop_id: str) -> str:
        if shop_id not in self._currency:
            found = await self.store.shops.get(shop_id)
            self._currency[shop_id] = found.currency if found else "THB"
        return self._currency[shop_id]

    def _stale(self, customer: dict[str, object] | None) -> bool:
        fetched = as_utc(customer.get("profile_fetched_at")) if customer else None  # type: ignore[arg-type]
        max_age = timedelta(hours=self.settings.profile_max_age_hours)
        return fetched is None or utcnow() - fetched >= max_age

    async def _apply(self, shop: ShopStore, connector: Connector, event: ChatEvent) -> None:
        profile = event.profile
        if profile is None:
            existing = await shop.customers.find_identity(event.customer_channel, event.user_id)
            if self._stale(existing):
                try:
                    profile = await connector.fetch_profile(event)
                except PlatformError as err:
                    # the customer is stored with what is known; the next event retries
                    log.warning("profile of a %s user not fetched: %s", connector.platform, err)
        fields: dict[str, object] = {}
        if profile is not None:
            fields = {
                "name": profile.name,
                "picture_url": profile.picture_url,
                "profile_fetched_at": utcnow(),
            }
        customer = await shop.customers.upsert_contact(
            event.customer_channel,
            event.user_id,
            channel_id=connector.channel.id,
            at=event.at,
            currency=await self._shop_currency(shop.shop_id),
            set_fields=fields,
            status=event.status,
        )
        if event.message is not None:
            message = event.message
            await shop.messages.add(
                {
                    "customer_id": customer["_id"],
                    "channel": event.customer_channel,
                    "channel_id": connector.channel.id,
                    "direction": "in",
                    "type": message.type,
                    "text": message.text,
                    "platform_message_id": message.platform_message_id,
                    "sent_at": event.at,
                    "conversation_type": event.conversation_type,
                    "conversation_id": event.conversation_id,
                    "meta": message.meta,
                }
            )
