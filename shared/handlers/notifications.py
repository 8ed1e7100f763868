"""The notifier consumer: one email per order fact, in business order.

Deliveries may arrive in any order (SQS standard queues and Storage queues do not keep it),
but the customer must read "order confirmed" before "payment received", and "payment
received" before "refunded". So an email that has a predecessor is sent only once the
predecessor's email was sent, which the notifier's own idempotency record tells: the
predecessor's delivery is completed. Until then the delivery is retried with the platform's
backoff (a transient failure); should the predecessor never be sent (its delivery parked with
a reason), this one is parked too once its attempts are spent, saying which email it waited for.
"""

from __future__ import annotations

from shared.catalog import ConsumerSpec
from shared.dispatch import claim_key
from shared.envelope import Event
from shared.errors import TransientError
from shared.ids import derived_event_id
from shared.notifications import render
from shared.ports import IdempotencyStore, Mailer


def predecessor(event: Event) -> tuple[str, str] | None:
    """The (event name, event id) whose email must have gone out before this one's."""
    if event.name in ("PaymentReceived", "PaymentFailed") and event.causation_id:
        return "OrderPlaced", event.causation_id  # the order that was charged
    if event.name == "PaymentRefunded":
        return "PaymentReceived", derived_event_id("PaymentReceived", event.data["order_id"])
    return None


def notify_customer(
    event: Event, *, mailer: Mailer, idempotency: IdempotencyStore, consumer: ConsumerSpec
) -> None:
    """Email the customer about ``event``, after the email of its predecessor."""
    before = predecessor(event)
    if before is not None and not idempotency.is_completed(claim_key(consumer.name, before[1])):
        raise TransientError(
            f"waiting for the {before[0]} email ({before[1]}) of order "
            f"{event.data.get('order_id')} to be sent first"
        )
    mailer.send(render(event))
