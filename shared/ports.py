"""Ports: the interfaces the core needs from the outside world, as ``typing.Protocol``.

Adapters per cloud (and the embedded local backend) implement them; handlers receive
them bundled in :class:`Ports`. Nothing here knows which cloud it runs on.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from cloudevents.abstract import CloudEvent

from shared.catalog import Catalog, default_catalog
from shared.inject import MissingDependency

JsonDict = dict[str, Any]
T = TypeVar("T")


@dataclass(frozen=True)
class StoredObject:
    """Bytes of an object plus what the store knows about it."""

    data: bytes
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class ObjectStore(Protocol):
    """Blob storage addressed by (bucket, key). Buckets are real names from Settings."""

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Create or replace an object."""
        ...

    def get(self, bucket: str, key: str, *, max_bytes: int | None = None) -> StoredObject:
        """Read an object; raise ``ObjectNotFound`` if it does not exist.

        With ``max_bytes``, raise ``PayloadTooLarge`` when the object is larger than that,
        without reading more than ``max_bytes + 1`` bytes of it: adapters ask the store for the
        size or a byte range first (S3 ``Range``, GCS object size and ranged download, Azure
        ranged download, ``stat()`` locally), so an object replaced by a huge one after its
        event was sent cannot exhaust the function's memory.
        """
        ...

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the object exists."""
        ...

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Keys under a prefix, sorted."""
        ...


@dataclass(frozen=True)
class IndexQuery:
    """Filters for :meth:`MetadataIndex.search`; ``None`` means no filter."""

    camera: str | None = None
    captured_from: str | None = None
    captured_to: str | None = None
    min_width: int | None = None
    limit: int = 100
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    min_bytes: int | None = None
    max_bytes: int | None = None
    # Image format as Pillow names it (JPEG, PNG, GIF, ...), compared case-insensitively.
    format: str | None = None
    # (south, west, north, east) in decimal degrees, inclusive; west > east crosses 180.
    gps_box: tuple[float, float, float, float] | None = None

    def has_filters(self) -> bool:
        """Whether any filter is set (only ``limit`` otherwise)."""
        return any(
            getattr(self, name) not in (None, "")
            for name in self.__dataclass_fields__
            if name != "limit"
        )


@runtime_checkable
class MetadataIndex(Protocol):
    """Searchable store of image metadata documents keyed by ``image_id``."""

    def put(self, document: JsonDict) -> None:
        """Upsert a document (its ``image_id`` is the key)."""
        ...

    def get(self, image_id: str) -> JsonDict | None:
        """One document, or None."""
        ...

    def search(self, query: IndexQuery) -> list[JsonDict]:
        """Documents matching every given filter, ordered by ``image_id``.

        ``camera`` matches make or model case-insensitively as a substring; the capture range
        compares ISO-8601 strings inclusively; every size bound (width, height, bytes) is
        inclusive; ``format`` is case-insensitive; ``gps_box`` keeps documents with a GPS
        position inside the box. :func:`shared.index.matches` is the reference semantics.
        """
        ...


class ClaimState(enum.Enum):
    """Result of an idempotency claim."""

    ACQUIRED = "acquired"  # we hold the lease: run the handler
    IN_PROGRESS = "in_progress"  # someone else holds a live lease: retry later
    COMPLETED = "completed"  # already done: acknowledge, do nothing


@runtime_checkable
class IdempotencyStore(Protocol):
    """Claims on (consumer, event id) with a lease, so a crash is retried but success is final."""

    def claim(self, key: str, *, now: float, lease_seconds: float) -> ClaimState:
        """Acquire the key unless it is completed or leased by someone else.

        An expired lease is taken over atomically (compare-and-set on the old expiry).
        """
        ...

    def complete(self, key: str, *, now: float, ttl_seconds: float) -> None:
        """Mark the key done; the record may expire after ``ttl_seconds``."""
        ...

    def release(self, key: str) -> None:
        """Drop an in-progress claim after a failure so a retry can start at once."""
        ...

    def is_completed(self, key: str) -> bool:
        """Whether the key was completed (and has not expired yet): a strongly consistent read."""
        ...


class OrderStatus(enum.StrEnum):
    """Life cycle of an order."""

    PLACED = "PLACED"
    PAID = "PAID"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    REFUNDED = "REFUNDED"


@dataclass(frozen=True)
class OrderRecord:
    """An order as persisted by :class:`OrderStore`."""

    order_id: str
    status: OrderStatus
    customer_email: str
    customer_name: str | None
    amount_minor: int
    currency: str
    items: tuple[JsonDict, ...]
    placed_at: str
    idempotency_key: str | None = None
    payment_id: str | None = None
    decline_code: str | None = None
    failure_reason: str | None = None
    updated_at: str | None = None
    correlation_id: str | None = None
    # When the order reached each later status (``transition_changes`` sets them).
    paid_at: str | None = None
    payment_failed_at: str | None = None
    refunded_at: str | None = None
    # The customer's CLDR locale (``de_DE``) for emails, and the provider's payment method.
    locale: str | None = None
    payment_method: str | None = None
    # The transactional outbox: events (structured CloudEvents) that announce this order's
    # state, written in the same atomic write as the state change and removed once published.
    outbox: tuple[JsonDict, ...] = ()


@runtime_checkable
class OrderStore(Protocol):
    """Orders with conditional status transitions."""

    def create(self, order: OrderRecord) -> tuple[OrderRecord, bool]:
        """Insert the order; if one with the same ``idempotency_key`` (or id) exists, return it.

        Returns ``(stored_order, created)``.
        """
        ...

    def get(self, order_id: str) -> OrderRecord | None:
        """One order, or None."""
        ...

    def stale_placed(
        self, *, placed_after: str, placed_before: str, limit: int
    ) -> list[OrderRecord]:
        """Orders still ``PLACED`` whose ``placed_at`` lies in ``[placed_after, placed_before)``
        (ISO-8601 UTC strings compare in time order), oldest first, at most ``limit``."""
        ...

    def by_status(
        self, status: OrderStatus, *, limit: int, newest_first: bool = False
    ) -> list[OrderRecord]:
        """Orders currently in ``status``, oldest ``placed_at`` first (ties by id), or newest
        first, at most ``limit`` (the operator's ``orders list --status``)."""
        ...

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
        """Move the order from ``from_status`` to ``to_status``; False if it was not there.

        With ``outbox``, the order's outbox becomes exactly those events, in the same atomic
        write as the status change.
        """
        ...

    def announced(self, order_id: str, event_ids: Sequence[str]) -> None:
        """Remove published events from the order's outbox (a no-op for unknown ids)."""
        ...

    def pending_announcements(self, *, updated_before: str, limit: int) -> list[OrderRecord]:
        """Orders whose outbox is not empty and that changed before ``updated_before``
        (ISO-8601 UTC), least recently changed first, at most ``limit``."""
        ...


@runtime_checkable
class EventPublisher(Protocol):
    """Publishes CloudEvents to the platform's event bus/topic."""

    def publish(self, events: Sequence[CloudEvent]) -> None:
        """Publish all events or raise ``TransientError`` (partial failures are retried first)."""
        ...


@dataclass(frozen=True)
class ChargeResult:
    """Outcome of a charge attempt."""

    approved: bool
    payment_id: str | None = None
    decline_code: str | None = None
    reason: str | None = None
    # Neither approved nor declined yet (the provider is still processing): the provider's
    # webhook decides, and the order stays PLACED until then.
    pending: bool = False


@runtime_checkable
class PaymentGateway(Protocol):
    """Charges money. Must be idempotent on ``idempotency_key`` (real providers are)."""

    def charge(
        self,
        *,
        order_id: str,
        amount_minor: int,
        currency: str,
        customer_email: str,
        idempotency_key: str,
        payment_method: str | None = None,
    ) -> ChargeResult:
        """Charge once per key; a repeated key returns the first result.

        ``amount_minor`` is in the currency's ISO 4217 minor unit; ``payment_method`` is the
        order's provider payment method (None: the provider's default). A refusal is a
        declined result; ``TransientError`` when the provider cannot answer now.
        """
        ...

    def order_of_payment(self, payment_id: str) -> str | None:
        """The order id the provider's payment ``payment_id`` was made for (the provider's
        record of it), None if the provider does not know that payment. Provider webhooks
        about a payment (a refund, a dispute) name the payment, not always the order."""
        ...


@dataclass(frozen=True)
class OutgoingEmail:
    """A plain-text email. ``message_id`` is derived from the causing event for dedupe."""

    to: str
    subject: str
    body: str
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Mailer(Protocol):
    """Sends email."""

    def send(self, email: OutgoingEmail) -> None:
        """Send or raise ``TransientError``."""
        ...


@runtime_checkable
class DeadLetterSink(Protocol):
    """Where a permanently failed delivery is parked with its reason, without burning retries."""

    def dead_letter(
        self,
        *,
        consumer: str,
        event: JsonDict | None,
        raw: bytes | None,
        reason: str,
        attempts: int,
    ) -> None:
        """Record the failed delivery. ``event`` is the structured CloudEvent when readable."""
        ...


@dataclass(frozen=True)
class ParkedMessage:
    """A dead letter as an operator sees it, the same on every backend.

    ``id`` names the parked message in its backend (a row id, an SQS or Pub/Sub message id,
    a poison-queue message id, a dead-letter blob and position); ``event`` is the structured
    CloudEvent when the payload could be read; ``body`` is the payload as parked.
    """

    id: str
    consumer: str
    reason: str
    attempts: int
    event_id: str | None = None
    event_type: str | None = None
    subject: str | None = None
    dead_lettered_at: float | None = None
    redrive_count: int = 0
    event: JsonDict | None = None
    body: bytes | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RedriveResult:
    """What a redrive did: the ids sent back (and removed), and the ones left parked, why."""

    redriven: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()


@runtime_checkable
class DeadLetterAdmin(Protocol):
    """The operator's side of a backend's dead letters: list, show, redrive, purge.

    A redrive sends a parked message back to its consumer's own queue or subscription with its
    original event id (consumers that already processed it deduplicate) and a redrive counter,
    and only then removes it from the dead letters: a failure in between leaves it parked or
    delivered twice (deduplicated), never lost.
    """

    @property
    def consumers(self) -> Sequence[str]:
        """The consumers whose dead letters this admin reaches."""
        ...

    def parked(self, consumer: str | None = None, *, limit: int = 100) -> list[ParkedMessage]:
        """Parked messages (of one consumer, or all), oldest first, at most ``limit``."""
        ...

    def show(self, message_id: str) -> ParkedMessage | None:
        """One parked message by its id (or its event id), or None."""
        ...

    def redrive(self, messages: Sequence[ParkedMessage]) -> RedriveResult:
        """Send each message back to its consumer, then remove it from the dead letters."""
        ...

    def purge(self, consumer: str) -> int:
        """Delete every parked message of ``consumer``; return how many."""
        ...


@runtime_checkable
class Clock(Protocol):
    """Time source; injectable so tests control leases and webhook windows."""

    def now(self) -> float:
        """Seconds since the epoch."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        """Seconds since the epoch."""
        import time

        return time.time()


@dataclass(frozen=True)
class Settings:
    """Deployment settings shared by every cloud (bucket names, sender, secrets)."""

    uploads_bucket: str = "uploads"
    thumbnails_bucket: str = "thumbnails"
    claims_bucket: str = "claims"
    mail_from: str = "orders@eventsuite.example"
    webhook_secrets: tuple[str, ...] = ()
    webhook_tolerance_seconds: int = 300
    # None: derived per consumer from its timeout (see Dispatcher.lease_seconds).
    idempotency_lease_seconds: float | None = None
    idempotency_ttl_seconds: float = 7 * 24 * 3600.0
    # Which PaymentGateway adapter charges orders (``EVENTSUITE_PAYMENT_PROVIDER``).
    payment_provider: str = "simulated"
    # Another base URL for the Stripe API (``EVENTSUITE_STRIPE_API_BASE``): a local stand-in in
    # tests; unset in deployments.
    stripe_api_base: str | None = None


@dataclass(frozen=True)
class ImageSettings:
    """The catalog's image settings, injected into the image handlers."""

    thumbnail_sizes: tuple[int, ...]
    max_pixels: int
    max_upload_bytes: int
    jpeg_quality: int
    uploads_prefix: str
    thumbnails_prefix: str

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> ImageSettings:
        """The image section and storage prefixes of ``catalog``."""
        images = catalog.images
        return cls(
            thumbnail_sizes=tuple(int(size) for size in images["thumbnail_sizes"]),
            max_pixels=int(images["max_pixels"]),
            max_upload_bytes=int(images["max_upload_bytes"]),
            jpeg_quality=int(images["jpeg_quality"]),
            uploads_prefix=catalog.storage["uploads_prefix"],
            thumbnails_prefix=catalog.storage["thumbnails_prefix"],
        )


@dataclass(frozen=True)
class WebhookConfig:
    """The payment webhook's signing secrets (current first) and replay window.

    ``secrets`` may be a lazy sequence that reads the cloud's secret store on first use.
    """

    secrets: Sequence[str]
    tolerance_seconds: int = 300


def config_factories(catalog: Catalog, settings: Settings, clock: Clock) -> dict[type, Any]:
    """The configuration every composition root injects besides the ports."""
    return {
        Catalog: lambda: catalog,
        Settings: lambda: settings,
        Clock: lambda: clock,
        ImageSettings: lambda: ImageSettings.from_catalog(catalog),
        WebhookConfig: lambda: WebhookConfig(
            settings.webhook_secrets, settings.webhook_tolerance_seconds
        ),
    }


# The ports a handler can ask for, by type, and the field of :class:`Ports` holding each.
PORT_FIELDS: dict[type, str] = {
    ObjectStore: "objects",
    MetadataIndex: "index",
    IdempotencyStore: "idempotency",
    OrderStore: "orders",
    EventPublisher: "publisher",
    PaymentGateway: "payments",
    Mailer: "mailer",
    DeadLetterSink: "dead_letters",
}


@dataclass
class Ports:
    """A ready-made set of ports (the local backend, tests): provides them by type.

    Unset ports are ``None`` and not provided. Configuration (settings, clock, catalog, image
    and webhook settings) is derived from the fields.
    """

    settings: Settings
    objects: ObjectStore | None = None
    index: MetadataIndex | None = None
    idempotency: IdempotencyStore | None = None
    orders: OrderStore | None = None
    publisher: EventPublisher | None = None
    payments: PaymentGateway | None = None
    mailer: Mailer | None = None
    dead_letters: DeadLetterSink | None = None
    clock: Clock = field(default_factory=SystemClock)
    catalog: Catalog = field(default_factory=default_catalog)

    def provides(self, kind: type[Any]) -> bool:
        """Whether ``kind`` is a set port or derived configuration."""
        if kind in PORT_FIELDS:
            return getattr(self, PORT_FIELDS[kind]) is not None
        return kind in config_factories(self.catalog, self.settings, self.clock)

    def missing_reason(self, kind: type[Any]) -> str:
        """Why ``kind`` is not provided."""
        if kind in PORT_FIELDS:
            return f"the {PORT_FIELDS[kind]!r} port is not set"
        return "not a port or configuration this suite injects"

    def get(self, kind: type[T]) -> T:
        """The port or configuration of type ``kind``."""
        if not self.provides(kind):
            raise MissingDependency(f"{kind.__name__}: {self.missing_reason(kind)}")
        if kind in PORT_FIELDS:
            return cast(T, getattr(self, PORT_FIELDS[kind]))
        return cast(T, config_factories(self.catalog, self.settings, self.clock)[kind]())
