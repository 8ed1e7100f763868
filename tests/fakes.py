"""Hand-written in-memory fakes of the core's ports (no mocks of the thing under test)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cloudevents.abstract import CloudEvent

from functions.common.adapters.simulated_payments import SimulatedPaymentGateway
from shared.errors import ObjectNotFound, PayloadTooLarge, TransientError
from shared.orders import transition_changes, transitioned, without_announced
from shared.ports import (
    ClaimState,
    IndexQuery,
    OrderRecord,
    OrderStatus,
    OutgoingEmail,
    Ports,
    Settings,
    StoredObject,
)


class FakeClock:
    """A clock that only moves when told."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.value = start

    def now(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


class FakeObjectStore:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.puts = 0
        self.reads: list[tuple[str, str, int | None]] = []  # (bucket, key, max_bytes) of each get

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.puts += 1
        self.objects[(bucket, key)] = StoredObject(data, content_type, dict(metadata or {}))

    def get(self, bucket: str, key: str, *, max_bytes: int | None = None) -> StoredObject:
        self.reads.append((bucket, key, max_bytes))
        try:
            stored = self.objects[(bucket, key)]
        except KeyError:
            raise ObjectNotFound(f"{bucket}/{key} does not exist") from None
        if max_bytes is not None and len(stored.data) > max_bytes:
            raise PayloadTooLarge(f"{bucket}/{key} is {len(stored.data)} bytes, limit {max_bytes}")
        return stored

    def exists(self, bucket: str, key: str) -> bool:
        return (bucket, key) in self.objects

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))


class FakeMetadataIndex:
    """Stores deep copies, as every real index stores a serialised document."""

    def __init__(self) -> None:
        self.documents: dict[str, dict[str, Any]] = {}

    def put(self, document: dict[str, Any]) -> None:
        self.documents[document["image_id"]] = copy.deepcopy(document)

    def get(self, image_id: str) -> dict[str, Any] | None:
        return copy.deepcopy(self.documents.get(image_id))

    def search(self, query: IndexQuery) -> list[dict[str, Any]]:
        from shared.index import matches

        hits = [d for _, d in sorted(self.documents.items()) if matches(d, query)]
        return copy.deepcopy(hits[: query.limit])


class FakeIdempotencyStore:
    """Check-then-write under a lock: atomic like the real stores' conditional writes."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, *, now: float, lease_seconds: float) -> ClaimState:
        with self._lock:
            record = self.records.get(key)
            if record is not None:
                if record["state"] == "completed":
                    return ClaimState.COMPLETED
                if record["lease_expires"] > now:
                    return ClaimState.IN_PROGRESS
            self.records[key] = {"state": "in_progress", "lease_expires": now + lease_seconds}
            return ClaimState.ACQUIRED

    def complete(self, key: str, *, now: float, ttl_seconds: float) -> None:
        with self._lock:
            self.records[key] = {"state": "completed", "expires_at": now + ttl_seconds}

    def release(self, key: str) -> None:
        with self._lock:
            record = self.records.get(key)
            if record is not None and record["state"] != "completed":
                del self.records[key]

    def is_completed(self, key: str) -> bool:
        record = self.records.get(key)
        return record is not None and record["state"] == "completed"


class FakeOrderStore:
    """Creates and transitions under a lock: atomic like the real stores' conditional writes."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderRecord] = {}
        self._lock = threading.Lock()

    def create(self, order: OrderRecord) -> tuple[OrderRecord, bool]:
        with self._lock:
            for existing in self.orders.values():
                if order.idempotency_key and existing.idempotency_key == order.idempotency_key:
                    return existing, False
            if order.order_id in self.orders:
                return self.orders[order.order_id], False
            self.orders[order.order_id] = order
            return order, True

    def get(self, order_id: str) -> OrderRecord | None:
        return self.orders.get(order_id)

    def stale_placed(
        self, *, placed_after: str, placed_before: str, limit: int
    ) -> list[OrderRecord]:
        stale = [
            o
            for o in self.orders.values()
            if o.status is OrderStatus.PLACED and placed_after <= o.placed_at < placed_before
        ]
        return sorted(stale, key=lambda o: o.placed_at)[:limit]

    def by_status(
        self, status: OrderStatus, *, limit: int, newest_first: bool = False
    ) -> list[OrderRecord]:
        found = [o for o in self.orders.values() if o.status is OrderStatus(status)]
        ordered = sorted(found, key=lambda o: (o.placed_at, o.order_id), reverse=newest_first)
        return ordered[: max(0, limit)]

    def transition(
        self,
        order_id: str,
        *,
        from_status: OrderStatus,
        to_status: OrderStatus,
        now: str,
        payment_id: str | None = None,
        decline_code: str | None = None,
        failure_reason: str | None = None,
        outbox: Sequence[dict[str, Any]] | None = None,
    ) -> bool:
        with self._lock:
            order = self.orders.get(order_id)
            if order is None or order.status is not from_status:
                return False
            changes = transition_changes(
                to_status, now, payment_id, decline_code, failure_reason, outbox
            )
            self.orders[order_id] = transitioned(order, changes)
            return True

    def announced(self, order_id: str, event_ids: Sequence[str]) -> None:
        with self._lock:
            order = self.orders.get(order_id)
            if order is not None:
                self.orders[order_id] = replace(order, outbox=without_announced(order, event_ids))

    def pending_announcements(self, *, updated_before: str, limit: int) -> list[OrderRecord]:
        pending = [
            o
            for o in self.orders.values()
            if o.outbox and (o.updated_at or o.placed_at) < updated_before
        ]
        return sorted(pending, key=lambda o: o.updated_at or o.placed_at)[:limit]


class FakePublisher:
    def __init__(self) -> None:
        self.events: list[CloudEvent] = []
        self.fail_next = 0

    def publish(self, events: Sequence[CloudEvent]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise TransientError("bus unavailable")
        self.events.extend(events)

    def of_type(self, name: str) -> list[CloudEvent]:
        return [e for e in self.events if e["type"].endswith("." + name)]


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    def send(self, email: OutgoingEmail) -> None:
        self.sent.append(email)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def dead_letter(
        self,
        *,
        consumer: str,
        event: dict[str, Any] | None,
        raw: bytes | None,
        reason: str,
        attempts: int,
    ) -> None:
        self.entries.append(
            {
                "consumer": consumer,
                "event": event,
                "raw": raw,
                "reason": reason,
                "attempts": attempts,
            }
        )


def fake_ports(**overrides: Any) -> Ports:
    """A complete set of fake ports; override any of them by keyword."""
    values: dict[str, Any] = {
        "settings": Settings(webhook_secrets=("whsec_test",)),
        "objects": FakeObjectStore(),
        "index": FakeMetadataIndex(),
        "idempotency": FakeIdempotencyStore(),
        "orders": FakeOrderStore(),
        "publisher": FakePublisher(),
        "payments": SimulatedPaymentGateway(),
        "mailer": FakeMailer(),
        "dead_letters": FakeDeadLetters(),
        "clock": FakeClock(),
    }
    values.update(overrides)
    return Ports(**values)


def with_pending_announcement(order: OrderRecord) -> OrderRecord:
    """``order`` with its ``OrderPlaced`` still in its outbox: stored, never announced."""
    from shared.envelope import new_event, to_structured
    from shared.ids import derived_event_id
    from shared.orders import order_placed_data

    event = new_event(
        "OrderPlaced",
        order_placed_data(order),
        source="urn:eventsuite/orders-api",
        subject=order.order_id,
        correlation_id=order.correlation_id,
        event_id=derived_event_id("OrderPlaced", order.order_id),
    )
    return replace(order, outbox=(to_structured(event),))
