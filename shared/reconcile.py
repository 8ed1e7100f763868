"""The order reconciler: a scheduled job that closes the gap between storing and announcing.

The orders API stores an order, then publishes ``OrderPlaced``. If the publish fails (the API
answers 503) and the client never retries, or the function dies between the two steps, the
order would sit ``PLACED`` forever with nothing to charge it. Every few minutes this job
re-publishes ``OrderPlaced`` for orders still ``PLACED`` after a grace period. It uses the
event id derived from the order id, so an order whose event is merely slow (in a queue, in
backoff) is deduplicated by every consumer; orders older than the horizon are left alone (their
event was dead-lettered for a reason an operator must look at, and re-publishing it every few
minutes would only fill the dead-letter destination).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.catalog import default_catalog
from shared.envelope import new_event, utc_now_iso
from shared.ids import derived_event_id
from shared.orders import order_placed_data
from shared.ports import EventPublisher, OrderStore, Ports

logger = logging.getLogger("eventsuite.reconcile")

GRACE_SECONDS = 300.0
HORIZON_SECONDS = 24 * 3600.0
BATCH_LIMIT = 200


@dataclass(frozen=True)
class ReconcileReport:
    """What one run did."""

    republished: int
    order_ids: tuple[str, ...]


def republish_stale_orders(
    ports: Ports,
    *,
    grace_seconds: float = GRACE_SECONDS,
    horizon_seconds: float = HORIZON_SECONDS,
    limit: int = BATCH_LIMIT,
) -> ReconcileReport:
    """Re-publish ``OrderPlaced`` for orders ``PLACED`` between the horizon and the grace period."""
    orders: OrderStore = ports.require("orders")
    publisher: EventPublisher = ports.require("publisher")
    now = ports.clock.now()
    stale = orders.stale_placed(
        placed_after=utc_now_iso(now - horizon_seconds),
        placed_before=utc_now_iso(now - grace_seconds),
        limit=limit,
    )
    if not stale:
        return ReconcileReport(0, ())
    source = f"{default_catalog().source}/order-reconciler"
    events = [
        new_event(
            "OrderPlaced",
            order_placed_data(order),
            source=source,
            subject=order.order_id,
            event_id=derived_event_id("OrderPlaced", order.order_id),
        )
        for order in stale
    ]
    publisher.publish(events)
    ids = tuple(order.order_id for order in stale)
    logger.warning("re-published OrderPlaced for %d stale order(s): %s", len(ids), ", ".join(ids))
    return ReconcileReport(len(ids), ids)
