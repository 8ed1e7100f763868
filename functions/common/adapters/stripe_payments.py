"""The Stripe payment gateway: PaymentIntents through the official ``stripe`` SDK.

One ``POST /v1/payment_intents`` per order with ``confirm=true``, the order's payment method
(``pm_...``; test mode accepts ``pm_card_visa``, ``pm_card_chargeDeclined`` ...) and the order's
idempotency key as Stripe's ``Idempotency-Key``, so a redelivered ``OrderPlaced`` is one charge.
``error_on_requires_action`` and ``allow_redirects=never``: nobody is present to complete a 3-D
Secure challenge, so a card that needs one is declined instead of left waiting.

What Stripe answers becomes the suite's outcome:

* ``succeeded`` (or ``requires_capture``) -> approved, the PaymentIntent id is the payment id;
* ``processing`` -> pending: the ``payment_intent.succeeded`` / ``.payment_failed`` webhook decides;
* a card error (402: ``card_declined``, ``insufficient_funds`` ...), an invalid request (a payment
  method Stripe refuses, an amount it cannot take) or any other final status -> declined with
  Stripe's decline code and message: the order is ``PAYMENT_FAILED`` with that reason;
* 429, 409 (the same key still in flight), 5xx, connection errors, and authentication errors (a
  key being rotated) -> ``TransientError``: the platform retries with the same key;
* an idempotency error (the same key with other parameters) -> ``PermanentError``.

The SDK is imported on first use and its client built once per process; the API key is read
(from the cloud's secret store) only then. ``api_base`` points the SDK at a local stand-in in tests.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from shared.errors import PermanentError, TransientError
from shared.orders.stripe_events import to_stripe_amount
from shared.ports import ChargeResult

# Where the SDK may send the API key: Stripe (the SDK's default), any https base, or a stand-in
# on this machine (tests). Never plain http to another host.
SAFE_API_BASE = re.compile(r"(https://[^\s]+|http://(127\.0\.0\.1|localhost)(:[0-9]{1,5})?/?)")
APPROVED = frozenset({"succeeded", "requires_capture"})
PENDING = frozenset({"processing"})


class StripePaymentGateway:
    """:class:`shared.ports.PaymentGateway` over Stripe PaymentIntents."""

    def __init__(
        self,
        api_key: Callable[[], str],
        *,
        api_base: str | None = None,
        timeout_seconds: float = 20.0,
        client: Any | None = None,
    ) -> None:
        if api_base and not SAFE_API_BASE.fullmatch(api_base):
            raise ValueError("the Stripe API base must be https (or http on 127.0.0.1 for tests)")
        self._api_key = api_key
        self._api_base = api_base
        self._timeout = timeout_seconds
        self._client = client
        self._lock = threading.Lock()

    def _stripe(self) -> Any:
        """The SDK client, built on first use (and the key read then), once per process."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import stripe

                    key = self._api_key()
                    if not key:
                        raise TransientError("the Stripe API key secret is empty")
                    self._client = stripe.StripeClient(
                        key,
                        base_addresses={"api": self._api_base} if self._api_base else None,
                        # The platform redelivers with the same idempotency key: no hidden
                        # retries that would outlive the function's timeout.
                        max_network_retries=0,
                        http_client=stripe.RequestsClient(timeout=self._timeout),
                    )
        return self._client

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
        """Create and confirm a PaymentIntent for the order (once per idempotency key)."""
        if not payment_method:
            return ChargeResult(
                False,
                decline_code="payment_method_missing",
                reason="the order names no payment method",
            )
        try:
            amount = to_stripe_amount(amount_minor, currency)
        except ValueError as exc:
            return ChargeResult(False, decline_code="amount_invalid", reason=str(exc))
        params = {
            "amount": amount,
            "currency": currency.lower(),
            "confirm": True,
            "payment_method": payment_method,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "error_on_requires_action": True,
            "description": f"Order {order_id}",
            "metadata": {"order_id": order_id},
        }
        import stripe

        try:
            intent = self._stripe().v1.payment_intents.create(
                params, {"idempotency_key": idempotency_key}
            )
        except stripe.StripeError as exc:
            return _declined_or_raise(exc)
        return intent_outcome(intent)

    def order_of_payment(self, payment_id: str) -> str | None:
        """The order id in the PaymentIntent's metadata; None if Stripe does not know it."""
        import stripe

        try:
            intent = self._stripe().v1.payment_intents.retrieve(payment_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise PermanentError(f"Stripe refused to look up {payment_id}: {exc}") from exc
        except stripe.StripeError as exc:
            raise TransientError(
                f"Stripe did not answer the lookup of {payment_id}: {exc}"
            ) from exc
        metadata = _get(intent, "metadata") or {}
        order_id = _get(metadata, "order_id")
        return str(order_id) if order_id else None


def _get(obj: Any, name: str) -> Any:
    """A field of a StripeObject or a plain mapping."""
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def intent_outcome(intent: Any) -> ChargeResult:
    """The suite's outcome for a PaymentIntent as Stripe returned it."""
    payment_id = str(_get(intent, "id"))
    status = _get(intent, "status")
    if status in APPROVED:
        return ChargeResult(True, payment_id=payment_id)
    if status in PENDING:
        return ChargeResult(False, payment_id=payment_id, pending=True)
    error = _get(intent, "last_payment_error") or {}
    return ChargeResult(
        False,
        payment_id=payment_id,
        decline_code=str(_get(error, "decline_code") or _get(error, "code") or status),
        reason=str(_get(error, "message") or f"the payment intent is {status}"),
    )


def _declined_or_raise(exc: Any) -> ChargeResult:
    """A Stripe error as a declined charge, or the suite's transient/permanent error."""
    import stripe

    body = exc.json_body if isinstance(exc.json_body, Mapping) else {}
    found = body.get("error")
    error: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    status = exc.http_status or 0
    where = f"Stripe {status or 'unreachable'} {error.get('type') or type(exc).__name__}"
    if isinstance(exc, stripe.IdempotencyError):
        raise PermanentError(f"{where}: {error.get('message') or exc}") from exc
    if (
        isinstance(
            exc,
            (
                stripe.RateLimitError,
                stripe.APIConnectionError,
                stripe.AuthenticationError,
                stripe.PermissionError,
            ),
        )
        or status in (409, 429)
        or status >= 500
        or not status
    ):
        raise TransientError(f"{where}: {error.get('message') or exc}") from exc
    if isinstance(exc, stripe.CardError | stripe.InvalidRequestError):
        intent = error.get("payment_intent")
        return ChargeResult(
            False,
            payment_id=str(intent["id"])
            if isinstance(intent, Mapping) and intent.get("id")
            else None,
            decline_code=str(error.get("decline_code") or error.get("code") or "declined"),
            reason=str(error.get("message") or exc),
        )
    raise PermanentError(f"{where}: {error.get('message') or exc}") from exc
