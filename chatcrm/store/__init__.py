"""The store: every MongoDB query of chatcrm, each scoped by shop."""

from __future__ import annotations

import logging
from functools import cached_property

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from chatcrm.domain import Channel, Shop
from chatcrm.secrets_box import SecretBox
from chatcrm.store import (
    audit,
    bot_commands,
    channels,
    chat_admins,
    counts,
    customers,
    downloads,
    export_links,
    inbox,
    merges,
    messages,
    orders,
    period,
    schedules,
    segments,
    shops,
    terms,
    users,
)
from chatcrm.store.base import Doc

log = logging.getLogger(__name__)

_MODULES = (
    shops,
    channels,
    customers,
    messages,
    orders,
    inbox,
    audit,
    segments,
    schedules,
    downloads,
    users,
    chat_admins,
    bot_commands,
    export_links,
    period,
    merges,
    terms,
    counts,
)


class ShopStore:
    """Everything one shop may read or write. Built only by `Store.for_shop`."""

    def __init__(self, db: AsyncDatabase[Doc], shop_id: str, box: SecretBox) -> None:
        self.shop_id = shop_id
        self._db = db
        self._box = box

    async def set_auto_merge(self, enabled: bool) -> Shop | None:
        """Turn the shop's automatic merging (`Shop.auto_merge`) on or off; the shop now."""
        return await shops.Shops(self._db).set_auto_merge(self.shop_id, enabled)

    @cached_property
    def channels(self) -> channels.ShopChannels:
        """The shop's chat channels."""
        return channels.ShopChannels(self._db, self.shop_id, self._box)

    @cached_property
    def customers(self) -> customers.ShopCustomers:
        """The shop's customers."""
        return customers.ShopCustomers(self._db, self.shop_id)

    @cached_property
    def merges(self) -> merges.ShopMerges:
        """The shop's merge records, merge suggestions and dismissals."""
        return merges.ShopMerges(self._db, self.shop_id)

    @cached_property
    def messages(self) -> messages.ShopMessages:
        """The shop's chat history."""
        return messages.ShopMessages(self._db, self.shop_id)

    @cached_property
    def orders(self) -> orders.ShopOrders:
        """The shop's orders."""
        return orders.ShopOrders(self._db, self.shop_id)

    @cached_property
    def inbox(self) -> inbox.ShopInbox:
        """The shop's raw webhook events."""
        return inbox.ShopInbox(self._db, self.shop_id)

    @cached_property
    def segments(self) -> segments.ShopSegments:
        """The shop's saved filters."""
        return segments.ShopSegments(self._db, self.shop_id)

    @cached_property
    def schedules(self) -> schedules.ShopSchedules:
        """The shop's report schedules."""
        return schedules.ShopSchedules(self._db, self.shop_id)

    @cached_property
    def deliveries(self) -> schedules.ShopDeliveries:
        """The shop's report deliveries."""
        return schedules.ShopDeliveries(self._db, self.shop_id)

    @cached_property
    def downloads(self) -> downloads.ShopDownloads:
        """The shop's download links."""
        return downloads.ShopDownloads(self._db, self.shop_id)

    @cached_property
    def audit(self) -> audit.ShopAudit:
        """The shop's audit trail."""
        return audit.ShopAudit(self._db, self.shop_id)

    @cached_property
    def chat_admins(self) -> chat_admins.ShopChatAdmins:
        """The shop's chat admins (sellers' chat accounts the bot answers)."""
        return chat_admins.ShopChatAdmins(self._db, self.shop_id)

    @cached_property
    def link_codes(self) -> chat_admins.ShopLinkCodes:
        """The shop's one-time codes that link a chat account."""
        return chat_admins.ShopLinkCodes(self._db, self.shop_id)

    @cached_property
    def bot_commands(self) -> bot_commands.ShopBotCommands:
        """The shop's answered chat commands (claims, outcomes, delivery)."""
        return bot_commands.ShopBotCommands(self._db, self.shop_id)

    @cached_property
    def export_links(self) -> export_links.ShopExportLinks:
        """The shop's one-time export links (the chat bot's `/export`)."""
        return export_links.ShopExportLinks(self._db, self.shop_id)

    @cached_property
    def period(self) -> period.ShopPeriod:
        """The shop's activity in a period (the bot's report)."""
        return period.ShopPeriod(self._db, self.shop_id)


class Store:
    """The database handle: one `AsyncMongoClient` per event loop."""

    channel_cache_seconds: float = 0.0
    """How old a cached channel `channel_for_webhook` may answer with (0: always read)."""

    def __init__(self, client: AsyncMongoClient[Doc], db_name: str, box: SecretBox) -> None:
        self.client = client
        self.db: AsyncDatabase[Doc] = client[db_name]
        self.box = box
        self.shops = shops.Shops(self.db)
        self.tokens = shops.Tokens(self.db)
        self.inbox_queue = inbox.InboxQueue(self.db)
        self.users = users.Users(self.db)
        self.sessions = users.Sessions(self.db)
        self.links = users.Links(self.db)
        self.attempts = users.Attempts(self.db)
        self.schedule_feed = schedules.ScheduleFeed(self.db)
        self.delivery_queue = schedules.DeliveryQueue(self.db)
        self.command_leases = bot_commands.CommandLeases(self.db)
        self.downloads = downloads.Downloads(self.db)
        self.export_links = export_links.ExportLinks(self.db)

    @classmethod
    def connect(cls, uri: str, db_name: str, box: SecretBox, *, timeout_ms: int = 5000) -> Store:
        """Create the client (it connects lazily); `timeout_ms` bounds waiting for the server."""
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            uri,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 6, 30000),
            appname="chatcrm",
        )
        return cls(client, db_name, box)

    def for_shop(self, shop_id: str) -> ShopStore:
        """The shop-scoped view through which all tenant data is read and written."""
        return ShopStore(self.db, shop_id, self.box)

    async def channel_for_webhook(self, platform: str, channel_id: str) -> Channel | None:
        """The enabled channel a webhook URL names (with secrets), or None.

        Served from the process's channel cache for up to `channel_cache_seconds`.
        """
        return await channels.channel_for_webhook(
            self.db, self.box, platform, channel_id, max_age=self.channel_cache_seconds
        )

    async def ping(self) -> bool:
        """True when the database answers."""
        await self.client.admin.command("ping")
        return True

    async def ensure_indexes(self) -> None:
        """Create every index and backfill new derived fields (`backfill_date_keys`,
        `backfill_history_keys`).

        Safe to run at every start-up, from several processes.
        """
        for module in _MODULES:
            for coll_name, models in module.INDEXES.items():
                try:
                    await self.db[coll_name].create_indexes(models)
                except OperationFailure as err:
                    if err.code not in (85, 86):  # same keys under another name/options
                        raise
                    log.warning("index on %s left as it is: %s", coll_name, err)
        retired_indexes = {
            **inbox.RETIRED_INDEXES,
            **customers.RETIRED_INDEXES,
            **messages.RETIRED_INDEXES,
        }
        for coll_name, retired in retired_indexes.items():
            async for info in await self.db[coll_name].list_indexes():
                if list(info["key"].items()) in retired:
                    await self.db[coll_name].drop_index(info["name"])
        filled = await customers.backfill_date_keys(self.db.customers)
        if filled:
            log.info("backfilled date keys of %d customers", filled)
        keyed = await messages.backfill_history_keys(self.db.messages)
        if keyed:
            log.info("backfilled the history keys of %d messages", keyed)
        listed = await customers.backfill_channels(self.db.customers)
        if listed:
            log.info("backfilled the channels of %d customers", listed)
        marked = await customers.backfill_seller_fields(self.db)
        if marked:
            log.info("backfilled what the seller typed of %d customers", marked)
        settled = await self.shops.backfill_settings()
        if settled:
            log.info("set the merge setting of %d shops", settled)
        lived = await customers.backfill_live_keys(self.db.customers)
        if lived:
            log.info("backfilled the live key of %d customers", lived)
        phones = await customers.backfill_phone_keys(self.db.customers)
        if phones:
            log.info("normalised the phone numbers of %d customers", phones)
        await terms.plan_backfill(self.db)  # done in the background: `backfill_search_terms`

    async def backfill_search_terms(self) -> int:
        """Write the search terms of shops whose customers were written before they existed
        (`terms.backfill`); a long run, in the background after start-up."""
        return await terms.backfill(self.db)

    async def reindex_search(self, shop_id: str | None = None) -> dict[str, int]:
        """Rebuild the search terms of one shop (every shop when None): rows written or
        deleted per shop (`terms.rebuild_shop`; the shop is no longer pending after it)."""
        shop_ids = [shop_id] if shop_id else [s.id for s in await self.shops.list()]
        return {sid: await terms.rebuild_shop(self.db, sid) for sid in shop_ids}

    async def close(self) -> None:
        """Close the client."""
        await self.client.close()
