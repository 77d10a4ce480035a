"""The inbox: raw webhook events, stored before they are acknowledged, processed once."""

from __future__ import annotations

from chatcrm.store.base import index

INDEXES = {
    "inbox": [
        index("shop_id", "platform", "channel_id", "event_key", unique=True, name="event_identity"),
        index("shop_id", "state", "due_at", name="by_state"),
    ]
}
