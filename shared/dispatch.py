"""Dispatch: the one path from a platform delivery to a handler call.

decode -> validate -> upcast -> idempotency claim (consumer, event id) with a lease ->
handler(event, <its injected dependencies>) -> complete. Errors are classified: permanent
ones are dead-lettered with their reason (through the ``DeadLetterSink`` port, so no retries
are burnt), transient ones and unexpected exceptions are retried by the platform until the
consumer's max delivery attempts, after which the last attempt dead-letters with the reason.
"""

from __future__ import annotations

import enum
import importlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from cloudevents.abstract import CloudEvent

from shared.catalog import Catalog, ConsumerSpec
from shared.envelope import Event, decode, to_structured
from shared.errors import PermanentError, TransientError
from shared.inject import Dependencies, bind
from shared.ports import (
    ClaimState,
    Clock,
    DeadLetterSink,
    IdempotencyStore,
    ObjectStore,
    Settings,
)

T = TypeVar("T")

Decoder = Callable[[], CloudEvent]
logger = logging.getLogger("eventsuite.dispatch")


class Outcome(enum.Enum):
    """What happened to one delivery."""

    PROCESSED = "processed"
    DUPLICATE = "duplicate"  # already completed earlier: acknowledged, handler not run
    DEAD_LETTERED = "dead_lettered"  # parked with its reason: acknowledged
    RETRY = "retry"  # not acknowledged: the platform delivers it again


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of one delivery plus the reason when it did not succeed."""

    outcome: Outcome
    event_id: str | None = None
    reason: str | None = None
    # A retry because another attempt holds the lease: not a failed attempt. Platforms that can
    # schedule the retry redeliver after ``retry_after`` seconds without counting an attempt.
    retry_after: float | None = None

    @property
    def counts_attempt(self) -> bool:
        """False for a retry that only waits for another attempt's lease."""
        return self.retry_after is None

    @property
    def acknowledged(self) -> bool:
        """True when the platform may drop the message."""
        return self.outcome is not Outcome.RETRY


@dataclass(frozen=True)
class Delivery:
    """One platform delivery as the runtime hands it over.

    ``decode`` turns it into a CloudEvent (and may raise a permanent error); ``ignored`` says why
    a delivery that is not for us (a storage event outside the uploads prefix, a folder
    marker) is acknowledged without running anything.
    """

    message_id: str
    decode: Decoder | None
    attempt: int = 1
    raw: bytes | None = None
    ignored: str | None = None


def resolve_handler(reference: str) -> Callable[..., Any]:
    """Import ``package.module:function`` lazily (image handlers pull Pillow only when used)."""
    module_name, _, attribute = reference.partition(":")
    handler: Callable[..., Any] = getattr(importlib.import_module(module_name), attribute)
    return handler


def claim_key(consumer: str, event_id: str) -> str:
    """The idempotency key of ``consumer``'s processing of event ``event_id``."""
    return f"{consumer}:{event_id}"


def lease_seconds(spec: ConsumerSpec) -> float:
    """How long a claim of ``spec`` protects an attempt: longer than any live attempt runs."""
    return spec.timeout_seconds * 1.2 + 10


class Dispatcher:
    """Delivers events to one consumer's handler, exactly once in effect.

    The handler's own dependencies are injected from ``dependencies`` (see
    :mod:`shared.inject`); the dispatcher itself uses the idempotency store, the dead-letter
    sink and the object store (claim checks) when they are provided.
    """

    def __init__(
        self,
        consumer: str,
        dependencies: Dependencies,
        *,
        catalog: Catalog | None = None,
        handler: Callable[..., Any] | None = None,
    ) -> None:
        self.catalog = catalog or dependencies.get(Catalog)
        self.spec: ConsumerSpec = self.catalog.consumer(consumer)
        self.handler = bind(
            handler or resolve_handler(self.spec.handler),
            dependencies,
            leading=1,
            role=f"consumer {consumer!r}",
            extra={ConsumerSpec: self.spec},  # a handler may ask which consumer it serves
        )
        self.idempotency = _optional(dependencies, IdempotencyStore)
        self.dead_letters = _optional(dependencies, DeadLetterSink)
        self._dependencies = dependencies
        self.clock = dependencies.get(Clock)
        self.settings = dependencies.get(Settings)

    def _claims(self, cloud_event: CloudEvent) -> ObjectStore | None:
        """The claim-check store, for an event that carries a claim check only: most consumers
        never receive one, and building the storage client costs cold-start time."""
        if "dataref" not in cloud_event.get_attributes():
            return None
        return _optional(self._dependencies, ObjectStore)

    @property
    def lease_seconds(self) -> float:
        """How long a claim protects an attempt: past the consumer's timeout it must be dead.

        Short enough that a crashed attempt (timeout, OOM kill) blocks its redeliveries only
        briefly, long enough that a live attempt is never taken over mid-flight.
        """
        override = self.settings.idempotency_lease_seconds
        return override if override is not None else lease_seconds(self.spec)

    def deliver(
        self, decoder: Decoder | CloudEvent, *, attempt: int = 1, raw: bytes | None = None
    ) -> DeliveryResult:
        """Process one delivery; ``attempt`` is the platform's delivery count (1-based)."""
        cloud_event: CloudEvent | None = None
        event: Event | None = None
        try:
            cloud_event = decoder() if callable(decoder) else decoder
            event = decode(cloud_event, catalog=self.catalog, objects=self._claims(cloud_event))
            if event.name not in self.spec.subscribes:
                raise PermanentError(
                    f"consumer {self.spec.name!r} does not subscribe to {event.name} (misrouted)"
                )
            return self._run(event, attempt)
        except PermanentError as exc:
            return self._dead_letter(cloud_event, raw, exc.reason, attempt, event)
        except TransientError as exc:
            return self._retry_or_give_up(cloud_event, raw, exc.reason, attempt, event)
        except Exception as exc:  # unexpected bugs are retried, then dead-lettered with the trace
            logger.exception("unexpected error in consumer %s", self.spec.name)
            reason = f"unexpected {type(exc).__name__}: {exc}"
            return self._retry_or_give_up(cloud_event, raw, reason, attempt, event)

    def _run(self, event: Event, attempt: int) -> DeliveryResult:
        store = self.idempotency
        key = claim_key(self.spec.name, event.id)
        now = self.clock.now()
        settings = self.settings
        if store is not None:
            state = store.claim(key, now=now, lease_seconds=self.lease_seconds)
            if state is ClaimState.COMPLETED:
                self._log(event, "duplicate delivery ignored", attempt)
                return DeliveryResult(Outcome.DUPLICATE, event.id)
            if state is ClaimState.IN_PROGRESS:
                # Never dead-letter here, even at the last attempt: the lease holder may still
                # finish it. The platform's own redrive bounds these retries.
                reason = "another delivery of this event holds the lease"
                self._log(event, f"will retry: {reason}", attempt, level=logging.WARNING)
                return DeliveryResult(Outcome.RETRY, event.id, reason, self.lease_seconds)
        try:
            self.handler(event)
        except BaseException:
            if store is not None:
                store.release(key)
            raise
        if store is not None:
            store.complete(key, now=self.clock.now(), ttl_seconds=settings.idempotency_ttl_seconds)
        self._log(event, "processed", attempt)
        return DeliveryResult(Outcome.PROCESSED, event.id)

    def _retry_or_give_up(
        self,
        cloud_event: CloudEvent | None,
        raw: bytes | None,
        reason: str,
        attempt: int,
        event: Event | None,
    ) -> DeliveryResult:
        if attempt >= self.spec.max_delivery_attempts:
            return self._dead_letter(
                cloud_event, raw, f"gave up after {attempt} attempts: {reason}", attempt, event
            )
        self._log(event, f"will retry: {reason}", attempt, level=logging.WARNING)
        return DeliveryResult(Outcome.RETRY, event.id if event else None, reason)

    def _dead_letter(
        self,
        cloud_event: CloudEvent | None,
        raw: bytes | None,
        reason: str,
        attempt: int,
        event: Event | None,
    ) -> DeliveryResult:
        event_id = event.id if event else (str(cloud_event["id"]) if cloud_event else None)
        sink = self.dead_letters
        if sink is None:
            # No sink on this platform: let its own redrive policy park the message.
            self._log(
                event,
                f"permanent failure, left to platform DLQ: {reason}",
                attempt,
                level=logging.ERROR,
            )
            return DeliveryResult(Outcome.RETRY, event_id, reason)
        structured: dict[str, Any] | None = None
        if cloud_event is not None:
            try:
                structured = to_structured(cloud_event)
                json.dumps(structured)
            except (TypeError, ValueError):
                structured = None
        try:
            sink.dead_letter(
                consumer=self.spec.name, event=structured, raw=raw, reason=reason, attempts=attempt
            )
        except Exception as exc:
            logger.exception("dead-letter sink failed; leaving the message for redelivery")
            return DeliveryResult(Outcome.RETRY, event_id, f"{reason} (dead-letter failed: {exc})")
        self._log(event, f"dead-lettered: {reason}", attempt, level=logging.ERROR)
        return DeliveryResult(Outcome.DEAD_LETTERED, event_id, reason)

    def _log(
        self, event: Event | None, message: str, attempt: int, *, level: int = logging.INFO
    ) -> None:
        logger.log(
            level,
            "%s: %s",
            self.spec.name,
            message,
            extra={
                "consumer": self.spec.name,
                "event_id": event.id if event else None,
                "event_type": event.name if event else None,
                "correlation_id": event.correlation_id if event else None,
                "traceparent": event.traceparent if event else None,
                "attempt": attempt,
            },
        )


def _optional(dependencies: Dependencies, kind: type[T]) -> T | None:
    return dependencies.get(kind) if dependencies.provides(kind) else None
