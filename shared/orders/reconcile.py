"""The order reconciler: a scheduled job that closes the gap between storing and announcing.

The orders API stores an order, then publishes ``OrderPlaced``. If the publish fails (the API
still accepts the order: it is stored) or the function dies between the two steps, the order
would sit ``PLACED`` forever with nothing to charge it. Every few minutes this job re-publishes
``OrderPlaced`` for orders still ``PLACED``, with exponential backoff by age (see
:func:`age_windows`) and the event id derived from the order id, so an order whose event is
merely slow (in a queue, in backoff) is deduplicated by every consumer. Orders older than the
horizon are left alone: their event was dead-lettered for a reason an operator must look at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.catalog import Catalog
from shared.envelope import new_event, utc_now_iso
from shared.ids import derived_event_id
from shared.orders.model import order_placed_data
from shared.ports import Clock, EventPublisher, OrderStore

logger = logging.getLogger("eventsuite.reconcile")

HORIZON_SECONDS = 24 * 3600.0
BATCH_LIMIT = 200


@dataclass(frozen=True)
class ReconcileReport:
    """What one run did."""

    republished: int
    order_ids: tuple[str, ...]


def age_windows(period_seconds: float, horizon_seconds: float) -> list[tuple[float, float]]:
    """Order ages ``[low, high)`` at which a stranded order is re-announced.

    One period wide, at 1, 2, 4, 8, ... periods of age up to the horizon: with a run every
    period, each stranded order falls into each window exactly once, so it is re-announced a
    handful of times with exponential backoff (about nine times in a day at 5 minutes), not at
    every run, and never after the horizon.
    """
    windows = []
    multiple = 1
    while multiple * period_seconds < horizon_seconds:
        low = multiple * period_seconds
        windows.append((low, min(low + period_seconds, horizon_seconds)))
        multiple *= 2
    return windows


def republish_stale_orders(
    *,
    orders: OrderStore,
    publisher: EventPublisher,
    clock: Clock,
    catalog: Catalog,
    period_seconds: float | None = None,
    horizon_seconds: float = HORIZON_SECONDS,
    limit: int = BATCH_LIMIT,
) -> ReconcileReport:
    """Re-publish ``OrderPlaced`` for orders still ``PLACED`` whose age is in an
    :func:`age_windows` window (the period defaults to the catalog schedule's)."""
    period = period_seconds or catalog.schedule("order_reconciler").every_minutes * 60.0
    now = clock.now()
    stale = []
    for low, high in age_windows(period, horizon_seconds):
        stale.extend(
            orders.stale_placed(
                placed_after=utc_now_iso(now - high),
                placed_before=utc_now_iso(now - low),
                limit=limit,
            )
        )
    if not stale:
        return ReconcileReport(0, ())
    source = f"{catalog.source}/order-reconciler"
    events = [
        new_event(
            "OrderPlaced",
            order_placed_data(order),
            source=source,
            subject=order.order_id,
            correlation_id=order.correlation_id,
            event_id=derived_event_id("OrderPlaced", order.order_id),
            catalog=catalog,
        )
        for order in stale
    ]
    publisher.publish(events)
    ids = tuple(order.order_id for order in stale)
    logger.warning("re-published OrderPlaced for %d stale order(s): %s", len(ids), ", ".join(ids))
    return ReconcileReport(len(ids), ids)
