"""The simulated payment gateway (local backend and explicit opt-in only).

Simulated gateway rules (deterministic, so demos and tests are repeatable):

* currency not in ``EUR, USD, GBP`` -> declined ``currency_not_supported``;
* amount above 500 000 minor units (5 000.00) -> declined ``amount_limit_exceeded``;
* customer email at a domain ``decline.test`` -> declined ``card_declined``;
* otherwise approved with ``payment_id = "pay_" + sha256(idempotency key)[:20]``.

A repeated idempotency key returns the first result, as real providers do.
"""

from __future__ import annotations

import hashlib

from shared.ports import ChargeResult

SUPPORTED_CURRENCIES = frozenset({"EUR", "USD", "GBP"})
SIMULATED_LIMIT_MINOR = 500_000


class SimulatedPaymentGateway:
    """A deterministic in-process gateway (see module docstring for its rules)."""

    def __init__(self) -> None:
        self._results: dict[str, ChargeResult] = {}
        self._orders: dict[str, str] = {}
        self.charges = 0

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
        """Apply the rules once per idempotency key."""
        if idempotency_key in self._results:
            return self._results[idempotency_key]
        self.charges += 1
        result = simulated_decision(amount_minor, currency, customer_email, idempotency_key)
        self._results[idempotency_key] = result
        if result.payment_id:
            self._orders[result.payment_id] = order_id
        return result

    def order_of_payment(self, payment_id: str) -> str | None:
        """The order this gateway charged as ``payment_id`` (None if it never did)."""
        return self._orders.get(payment_id)


def simulated_decision(
    amount_minor: int, currency: str, customer_email: str, idempotency_key: str
) -> ChargeResult:
    """The simulated gateway's pure decision function."""
    if currency not in SUPPORTED_CURRENCIES:
        return ChargeResult(
            False,
            decline_code="currency_not_supported",
            reason=f"currency {currency} is not supported",
        )
    if amount_minor > SIMULATED_LIMIT_MINOR:
        return ChargeResult(
            False,
            decline_code="amount_limit_exceeded",
            reason="amount exceeds the simulated card limit",
        )
    if customer_email.lower().endswith("@decline.test"):
        return ChargeResult(False, decline_code="card_declined", reason="the card was declined")
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
    return ChargeResult(True, payment_id=f"pay_{digest}")
