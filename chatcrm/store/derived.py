"""What is kept in step with customer documents on every write.

Every writer of a customer document (`ShopCustomers`) reports each successful write as a
`Change`: the customer as read (None for a new one) and as written. What other collections
derive from customers (search terms, summary counters) is updated here, after the guarded
write succeeded, so only the writer that won applies a change, and applies it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chatcrm.store import counts
from chatcrm.store.base import Doc
from chatcrm.store.terms import sync_terms

Change = tuple[Doc | None, Doc]
"""(customer as read, None for a new one; customer as written)."""


async def customers_written(db: Any, shop_id: str, changes: Sequence[Change]) -> None:
    """Bring what is derived from this shop's customers in step with `changes`."""
    changes = [(before, after) for before, after in changes if before is not after]
    if not changes:
        return
    await sync_terms(db, shop_id, changes)
    await counts.customers_written(db, shop_id, changes)
