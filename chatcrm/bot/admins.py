"""Linking and unlinking chat admins: the admin record, its customer record, the audit trail.

Used by the bot's ``/link`` and ``/unlink`` and by the owner's API, so both do the same.
"""

from __future__ import annotations

from datetime import datetime

from chatcrm.store import ShopStore
from chatcrm.store.base import Doc
from connectors.base import ChatText


def admin_actor(admin: Doc) -> str:
    """How the audit trail names a chat admin: ``chat-admin:<admin id>``."""
    return f"chat-admin:{admin['_id']}"


async def create_link_code(store: ShopStore, role: str, actor: str) -> tuple[str, datetime]:
    """A new one-time link code for `role` and when it expires; audited (never the code)."""
    code, expires = await store.link_codes.create(role, actor)
    await store.audit.record(actor, "chat_admin.link_code", role=role, expires_at=expires)
    return code, expires


async def link_chat_admin(store: ShopStore, who: ChatText, channel_id: str, role: str) -> Doc:
    """Make the chat identity of `who` a chat admin with `role`; audited.

    Its customer record, if it has one, is kept but left out of reports while it is linked.
    """
    admin = await store.chat_admins.link(who.identity, channel_id, role, who.name)
    await store.customers.set_chat_admin(who.identity, True)
    await store.audit.record(
        admin_actor(admin),
        "chat_admin.link",
        admin_id=admin["_id"],
        channel=who.customer_channel,
        platform_user_id=who.user_id,
        channel_id=channel_id,
        role=role,
    )
    return admin


async def unlink_chat_admin(store: ShopStore, admin_id: str, actor: str) -> Doc | None:
    """Remove a chat admin (its customer record shows in reports again); None if unknown."""
    admin = await store.chat_admins.remove(admin_id)
    if admin is None:
        return None
    await store.customers.set_chat_admin((admin["channel"], admin["platform_user_id"]), False)
    await store.audit.record(
        actor,
        "chat_admin.unlink",
        admin_id=admin_id,
        channel=admin["channel"],
        platform_user_id=admin["platform_user_id"],
    )
    return admin
