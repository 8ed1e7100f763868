"""Firestore adapters: ``MetadataIndex``, ``IdempotencyStore`` and ``OrderStore``.

Collections (in the database named by ``EVENTSUITE_FIRESTORE_DATABASE``):

* ``images`` - one document per image, id = ``image_id``;
* ``idempotency`` - one document per (consumer, event id) claim, id = sha256 of the key;
  ``expires_at`` (a timestamp) is meant for a Firestore TTL policy. Every record has one: a
  completed claim expires ``ttl_seconds`` after completion, an in-progress one the same time
  after its lease ends, so the claims of attempts that crashed and were never redelivered go
  too;
* ``orders`` - one document per order, id = order id; the reconciler's query (``status`` ==
  PLACED, a ``placed_at`` range, ordered by ``placed_at``) needs the composite index
  (``status`` ASC, ``placed_at`` ASC) declared in terraform/modules/gcp-suite/firestore.tf;
* ``order_keys`` - one document per ``Idempotency-Key``, id = sha256 of the key, pointing at
  its order. Created in the same atomic batch as the order, so a key maps to one order only.

Concurrency without transactions: every conditional write is a single atomic operation -
``create`` (fails if the document exists), a batch of ``create``s (all or nothing), or an
update/delete with a ``last_update_time`` precondition (compare-and-set on the version we
read; on a mismatch we read again). Read-write transactions would do the same job, but they
take locks: under contention the Firestore emulator then stalls until DeadlineExceeded
instead of aborting one contender, and a stalled claim would hold up a delivery in
production too. Preconditions never lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from functions.gcp.clients import ClientFactory, as_transient
from shared.errors import TransientError
from shared.index import matches
from shared.orders import (
    order_from_dict,
    order_to_dict,
    outbox_fields,
    transition_changes,
    without_announced,
)
from shared.ports import (
    ClaimState,
    IndexQuery,
    JsonDict,
    OrderRecord,
    OrderStatus,
    Settings,
)

T = TypeVar("T")

IMAGES = "images"
IDEMPOTENCY = "idempotency"
ORDERS = "orders"
ORDER_KEYS = "order_keys"
TIMEOUT_SECONDS = 30.0
CAS_ATTEMPTS = 5  # re-reads after a lost compare-and-set before giving up (transient)
DEFAULT_TTL_SECONDS = Settings().idempotency_ttl_seconds


def document_id(key: str) -> str:
    """A Firestore-safe document id for an arbitrary key (no '/', no reserved names)."""
    return hashlib.sha256(key.encode()).hexdigest()


def _call(what: str, operation: Callable[[], T]) -> T:
    try:
        return operation()
    except TransientError:
        raise
    except Exception as exc:
        raise as_transient(exc, f"Firestore {what}") from exc


def _names(exc: Exception) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _is_already_exists(exc: Exception) -> bool:
    return bool(_names(exc) & {"AlreadyExists", "Conflict"}) or getattr(exc, "code", None) == 409


def _is_stale(exc: Exception) -> bool:
    """The precondition failed (someone wrote since we read) or the document vanished."""
    return bool(_names(exc) & {"FailedPrecondition", "NotFound"})


def _timestamp(seconds: float) -> datetime:
    """A Firestore timestamp value (a TTL policy needs a timestamp field, not a number)."""
    return datetime.fromtimestamp(seconds, UTC)


def _unchanged_since(client: Any, snapshot: Any) -> Any:
    """Write option: apply only if the document is still the version ``snapshot`` read."""
    return client.write_option(last_update_time=snapshot.update_time)


class FirestoreMetadataIndex:
    """Image metadata documents; filters Firestore can serve run server-side."""

    def __init__(self, client: ClientFactory, *, collection: str = IMAGES) -> None:
        self._client = client
        self._collection = collection

    def _ref(self) -> Any:
        return self._client().collection(self._collection)

    def put(self, document: JsonDict) -> None:
        """Upsert by ``image_id``."""
        _call(
            "put image",
            lambda: (
                self._ref()
                .document(document["image_id"])
                .set(dict(document), timeout=TIMEOUT_SECONDS)
            ),
        )

    def get(self, image_id: str) -> JsonDict | None:
        """One document or None."""
        snapshot = _call(
            "get image", lambda: self._ref().document(image_id).get(timeout=TIMEOUT_SECONDS)
        )
        return snapshot.to_dict() if snapshot.exists else None

    def search(self, query: IndexQuery) -> list[JsonDict]:
        """Matching documents ordered by ``image_id``.

        One range filter goes to Firestore (the capture range, else ``min_width``): both
        need only the automatic single-field indexes. Camera substring matching, the other
        filters (shared semantics: :func:`shared.index.matches`), ordering and the limit are
        applied in process. Without filters, ordering and limit run server-side.
        """
        from google.cloud.firestore import FieldFilter
        from google.cloud.firestore_v1.field_path import FieldPath

        def run() -> list[JsonDict]:
            ref: Any = self._ref()
            if query.captured_from or query.captured_to:
                if query.captured_from:
                    ref = ref.where(filter=FieldFilter("captured_at", ">=", query.captured_from))
                if query.captured_to:
                    ref = ref.where(filter=FieldFilter("captured_at", "<=", query.captured_to))
            elif query.min_width is not None:
                ref = ref.where(filter=FieldFilter("width", ">=", query.min_width))
            elif not query.has_filters():
                ref = ref.order_by(FieldPath.document_id()).limit(query.limit)
            return [doc.to_dict() for doc in ref.stream(timeout=TIMEOUT_SECONDS)]

        documents = [d for d in _call("search images", run) if matches(d, query)]
        documents.sort(key=lambda d: str(d.get("image_id")))
        return documents[: query.limit]


class FirestoreIdempotencyStore:
    """Leased claims: ``create`` fails when the document exists; an expired lease is taken over
    with a compare-and-set on the version that was read.

    ``ttl_seconds`` (``Settings.idempotency_ttl_seconds``) sets the ``expires_at`` of an
    in-progress claim: the lease's end plus that. A completed claim gets the TTL the
    dispatcher passes to :meth:`complete`.
    """

    def __init__(
        self,
        client: ClientFactory,
        *,
        collection: str = IDEMPOTENCY,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
    ) -> None:
        self._client = client
        self._collection = collection
        self._ttl_seconds = ttl_seconds

    def _doc(self, key: str) -> Any:
        return self._client().collection(self._collection).document(document_id(key))

    def claim(self, key: str, *, now: float, lease_seconds: float) -> ClaimState:
        """ACQUIRED when new or the old lease expired, IN_PROGRESS, or COMPLETED."""
        lease = {
            "key": key,
            "state": "in_progress",
            "lease_expires": now + lease_seconds,
            "claimed_at": now,
            # For the TTL policy: a crashed attempt that is never redelivered leaves this
            # record behind. Long after the lease, so a live claim is never deleted.
            "expires_at": _timestamp(now + lease_seconds + self._ttl_seconds),
        }

        def attempt() -> ClaimState | None:
            ref = self._doc(key)
            try:
                ref.create(lease, timeout=TIMEOUT_SECONDS)
                return ClaimState.ACQUIRED
            except Exception as exc:
                if not _is_already_exists(exc):
                    raise
            snapshot = ref.get(timeout=TIMEOUT_SECONDS)
            if not snapshot.exists:
                return None  # released meanwhile: create again
            record = snapshot.to_dict() or {}
            if record.get("state") == "completed":
                return ClaimState.COMPLETED
            if float(record.get("lease_expires") or 0) > now:
                return ClaimState.IN_PROGRESS
            try:  # the lease expired: take it over unless someone else just did
                ref.update(
                    lease,
                    option=_unchanged_since(self._client(), snapshot),
                    timeout=TIMEOUT_SECONDS,
                )
            except Exception as exc:
                if _is_stale(exc):
                    return None
                raise
            return ClaimState.ACQUIRED

        for _ in range(CAS_ATTEMPTS):
            state = _call("claim", attempt)
            if state is not None:
                return state
        raise TransientError(f"idempotency claim {key!r} kept changing under us; retry")

    def complete(self, key: str, *, now: float, ttl_seconds: float) -> None:
        """Mark done; ``expires_at`` lets a TTL policy delete the record later."""
        record = {
            "key": key,
            "state": "completed",
            "completed_at": now,
            "expires_at": _timestamp(now + ttl_seconds),
        }
        _call("complete", lambda: self._doc(key).set(record, timeout=TIMEOUT_SECONDS))

    def is_completed(self, key: str) -> bool:
        """Whether the claim document says completed."""
        snapshot = _call("read claim", lambda: self._doc(key).get(timeout=TIMEOUT_SECONDS))
        return bool(snapshot.exists and (snapshot.to_dict() or {}).get("state") == "completed")

    def release(self, key: str) -> None:
        """Delete an in-progress claim (never a completed one, nor one changed meanwhile)."""

        def drop() -> None:
            ref = self._doc(key)
            snapshot = ref.get(timeout=TIMEOUT_SECONDS)
            if not snapshot.exists or (snapshot.to_dict() or {}).get("state") == "completed":
                return
            try:
                ref.delete(
                    option=_unchanged_since(self._client(), snapshot), timeout=TIMEOUT_SECONDS
                )
            except Exception as exc:
                if not _is_stale(exc):
                    raise

        _call("release", drop)


class FirestoreOrderStore:
    """Orders keyed by id plus an ``Idempotency-Key`` index, created together atomically."""

    def __init__(
        self, client: ClientFactory, *, orders: str = ORDERS, keys: str = ORDER_KEYS
    ) -> None:
        self._client = client
        self._orders = orders
        self._keys = keys

    def _order(self, order_id: str) -> Any:
        return self._client().collection(self._orders).document(order_id)

    def _key(self, idempotency_key: str) -> Any:
        return self._client().collection(self._keys).document(document_id(idempotency_key))

    def create(self, order: OrderRecord) -> tuple[OrderRecord, bool]:
        """Insert unless the idempotency key or the order id is known; returns (stored, created).

        One batch creates the order and its key document: both or neither (``create`` fails
        when a document exists), so two requests with one key can never make two orders.
        """

        def insert() -> tuple[OrderRecord, bool] | None:
            batch = self._client().batch()
            batch.create(self._order(order.order_id), order_to_dict(order))
            if order.idempotency_key:
                batch.create(
                    self._key(order.idempotency_key),
                    {"idempotency_key": order.idempotency_key, "order_id": order.order_id},
                )
            try:
                batch.commit(timeout=TIMEOUT_SECONDS)
                return order, True
            except Exception as exc:
                if not _is_already_exists(exc):
                    raise
            return self._existing(order)

        stored = _call("create order", insert)
        if stored is None:
            raise TransientError(f"order {order.order_id} conflicted but was not found; retry")
        return stored

    def _existing(self, order: OrderRecord) -> tuple[OrderRecord, bool] | None:
        if order.idempotency_key:
            key = self._key(order.idempotency_key).get(timeout=TIMEOUT_SECONDS)
            if key.exists:
                existing = self._order(key.get("order_id")).get(timeout=TIMEOUT_SECONDS)
                if existing.exists:
                    return order_from_dict(existing.to_dict()), False
        snapshot = self._order(order.order_id).get(timeout=TIMEOUT_SECONDS)
        if snapshot.exists:
            return order_from_dict(snapshot.to_dict()), False
        return None

    def get(self, order_id: str) -> OrderRecord | None:
        """One order or None."""
        snapshot = _call("get order", lambda: self._order(order_id).get(timeout=TIMEOUT_SECONDS))
        return order_from_dict(snapshot.to_dict()) if snapshot.exists else None

    def stale_placed(
        self, *, placed_after: str, placed_before: str, limit: int
    ) -> list[OrderRecord]:
        """Orders still PLACED, placed in ``[placed_after, placed_before)``, oldest first.

        One server-side query: equality on ``status``, a range on ``placed_at``, ordered by
        ``placed_at`` and limited. Firestore serves it from the composite index
        (``status`` ASC, ``placed_at`` ASC) that Terraform declares on the orders collection
        (``google_firestore_index.orders_stale_placed``); without it the query fails with
        FailedPrecondition (a transient error: the reconciler's run fails and is retried).
        """
        if limit <= 0:
            return []
        from google.cloud.firestore import FieldFilter

        def run() -> list[OrderRecord]:
            query = (
                self._client()
                .collection(self._orders)
                .where(filter=FieldFilter("status", "==", OrderStatus.PLACED.value))
                .where(filter=FieldFilter("placed_at", ">=", placed_after))
                .where(filter=FieldFilter("placed_at", "<", placed_before))
                .order_by("placed_at")
                .limit(limit)
            )
            return [order_from_dict(doc.to_dict()) for doc in query.stream(timeout=TIMEOUT_SECONDS)]

        return _call("query stale orders", run)

    def by_status(
        self, status: OrderStatus, *, limit: int, newest_first: bool = False
    ) -> list[OrderRecord]:
        """Orders in ``status``, oldest (or newest) first: equality on ``status`` ordered by
        ``placed_at``, served by the composite index (``status``, ``placed_at``) of
        :meth:`stale_placed` (newest first: its descending twin)."""
        if limit <= 0:
            return []
        from google.cloud.firestore import FieldFilter, Query

        direction = Query.DESCENDING if newest_first else Query.ASCENDING

        def run() -> list[OrderRecord]:
            query = (
                self._client()
                .collection(self._orders)
                .where(filter=FieldFilter("status", "==", OrderStatus(status).value))
                .order_by("placed_at", direction=direction)
                .limit(limit)
            )
            return [order_from_dict(doc.to_dict()) for doc in query.stream(timeout=TIMEOUT_SECONDS)]

        return _call("list orders by status", run)

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
        outbox: Sequence[JsonDict] | None = None,
    ) -> bool:
        """Compare-and-set the status (the outbox in the same update); False when the order
        is not in ``from_status``."""
        updates = transition_changes(
            to_status, now, payment_id, decline_code, failure_reason, outbox
        )

        def attempt() -> bool | None:
            ref = self._order(order_id)
            snapshot = ref.get(timeout=TIMEOUT_SECONDS)
            if not snapshot.exists or snapshot.get("status") != from_status.value:
                return False
            try:
                ref.update(
                    updates,
                    option=_unchanged_since(self._client(), snapshot),
                    timeout=TIMEOUT_SECONDS,
                )
            except Exception as exc:
                if _is_stale(exc):
                    return None  # changed since we read it: look again
                raise
            return True

        for _ in range(CAS_ATTEMPTS):
            moved = _call("transition order", attempt)
            if moved is not None:
                return moved
        raise TransientError(f"order {order_id} kept changing under us; retry")

    def announced(self, order_id: str, event_ids: Sequence[str]) -> None:
        """Remove published events from the outbox (compare-and-set on the document)."""

        def attempt() -> bool | None:
            ref = self._order(order_id)
            snapshot = ref.get(timeout=TIMEOUT_SECONDS)
            if not snapshot.exists:
                return True
            order = order_from_dict(snapshot.to_dict())
            remaining = without_announced(order, event_ids)
            if remaining == order.outbox:
                return True
            try:
                ref.update(
                    outbox_fields(remaining),
                    option=_unchanged_since(self._client(), snapshot),
                    timeout=TIMEOUT_SECONDS,
                )
            except Exception as exc:
                if _is_stale(exc):
                    return None
                raise
            return True

        for _ in range(CAS_ATTEMPTS):
            if _call("update order outbox", attempt) is not None:
                return
        raise TransientError(f"outbox of order {order_id} kept changing under us; retry")

    def pending_announcements(self, *, updated_before: str, limit: int) -> list[OrderRecord]:
        """Orders with pending outbox events changed before ``updated_before``, oldest first.

        An equality filter on ``outbox_pending`` (set only while events are pending, so the
        query reads only those) served by Firestore's automatic single-field index; the time
        filter and the order are applied here, as pending outboxes are few.
        """
        if limit <= 0:
            return []
        from google.cloud.firestore import FieldFilter

        def run() -> list[OrderRecord]:
            query = (
                self._client()
                .collection(self._orders)
                .where(filter=FieldFilter("outbox_pending", "==", "1"))
            )
            return [order_from_dict(doc.to_dict()) for doc in query.stream(timeout=TIMEOUT_SECONDS)]

        pending = [
            order
            for order in _call("list pending announcements", run)
            if (order.updated_at or order.placed_at) < updated_before
        ]
        return sorted(pending, key=lambda order: order.updated_at or order.placed_at)[:limit]
