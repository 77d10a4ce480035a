"""Orders of a shop (amounts in integer minor units), linked to a customer."""

from __future__ import annotations

from chatcrm.store.base import ShopScoped, index

INDEXES = {
    "orders": [
        index("shop_id", "order_id", unique=True, name="order_identity"),
        index("shop_id", "customer_id", "created_at", name="by_customer"),
    ]
}


class ShopOrders(ShopScoped):
    """One shop's orders."""

    collection_name = "orders"
