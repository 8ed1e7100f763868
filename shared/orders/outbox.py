"""The transactional outbox of orders: announce a state change whatever crashes.

A state change that other consumers must hear about is written together with the events that
announce it (``OrderRecord.outbox``, one atomic write of the store), then relayed: published
and removed from the outbox. A crash between the write and the relay leaves the events in the
outbox, where the next delivery of the same cause or the scheduled relay
(:func:`relay_pending_announcements`) finds them. Event ids are derived from the order, so a
relay repeated after a crash is deduplicated by every consumer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.catalog import Catalog
from shared.envelope import from_structured, utc_now_iso
from shared.errors import TransientError
from shared.ports import Clock, EventPublisher, OrderRecord, OrderStore

logger = logging.getLogger("eventsuite.outbox")
BATCH_LIMIT = 200


def relay(orders: OrderStore, publisher: EventPublisher, order: OrderRecord) -> list[str]:
    """Publish ``order``'s pending events, then remove them from its outbox; their ids.

    A failed publish raises ``TransientError`` and leaves them pending.
    """
    if not order.outbox:
        return []
    events = [from_structured(event) for event in order.outbox]
    publisher.publish(events)
    ids = [str(event["id"]) for event in events]
    orders.announced(order.order_id, ids)
    return ids


@dataclass(frozen=True)
class RelayReport:
    """What one scheduled relay did."""

    relayed: int
    order_ids: tuple[str, ...]


def relay_pending_announcements(
    *,
    orders: OrderStore,
    publisher: EventPublisher,
    clock: Clock,
    catalog: Catalog,
    grace_seconds: float | None = None,
    limit: int = BATCH_LIMIT,
) -> RelayReport:
    """Relay the outbox of every order whose events are still pending after a grace period
    (the schedule's period: the write's own relay normally empties the outbox at once).

    Raises ``TransientError`` when an outbox could not be relayed, after trying every order,
    so the run counts as failed and the platform's alarms see it; the events stay pending.
    """
    grace = grace_seconds
    if grace is None:
        grace = catalog.schedule("order_reconciler").every_minutes * 60.0
    pending = orders.pending_announcements(
        updated_before=utc_now_iso(clock.now() - grace), limit=limit
    )
    relayed: list[str] = []
    failed: list[str] = []
    events = 0
    for order in pending:
        try:
            events += len(relay(orders, publisher, order))
            relayed.append(order.order_id)
        except TransientError as exc:
            logger.warning("outbox of order %s not relayed: %s", order.order_id, exc.reason)
            failed.append(order.order_id)
    if relayed:
        logger.warning(
            "relayed %d pending announcement(s) of %d order(s): %s",
            events,
            len(relayed),
            ", ".join(relayed),
        )
    if failed:
        raise TransientError(f"outbox of {len(failed)} order(s) not relayed: {', '.join(failed)}")
    return RelayReport(events, tuple(relayed))
