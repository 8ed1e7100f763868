"""Orders: the model, the orders API, payments, provider webhooks and the reconciler.

``model`` validates requests and maps orders to stored documents (every ``OrderStore``
adapter uses it); ``api`` is the orders HTTP endpoint; ``payments`` the consumer that charges
orders and handles refunds; ``webhooks`` the signed provider webhook; ``reconcile`` the
scheduled job that announces orders whose announcement was lost.
"""

from shared.orders.model import (
    IDEMPOTENCY_KEY,
    new_order,
    new_order_id,
    order_from_dict,
    order_placed_data,
    order_to_dict,
    outbox_fields,
    parse_order_request,
    same_order,
    transition_changes,
    transitioned,
    without_announced,
)

__all__ = [
    "IDEMPOTENCY_KEY",
    "new_order",
    "new_order_id",
    "order_from_dict",
    "order_placed_data",
    "order_to_dict",
    "outbox_fields",
    "parse_order_request",
    "same_order",
    "transition_changes",
    "transitioned",
    "without_announced",
]
