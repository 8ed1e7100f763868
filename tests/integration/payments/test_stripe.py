"""The Stripe gateway through the official SDK against a strict local stand-in of Stripe's API
(tests/stripe_standin.py on 127.0.0.1): no network, every request checked against what Stripe
documents for the endpoint."""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from functions.common.adapters.stripe_payments import StripePaymentGateway
from functions.common.composition import base_container
from functions.common.runtime import Runtime
from shared.catalog import default_catalog
from shared.dispatch import Dispatcher
from shared.errors import PermanentError, TransientError
from shared.http import HttpRequest
from shared.ids import derived_event_id
from shared.inject import MissingDependency
from shared.orders.stripe_events import from_stripe_amount, to_stripe_amount
from shared.orders.webhooks import STRIPE_SIGNATURE_HEADER, sign
from shared.ports import OrderStatus, PaymentGateway, Ports, Settings
from tests.fakes import fake_ports
from tests.stripe_standin import StripeStandIn, stripe_standin

pytestmark = pytest.mark.integration


@pytest.fixture
def stripe() -> Iterator[StripeStandIn]:
    with stripe_standin() as standin:
        yield standin


def gateway_for(stripe: StripeStandIn, key: str | None = None) -> StripePaymentGateway:
    return StripePaymentGateway(lambda: key or stripe.api_key, api_base=stripe.url)


def charge(gateway: PaymentGateway, **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "order_id": "ord_0123456789abcdef01234567",
        "amount_minor": 2500,
        "currency": "EUR",
        "customer_email": "ann@example.com",
        "idempotency_key": "ord_0123456789abcdef01234567:charge",
        "payment_method": "pm_card_visa",
        **overrides,
    }
    return gateway.charge(**arguments)


# -- the gateway ---------------------------------------------------------------------------------


def test_an_approved_charge_is_one_confirmed_payment_intent_with_the_orders_key(
    stripe: StripeStandIn,
) -> None:
    result = charge(gateway_for(stripe))
    assert result.approved and result.payment_id.startswith("pi_")
    [request] = stripe.creates()
    assert request.headers["idempotency-key"] == "ord_0123456789abcdef01234567:charge"
    assert request.params == {
        "amount": "2500",
        "currency": "eur",
        "confirm": "true",
        "payment_method": "pm_card_visa",
        "automatic_payment_methods[enabled]": "true",
        "automatic_payment_methods[allow_redirects]": "never",
        "error_on_requires_action": "true",
        "description": "Order ord_0123456789abcdef01234567",
        "metadata[order_id]": "ord_0123456789abcdef01234567",
    }
    assert stripe.intents[result.payment_id]["status"] == "succeeded"


def test_a_retried_charge_is_the_same_payment_intent(stripe: StripeStandIn) -> None:
    gateway = gateway_for(stripe)
    first, again = charge(gateway), charge(gateway)
    assert first == again
    assert len(stripe.intents) == 1  # Stripe replayed the first answer for the same key
    assert len({r.headers["idempotency-key"] for r in stripe.creates()}) == 1


@pytest.mark.parametrize(
    ("currency", "amount_minor", "stripe_amount"),
    [("JPY", 1250, "1250"), ("KRW", 5000, "5000"), ("KWD", 1234, "1234"), ("BHD", 5, "5"),
     ("EUR", 1999, "1999"), ("HUF", 150, "15000"), ("ISK", 990, "99000")],
)  # fmt: skip
def test_amounts_go_in_minor_units_as_stripe_counts_them(
    stripe: StripeStandIn, currency: str, amount_minor: int, stripe_amount: str
) -> None:
    assert charge(gateway_for(stripe), currency=currency, amount_minor=amount_minor).approved
    [request] = stripe.creates()
    assert (request.params["amount"], request.params["currency"]) == (
        stripe_amount,
        currency.lower(),
    )
    assert from_stripe_amount(int(stripe_amount), currency) == amount_minor
    assert to_stripe_amount(amount_minor, currency) == int(stripe_amount)


@pytest.mark.parametrize(
    ("method", "decline_code", "reason"),
    [
        ("pm_card_chargeDeclined", "generic_decline", "Your card was declined."),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds", "insufficient funds"),
        ("pm_card_authenticationRequired", "authentication_required", "requires authentication"),
        ("pm_card_doesNotExist", "resource_missing", "No such PaymentMethod"),
    ],
)
def test_declines_and_refused_payment_methods_are_declined_results_with_the_reason(
    stripe: StripeStandIn, method: str, decline_code: str, reason: str
) -> None:
    result = charge(gateway_for(stripe), payment_method=method)
    assert not result.approved and not result.pending
    assert result.decline_code == decline_code
    assert reason in result.reason


def test_an_order_without_a_payment_method_is_declined_without_calling_stripe(
    stripe: StripeStandIn,
) -> None:
    result = charge(gateway_for(stripe), payment_method=None)
    assert (result.approved, result.decline_code) == (False, "payment_method_missing")
    assert stripe.requests == []


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_rate_limits_and_stripe_errors_are_transient_and_the_retry_charges_once(
    stripe: StripeStandIn, status: int
) -> None:
    gateway = gateway_for(stripe)
    stripe.fail_next = [status]
    with pytest.raises(TransientError, match=f"Stripe {status}"):
        charge(gateway)
    assert charge(gateway).approved  # the platform's redelivery, same key
    assert len(stripe.intents) == 1


def test_a_wrong_key_and_an_unreachable_stripe_are_transient(stripe: StripeStandIn) -> None:
    with pytest.raises(TransientError, match="Stripe 401"):
        charge(gateway_for(stripe, key="sk_test_wrong"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    unreachable = StripePaymentGateway(lambda: "sk_test_x", api_base=closed, timeout_seconds=2)
    with pytest.raises(TransientError, match="unreachable"):
        charge(unreachable)


def test_the_same_key_with_other_parameters_is_a_permanent_error(stripe: StripeStandIn) -> None:
    gateway = gateway_for(stripe)
    charge(gateway)
    with pytest.raises(PermanentError, match="idempotency_error"):
        charge(gateway, amount_minor=2600)


def test_a_payment_still_processing_is_pending(stripe: StripeStandIn) -> None:
    stripe.process_next = 1
    result = charge(gateway_for(stripe))
    assert (result.approved, result.pending) == (False, True)
    assert result.payment_id in stripe.intents


def test_the_order_of_a_payment_comes_from_its_metadata(stripe: StripeStandIn) -> None:
    gateway = gateway_for(stripe)
    payment_id = charge(gateway).payment_id
    assert gateway.order_of_payment(payment_id) == "ord_0123456789abcdef01234567"
    assert gateway.order_of_payment("pi_3Unknown0000000000") is None


def test_the_sdk_client_and_the_key_are_built_once_per_process(stripe: StripeStandIn) -> None:
    reads: list[int] = []

    def key() -> str:
        reads.append(1)
        return stripe.api_key

    gateway = StripePaymentGateway(key, api_base=stripe.url)
    charge(gateway)
    charge(gateway, idempotency_key="ord_other:charge", order_id="ord_other00000")
    assert reads == [1]


# -- the stand-in is as strict as Stripe ------------------------------------------------------


def _raw_post(stripe: StripeStandIn, body: str, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{stripe.url}/v1/payment_intents",
        body.encode(),
        {"Authorization": f"Bearer {stripe.api_key}", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_standin_refuses_undocumented_parameters_and_posts_without_a_key(
    stripe: StripeStandIn,
) -> None:
    status, body = _raw_post(
        stripe, "amount=1&currency=eur&amount_minor=1", {"Idempotency-Key": "k1"}
    )
    assert (status, body["error"]["code"]) == (400, "parameter_unknown")
    status, body = _raw_post(
        stripe,
        "amount=1&currency=eur&automatic_payment_methods[shiny]=1",
        {"Idempotency-Key": "k2"},
    )
    assert (status, body["error"]["code"]) == (400, "parameter_unknown")
    status, body = _raw_post(stripe, "amount=1&currency=eur", {})
    assert status == 400 and "Idempotency-Key" in body["error"]["message"]


# -- composition -------------------------------------------------------------------------------


def test_composition_builds_stripe_only_with_a_key_secret_and_a_safe_api_base(
    stripe: StripeStandIn,
) -> None:
    settings = Settings(payment_provider="stripe", stripe_api_base=stripe.url)
    gateway = base_container(settings, stripe_api_key=lambda: stripe.api_key).get(PaymentGateway)
    assert isinstance(gateway, StripePaymentGateway) and charge(gateway).approved
    with pytest.raises(MissingDependency, match="no Stripe API key secret is configured"):
        base_container(settings).get(PaymentGateway)
    elsewhere = Settings(payment_provider="stripe", stripe_api_base="http://198.51.100.7")
    with pytest.raises(MissingDependency, match="must be https"):
        base_container(elsewhere, stripe_api_key=lambda: "sk_test_x").get(PaymentGateway)
    with pytest.raises(MissingDependency, match="is not one of"):
        base_container(Settings(payment_provider="paypal")).get(PaymentGateway)


# -- the whole order story: API -> payments -> Stripe -> webhooks -> emails ---------------------

ORDER = {
    "customer": {"email": "ann@example.com", "locale": "en_IE"},
    "currency": "EUR",
    "payment_method": "pm_card_visa",
    "items": [{"sku": "mug", "quantity": 2, "unit_price": "12.50"}],
}


def _post(ports: Ports, endpoint: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    path = ports.catalog.endpoint(endpoint).path
    return Runtime(ports).endpoint(endpoint)(HttpRequest("POST", path, headers or {}, raw))


def _drain(ports: Ports, start: int = 0) -> int:
    """Deliver what was published since ``start`` to its consumers; return the new position."""
    delivered = start
    while delivered < len(ports.publisher.events):
        event = ports.publisher.events[delivered]
        delivered += 1
        name = default_catalog().event_by_type(event["type"]).name
        for consumer in default_catalog().consumers_of(name):
            Dispatcher(consumer.name, ports).deliver(event)
    return delivered


def _topic(subject: str) -> str:
    return subject.split(" ord_", maxsplit=1)[0].removesuffix(" for order")


def _stripe_webhook(ports: Ports, event_id: str, kind: str, obj: dict[str, Any]) -> Any:
    body = json.dumps(
        {
            "id": event_id,
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(ports.clock.now()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": obj},
        }
    ).encode()
    header = sign(body, "whsec_test", int(ports.clock.now()))
    return _post(ports, "payment_webhook", body, {STRIPE_SIGNATURE_HEADER: header})


def test_an_order_paid_through_stripe_then_refunded_by_stripe_webhook(
    stripe: StripeStandIn,
) -> None:
    ports = fake_ports(payments=gateway_for(stripe))
    order_id = _post(ports, "orders_api", ORDER).body["order_id"]
    seen = _drain(ports)
    order = ports.orders.get(order_id)
    assert order.status is OrderStatus.PAID and order.payment_id in stripe.intents
    assert stripe.creates()[0].headers["idempotency-key"] == f"{order_id}:charge"
    # Stripe confirms later too; the order is already paid: nothing changes, nothing re-sent.
    intent = stripe.intents[order.payment_id]
    assert _stripe_webhook(ports, "evt_1Succ", "payment_intent.succeeded", intent).status == 202
    seen = _drain(ports, seen)
    # A refund made in Stripe's dashboard: the charge names its PaymentIntent, not the order.
    charge_object = {
        "id": "ch_3Standin",
        "object": "charge",
        "amount": 2500,
        "amount_refunded": 2500,
        "currency": "eur",
        "metadata": {},
        "payment_intent": order.payment_id,
        "refunded": True,
        "status": "succeeded",
    }
    first = _stripe_webhook(ports, "evt_1Refund", "charge.refunded", charge_object)
    again = _stripe_webhook(ports, "evt_1Refund", "charge.refunded", charge_object)
    assert first.status == again.status == 202
    assert first.body["event_id"] == again.body["event_id"]
    assert first.body["event_id"] == derived_event_id("PaymentWebhookReceived", "evt_1Refund")
    _drain(ports, seen)
    assert ports.orders.get(order_id).status is OrderStatus.REFUNDED
    subjects = [_topic(email.subject) for email in ports.mailer.sent]
    assert subjects == ["We received your order", "Payment received", "Refund issued"]
    assert all("€25.00" in email.body for email in ports.mailer.sent)
    assert ports.dead_letters.entries == []


def test_a_declined_card_fails_the_order_with_stripes_reason(stripe: StripeStandIn) -> None:
    ports = fake_ports(payments=gateway_for(stripe))
    body = {**ORDER, "payment_method": "pm_card_chargeDeclinedInsufficientFunds"}
    order_id = _post(ports, "orders_api", body).body["order_id"]
    _drain(ports)
    order = ports.orders.get(order_id)
    assert order.status is OrderStatus.PAYMENT_FAILED
    assert order.decline_code == "insufficient_funds"
    assert "insufficient funds" in order.failure_reason
    assert "insufficient funds" in ports.mailer.sent[-1].body


def test_a_processing_payment_is_decided_by_the_webhook_in_business_order(
    stripe: StripeStandIn,
) -> None:
    ports = fake_ports(payments=gateway_for(stripe))
    stripe.process_next = 1
    order_id = _post(ports, "orders_api", ORDER).body["order_id"]
    seen = _drain(ports)
    assert ports.orders.get(order_id).status is OrderStatus.PLACED
    [intent] = stripe.intents.values()
    failed = {
        **intent,
        "status": "requires_payment_method",
        "last_payment_error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "do_not_honor",
            "message": "Your card was declined.",
        },
    }
    response = _stripe_webhook(ports, "evt_1Fail", "payment_intent.payment_failed", failed)
    assert response.status == 202
    _drain(ports, seen)
    order = ports.orders.get(order_id)
    assert (order.status, order.decline_code) == (OrderStatus.PAYMENT_FAILED, "do_not_honor")
    assert order.payment_id == intent["id"]
    subjects = [_topic(email.subject) for email in ports.mailer.sent]
    assert subjects == ["We received your order", "Payment failed"]
    assert ports.dead_letters.entries == []


def test_a_webhook_for_an_unknown_payment_intent_is_dead_lettered_with_the_reason(
    stripe: StripeStandIn,
) -> None:
    ports = fake_ports(payments=gateway_for(stripe))
    dispute = {
        "id": "dp_1Standin",
        "object": "dispute",
        "amount": 2500,
        "currency": "eur",
        "charge": "ch_3Nobody",
        "metadata": {},
        "payment_intent": "pi_3Nobody00000000",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    assert _stripe_webhook(ports, "evt_1Dispute", "charge.dispute.created", dispute).status == 202
    _drain(ports)
    [parked] = ports.dead_letters.entries
    assert "unknown PaymentIntent pi_3Nobody00000000" in parked["reason"]
    assert ports.orders.by_status(OrderStatus.REFUNDED, limit=10) == []


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        (
            {"object": "payment_intent", "amount": 1, "currency": "eur"},
            "must name its PaymentIntent",
        ),
        ({"id": "pi_1", "amount": 1, "currency": "xts", "metadata": {}}, "XTS is not an ISO 4217"),
        ({"id": "pi_1", "amount": -1, "currency": "eur", "metadata": {}}, "non-negative integer"),
    ],
)
def test_malformed_stripe_events_are_400(
    stripe: StripeStandIn, obj: dict[str, Any], problem: str
) -> None:
    ports = fake_ports(payments=gateway_for(stripe))
    response = _stripe_webhook(ports, "evt_1Bad", "payment_intent.succeeded", obj)
    assert response.status == 400
    assert any(problem in p for p in response.body["problems"]), response.body
    assert ports.publisher.events == []


def test_stripe_event_types_the_suite_does_not_use_are_acknowledged(stripe: StripeStandIn) -> None:
    ports = fake_ports(payments=gateway_for(stripe))
    response = _stripe_webhook(ports, "evt_1Cust", "customer.created", {"id": "cus_1"})
    assert (response.status, response.body) == (200, {"ignored": True})


def test_a_forged_stripe_signature_is_401(stripe: StripeStandIn) -> None:
    ports = fake_ports(payments=gateway_for(stripe))
    body = json.dumps({"id": "evt_1", "object": "event", "type": "charge.refunded"}).encode()
    header = sign(body, "whsec_wrong", int(ports.clock.now()))
    response = _post(ports, "payment_webhook", body, {STRIPE_SIGNATURE_HEADER: header})
    assert response.status == 401


@pytest.mark.parametrize("cloud", ["gcp", "azure"])
def test_google_cloud_and_azure_take_the_key_their_platform_resolves_from_the_secret_store(
    stripe: StripeStandIn, cloud: str
) -> None:
    # Terraform maps the Secret Manager secret (a secret environment variable) or the Key Vault
    # secret (a Key Vault reference app setting) to EVENTSUITE_STRIPE_API_KEY: the platform
    # resolves it at start, the value is in neither the configuration nor the state.
    environ = {
        "EVENTSUITE_PAYMENT_PROVIDER": "stripe",
        "EVENTSUITE_STRIPE_API_KEY": stripe.api_key,
        "EVENTSUITE_STRIPE_API_BASE": stripe.url,
    }
    if cloud == "gcp":
        from functions.gcp.bootstrap import build_container as gcp_container

        container = gcp_container(environ={**environ, "GOOGLE_CLOUD_PROJECT": "demo"})
    else:
        from functions.azure.bootstrap import build_container as azure_container

        container = azure_container(environ)
    gateway = container.get(PaymentGateway)
    assert isinstance(gateway, StripePaymentGateway) and charge(gateway).approved
    without_key = {k: v for k, v in environ.items() if k != "EVENTSUITE_STRIPE_API_KEY"}
    if cloud == "gcp":
        refused = gcp_container(environ={**without_key, "GOOGLE_CLOUD_PROJECT": "demo"})
    else:
        refused = azure_container(without_key)
    with pytest.raises(MissingDependency, match="no Stripe API key secret"):
        refused.get(PaymentGateway)


def test_a_simulated_gateway_warns_at_every_cold_start_and_stripe_does_not(
    stripe: StripeStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="eventsuite.runtime"):
        base_container(Settings()).get(PaymentGateway)
        base_container(Settings()).get(PaymentGateway)  # a second cold start
        settings = Settings(payment_provider="stripe", stripe_api_base=stripe.url)
        base_container(settings, stripe_api_key=lambda: stripe.api_key).get(PaymentGateway)
    warnings = [r.getMessage() for r in caplog.records if "SIMULATED" in r.getMessage()]
    assert len(warnings) == 2 and "no money moves" in warnings[0]


def test_the_local_backend_charges_stripe_test_mode_with_a_key_file_for_development(
    stripe: StripeStandIn, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.local.backend import LocalBackend
    from functions.local.sqlite import SqlitePaymentGateway

    assert isinstance(LocalBackend.open(tmp_path / "sim").ports.payments, SqlitePaymentGateway)
    key_file = tmp_path / "stripe.key"
    key_file.write_text(stripe.api_key + "\n", encoding="utf-8")
    monkeypatch.setenv("EVENTSUITE_PAYMENT_PROVIDER", "stripe")
    monkeypatch.setenv("EVENTSUITE_STRIPE_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("EVENTSUITE_STRIPE_API_BASE", stripe.url)
    backend = LocalBackend.open(tmp_path / "stripe")
    assert charge(backend.ports.payments).approved
    monkeypatch.setenv("EVENTSUITE_STRIPE_API_BASE", "http://203.0.113.9")
    with pytest.raises(ValueError, match="must be https"):
        LocalBackend.open(tmp_path / "elsewhere")
