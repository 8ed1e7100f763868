"""Orders API, payments consumer, webhooks and notifications against in-memory fakes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.common.adapters.simulated_payments import SimulatedPaymentGateway, simulated_decision
from functions.common.runtime import Runtime
from shared.dispatch import Dispatcher, Outcome
from shared.envelope import decode, new_event
from shared.errors import InvalidSignature, PermanentError, TransientError, ValidationFailed
from shared.http import HttpRequest
from shared.notifications import format_money, render
from shared.orders import parse_order_request
from shared.orders.webhooks import SIGNATURE_HEADER, sign, verify
from shared.ports import OrderStatus, Ports
from tests.builders import order_v2
from tests.fakes import FakeIdempotencyStore, FakeMailer, FakeOrderStore, fake_ports

ORDER = {
    "customer": {"email": "ann@example.com", "name": "Ann"},
    "currency": "EUR",
    "items": [{"sku": "mug", "quantity": 2, "unit_price_minor": 1250}],
}


def _post(
    ports: Ports,
    endpoint: str,
    body: Any,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    path = ports.catalog.endpoint(endpoint).path
    return Runtime(ports).endpoint(endpoint)(HttpRequest(method, path, headers or {}, raw))


def _drain(ports: Ports) -> None:
    """Deliver everything published so far to its consumers, like a broker would."""
    from shared.catalog import default_catalog

    delivered = 0
    while delivered < len(ports.publisher.events):
        event = ports.publisher.events[delivered]
        delivered += 1
        name = default_catalog().event_by_type(event["type"]).name
        for consumer in default_catalog().consumers_of(name):
            assert Dispatcher(consumer.name, ports).deliver(event).acknowledged


# -- orders API ---------------------------------------------------------------------------


def test_place_order_stores_publishes_and_answers_202() -> None:
    ports = fake_ports()
    response = _post(ports, "orders_api", ORDER, {"X-Correlation-Id": "corr-abcdef12"})
    assert response.status == 202
    order = ports.orders.get(response.body["order_id"])
    assert order.status is OrderStatus.PLACED and order.amount_minor == 2500
    (event,) = ports.publisher.events
    assert (
        event["type"] == "io.eventsuite.OrderPlaced" and event["correlationid"] == "corr-abcdef12"
    )
    assert event.get_data()["total"] == {"amount_minor": 2500, "currency": "EUR"}
    assert response.headers["X-Correlation-Id"] == "corr-abcdef12"


def test_idempotency_key_returns_the_same_order_and_event_id() -> None:
    ports = fake_ports()
    first = _post(ports, "orders_api", ORDER, {"Idempotency-Key": "client-key-1"})
    again = _post(ports, "orders_api", ORDER, {"idempotency-key": "client-key-1"})
    assert (first.status, again.status) == (202, 200)
    assert first.body["order_id"] == again.body["order_id"]
    assert first.body["event_id"] == again.body["event_id"]
    assert len(ports.orders.orders) == 1


def test_idempotency_key_reused_with_another_body_is_a_conflict() -> None:
    ports = fake_ports()
    _post(ports, "orders_api", ORDER, {"Idempotency-Key": "client-key-2"})
    other = {**ORDER, "currency": "USD"}
    assert _post(ports, "orders_api", other, {"Idempotency-Key": "client-key-2"}).status == 409


def _priced(currency: str, unit_price: Any) -> dict[str, Any]:
    return {
        **ORDER,
        "currency": currency,
        "items": [{"sku": "a", "quantity": 1, "unit_price": unit_price}],
    }


@pytest.mark.parametrize(
    ("currency", "unit_price", "minor"),
    [("EUR", "12.50", 1250), ("EUR", "12.5", 1250), ("EUR", "12", 1200), ("JPY", "1250", 1250),
     ("KRW", "1000", 1000), ("KWD", "1.234", 1234), ("BHD", "0.005", 5), ("JPY", "12.0", 12)],
)  # fmt: skip
def test_decimal_prices_become_minor_units_by_the_currency_exponent(
    currency: str, unit_price: str, minor: int
) -> None:
    fields = parse_order_request(_priced(currency, unit_price))
    assert fields["items"][0]["unit_price_minor"] == fields["total"] == minor


def test_an_order_carries_its_locale_and_payment_method_into_order_placed() -> None:
    ports = fake_ports()
    body = {
        **ORDER,
        "customer": {"email": "a@b.co", "locale": "de-DE"},
        "payment_method": "pm_card_visa",
    }
    assert _post(ports, "orders_api", body).status == 202
    [event] = ports.publisher.events
    data = event.get_data()
    assert data["customer"]["locale"] == "de_DE" and data["payment_method"] == "pm_card_visa"
    order = ports.orders.get(data["order_id"])
    assert (order.locale, order.payment_method) == ("de_DE", "pm_card_visa")
    email = render(decode(event))
    assert "Total: 25,00\xa0€" in email.body


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{oops", "not valid JSON"),
        ([], "JSON object"),
        ({**ORDER, "customer": {"email": "nope"}}, "customer.email"),
        ({**ORDER, "currency": "euro"}, "currency"),
        ({**ORDER, "items": []}, "items must be a non-empty list"),
        ({**ORDER, "items": [{"sku": "a", "quantity": 0, "unit_price_minor": 1}]}, "quantity"),
        ({**ORDER, "items": [{"sku": "a", "quantity": True, "unit_price_minor": 1}]}, "quantity"),
        ({**ORDER, "total": 1}, "unknown field(s): total"),
        # ISO 4217: codes in use only, and no more decimals than the currency has
        ({**ORDER, "currency": "XXX"}, "currency XXX is not an ISO 4217 currency in use"),
        ({**ORDER, "currency": "DEM"}, "currency DEM is not an ISO 4217 currency in use"),
        ({**ORDER, "currency": "ZZZ"}, "currency ZZZ is not an ISO 4217 currency in use"),
        (_priced("JPY", "12.5"), "items[0].unit_price JPY has 0 decimals: '12.5' has more"),
        (_priced("KRW", "1000.01"), "KRW has 0 decimals"),
        (_priced("EUR", "1.234"), "EUR has 2 decimals: '1.234' has more"),
        (_priced("KWD", "1.2345"), "KWD has 3 decimals: '1.2345' has more"),
        (_priced("BHD", "-1.000"), "must be a decimal string"),
        (_priced("EUR", "1e3"), "must be a decimal string"),
        (_priced("EUR", 12.5), "must be a decimal string"),
        (
            {**ORDER, "items": [{"sku": "a", "quantity": 1}]},
            "needs exactly one of unit_price_minor or unit_price",
        ),
        (
            {
                **ORDER,
                "items": [{"sku": "a", "quantity": 1, "unit_price": "1", "unit_price_minor": 1}],
            },
            "needs exactly one of unit_price_minor or unit_price",
        ),
        (
            {
                **ORDER,
                "currency": "JPY",
                "items": [{"sku": "a", "quantity": 2, "unit_price_minor": 60_000_000}],
            },
            "order total exceeds 100,000,000 JPY",
        ),
        ({**ORDER, "customer": {"email": "a@b.co", "locale": "xx_YY_ZZ"}}, "customer.locale"),
        ({**ORDER, "customer": {"email": "a@b.co", "locale": "de\nDE"}}, "customer.locale"),
        ({**ORDER, "payment_method": "4242424242424242"}, "payment_method must be"),
        ({**ORDER, "payment_method": "pm_card_visa\n"}, "payment_method must be"),
    ],
)
def test_invalid_orders_get_400_with_reasons(body: Any, problem: str) -> None:
    ports = fake_ports()
    response = _post(ports, "orders_api", body)
    assert response.status == 400
    assert any(problem in p for p in response.body["problems"])
    assert ports.publisher.events == []


def test_other_methods_bad_keys_and_huge_bodies_are_refused() -> None:
    ports = fake_ports()
    assert _post(ports, "orders_api", ORDER, method="GET").status == 405
    assert _post(ports, "orders_api", ORDER, {"Idempotency-Key": "short"}).status == 400
    assert _post(ports, "orders_api", b"{" + b" " * 70_000 + b"}").status == 413


def test_a_stored_order_is_accepted_even_when_its_announcement_fails() -> None:
    # Answering an error would invite a client without an Idempotency-Key to order (and pay)
    # twice; the reconciler announces the stored order instead.
    ports = fake_ports()
    ports.publisher.fail_next = 1
    deferred = _post(ports, "orders_api", ORDER)
    assert deferred.status == 202
    assert deferred.body["announcement"] == "deferred"
    assert ports.orders.get(deferred.body["order_id"]).status is OrderStatus.PLACED
    assert ports.publisher.events == []
    keyed = _post(ports, "orders_api", ORDER, {"Idempotency-Key": "client-key-3"})
    retried = _post(ports, "orders_api", ORDER, {"Idempotency-Key": "client-key-3"})
    assert (keyed.status, retried.status) == (202, 200)
    # The retry finds the order announced already: nothing is published twice.
    assert "announcement" not in retried.body and len(ports.publisher.events) == 1
    # The deferred order keeps its announcement in its outbox for the scheduled relay.
    (pending,) = ports.orders.get(deferred.body["order_id"]).outbox
    assert pending["type"] == "io.eventsuite.OrderPlaced"
    assert ports.orders.get(keyed.body["order_id"]).outbox == ()


def test_an_order_store_outage_is_503_and_stores_nothing() -> None:
    class DownOrders(FakeOrderStore):
        def create(self, order: Any) -> Any:
            from shared.errors import TransientError

            raise TransientError("table unavailable")

    ports = fake_ports(orders=DownOrders())
    response = _post(ports, "orders_api", ORDER)
    assert response.status == 503 and response.headers["Retry-After"]
    assert ports.publisher.events == []


def test_parse_order_request_computes_the_total() -> None:
    fields = parse_order_request(
        {
            **ORDER,
            "items": [
                {"sku": "a", "quantity": 3, "unit_price_minor": 100},
                {"sku": "b", "quantity": 1, "unit_price_minor": 50},
            ],
        }
    )
    assert fields["total"] == 350
    with pytest.raises(ValidationFailed):
        parse_order_request("x")


# -- payments -----------------------------------------------------------------------------


def test_simulated_gateway_rules() -> None:
    assert simulated_decision(100, "EUR", "a@example.com", "k").approved
    assert (
        simulated_decision(100, "JPY", "a@example.com", "k").decline_code
        == "currency_not_supported"
    )
    assert (
        simulated_decision(500_001, "EUR", "a@example.com", "k").decline_code
        == "amount_limit_exceeded"
    )
    assert simulated_decision(100, "EUR", "a@DECLINE.test", "k").decline_code == "card_declined"
    gateway = SimulatedPaymentGateway()
    first = gateway.charge(
        order_id="o", amount_minor=1, currency="EUR", customer_email="a@b.co", idempotency_key="k1"
    )
    again = gateway.charge(
        order_id="o", amount_minor=1, currency="EUR", customer_email="a@b.co", idempotency_key="k1"
    )
    assert first == again and gateway.charges == 1


@pytest.mark.parametrize(
    ("email", "status", "outcome"),
    [
        ("ann@example.com", OrderStatus.PAID, "PaymentReceived"),
        ("bob@decline.test", OrderStatus.PAYMENT_FAILED, "PaymentFailed"),
    ],
)
def test_order_flow_end_to_end_on_fakes(email: str, status: OrderStatus, outcome: str) -> None:
    ports = fake_ports()
    order_id = _post(ports, "orders_api", {**ORDER, "customer": {"email": email}}).body["order_id"]
    _drain(ports)
    assert ports.orders.get(order_id).status is status
    (result,) = ports.publisher.of_type(outcome)
    placed = ports.publisher.events[0]
    assert result["correlationid"] == placed["correlationid"]
    assert result["causationid"] == placed["id"]
    subjects = [m.subject for m in ports.mailer.sent]
    assert subjects[0] == f"We received your order {order_id}"
    assert len(subjects) == 2 and order_id in subjects[1]


def test_payment_retry_after_a_crash_does_not_charge_twice_and_reannounces_the_same_fact() -> None:
    ports = fake_ports()
    ports.publisher.fail_next = 1  # charge and status change succeed, the announcement fails
    event = new_event("OrderPlaced", order_v2(), source="urn:test")
    dispatcher = Dispatcher("payments", ports)
    assert dispatcher.deliver(event, attempt=1).outcome is Outcome.RETRY
    assert dispatcher.deliver(event, attempt=2).outcome is Outcome.PROCESSED
    assert ports.payments.charges == 1
    assert len(ports.publisher.of_type("PaymentReceived")) == 1
    again = Dispatcher(
        "payments",
        fake_ports(orders=ports.orders, payments=ports.payments, publisher=ports.publisher),
    )
    again.deliver(event)  # another consumer instance without the idempotency record
    ids = {e["id"] for e in ports.publisher.of_type("PaymentReceived")}
    assert len(ids) == 1 and ports.payments.charges == 1


def test_refund_webhook_moves_paid_order_to_refunded_and_notifies() -> None:
    ports = fake_ports()
    order_id = _post(ports, "orders_api", ORDER).body["order_id"]
    _drain(ports)
    body = json.dumps(
        {"id": "evt_1", "type": "payment.refunded", "data": {"order_id": order_id}}
    ).encode()
    header = sign(body, "whsec_test", int(ports.clock.now()))
    response = _post(ports, "payment_webhook", body, {SIGNATURE_HEADER: header})
    assert response.status == 202
    replay = _post(ports, "payment_webhook", body, {SIGNATURE_HEADER: header})
    assert replay.body["event_id"] == response.body["event_id"]  # provider retries dedupe
    _drain(ports)
    assert ports.orders.get(order_id).status is OrderStatus.REFUNDED
    assert len(ports.publisher.of_type("PaymentRefunded")) == 1
    assert ports.mailer.sent[-1].subject == f"Refund issued for order {order_id}"


def test_every_email_of_an_order_formats_its_amounts_by_currency_and_locale() -> None:
    ports = fake_ports()
    paid = {**ORDER, "customer": {"email": "ann@example.com", "locale": "de_DE"}}
    order_id = _post(ports, "orders_api", paid).body["order_id"]
    _drain(ports)
    body = json.dumps(
        {"id": "evt_de", "type": "payment.refunded", "data": {"order_id": order_id}}
    ).encode()
    header = sign(body, "whsec_test", int(ports.clock.now()))
    assert _post(ports, "payment_webhook", body, {SIGNATURE_HEADER: header}).status == 202
    _drain(ports)
    bodies = [email.body for email in ports.mailer.sent]
    assert len(bodies) == 3  # confirmed, paid, refunded: each in the customer's format
    assert all("25,00\xa0€" in text for text in bodies), bodies
    # JPY has no minor digits (the simulated gateway declines it: the failure email says so).
    yen = {**ORDER, "currency": "JPY", "customer": {"email": "bo@example.com", "locale": "ja_JP"}}
    yen["items"] = [{"sku": "tea", "quantity": 2, "unit_price": "1250"}]
    _post(ports, "orders_api", yen)
    _drain(ports)
    placed, failed = ports.mailer.sent[3:]
    assert "￥2,500" in placed.body and "￥1,250" in placed.body
    assert "￥2,500" in failed.body and "currency JPY is not supported" in failed.body


def test_a_refund_webhook_with_an_unknown_currency_is_400() -> None:
    ports = fake_ports()
    body = json.dumps(
        {
            "id": "evt_x",
            "type": "payment.refunded",
            "data": {"order_id": "ord_0123456789ab", "amount_minor": 5, "currency": "XTS"},
        }
    ).encode()
    header = sign(body, "whsec_test", int(ports.clock.now()))
    response = _post(ports, "payment_webhook", body, {SIGNATURE_HEADER: header})
    assert response.status == 400
    assert "currency XTS is not an ISO 4217 currency in use" in response.body["problems"][0]
    assert ports.publisher.events == []


def test_refund_for_an_unpaid_order_is_dead_lettered() -> None:
    ports = fake_ports()
    order_id = _post(ports, "orders_api", {**ORDER, "customer": {"email": "x@decline.test"}}).body[
        "order_id"
    ]
    _drain(ports)
    event = new_event(
        "PaymentWebhookReceived",
        {
            "provider_event_id": "evt_2",
            "kind": "payment.refunded",
            "order_id": order_id,
            "received_at": "2026-11-26T10:00:00Z",
        },
        source="urn:test",
    )
    result = Dispatcher("payments", ports).deliver(event)
    assert result.outcome is Outcome.DEAD_LETTERED and "PAYMENT_FAILED" in (result.reason or "")


# -- webhooks -----------------------------------------------------------------------------


def test_webhook_signatures() -> None:
    body, now = b'{"a":1}', 1_800_000_000
    header = sign(body, "s3cret", now)
    assert verify(body, header, ["old", "s3cret"], now=now + 10) == now  # rotation
    for bad_header, message in [
        (None, "missing"),
        ("t=abc", "malformed"),
        (header.replace("v1=", "v1=0"), "does not match"),
        ("x" * 3000, "too long"),
        ("t=\u00b2,v1=abc", "malformed"),
        (f"t={now},v1=\u00e9\u00e9", "malformed"),
    ]:
        with pytest.raises(InvalidSignature, match=message):
            verify(body, bad_header, ["s3cret"], now=now)
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify(body, header, ["s3cret"], now=now + 301)
    with pytest.raises(InvalidSignature, match="does not match"):
        verify(body + b" ", header, ["s3cret"], now=now)
    with pytest.raises(InvalidSignature, match="no webhook secret"):
        verify(body, header, [], now=now)


def test_forged_or_stale_webhooks_get_401_and_publish_nothing() -> None:
    ports = fake_ports()
    body = json.dumps(
        {"id": "evt_3", "type": "payment.refunded", "data": {"order_id": "ord_x"}}
    ).encode()
    stale = sign(body, "whsec_test", int(ports.clock.now()) - 3600)
    for headers in (
        {},
        {SIGNATURE_HEADER: sign(body, "wrong", int(ports.clock.now()))},
        {SIGNATURE_HEADER: stale},
    ):
        assert _post(ports, "payment_webhook", body, headers).status == 401
    assert ports.publisher.events == []


def test_unsupported_webhook_types_are_acknowledged_and_ignored() -> None:
    ports = fake_ports()
    body = json.dumps({"id": "evt_4", "type": "customer.updated", "data": {}}).encode()
    response = _post(
        ports,
        "payment_webhook",
        body,
        {SIGNATURE_HEADER: sign(body, "whsec_test", int(ports.clock.now()))},
    )
    assert response.status == 200 and response.body["ignored"] is True
    assert ports.publisher.events == []


def test_signed_but_invalid_webhook_is_400() -> None:
    ports = fake_ports()
    body = json.dumps(
        {"id": "evt_5", "type": "payment.refunded", "data": {"order_id": "bogus"}}
    ).encode()
    response = _post(
        ports,
        "payment_webhook",
        body,
        {SIGNATURE_HEADER: sign(body, "whsec_test", int(ports.clock.now()))},
    )
    assert response.status == 400 and "order_id" in response.body["problems"][0]


# -- notifications ------------------------------------------------------------------------


def test_every_notifier_event_has_a_template() -> None:
    from shared.catalog import default_catalog

    samples = {
        "OrderPlaced": order_v2(),
        "PaymentReceived": {
            "order_id": "ord_0123456789abcdef",
            "payment_id": "pay_1",
            "amount": {"amount_minor": 1999, "currency": "EUR"},
            "customer_email": "a@b.co",
        },
        "PaymentFailed": {
            "order_id": "ord_0123456789abcdef",
            "decline_code": "card_declined",
            "reason": "the card was declined",
            "amount": {"amount_minor": 5, "currency": "GBP"},
            "customer_email": "a@b.co",
        },
        "PaymentRefunded": {
            "order_id": "ord_0123456789abcdef",
            "payment_id": None,
            "amount": {"amount_minor": 100, "currency": "USD"},
            "customer_email": "a@b.co",
        },
    }
    for name in default_catalog().consumer("notifier").subscribes:
        email = render(decode(new_event(name, samples[name], source="urn:test")))
        assert email.subject and "$" not in email.subject + email.body
        assert email.message_id.endswith(".notifier@eventsuite>")
    failed = render(decode(new_event("PaymentFailed", samples["PaymentFailed"], source="urn:test")))
    assert "0.05 GBP" in failed.body and "the card was declined" in failed.body


def test_format_money() -> None:
    assert format_money({"amount_minor": 123456, "currency": "EUR"}) == "1,234.56 EUR"
    assert format_money({"amount_minor": 7, "currency": "USD"}) == "0.07 USD"
    # ISO 4217 exponents, not a hard-coded 2
    assert format_money({"amount_minor": 1250, "currency": "JPY"}) == "1,250 JPY"
    assert format_money({"amount_minor": 1250, "currency": "KRW"}) == "1,250 KRW"
    assert format_money({"amount_minor": 1234, "currency": "KWD"}) == "1.234 KWD"
    assert format_money({"amount_minor": 5, "currency": "BHD"}) == "0.005 BHD"
    # the customer's locale when the order carries one
    assert format_money({"amount_minor": 123456, "currency": "EUR"}, "de_DE") == "1.234,56\xa0€"
    assert format_money({"amount_minor": 1250, "currency": "JPY"}, "ja_JP") == "￥1,250"
    assert format_money({"amount_minor": 1250, "currency": "JPY"}, "en_US") == "¥1,250"
    with pytest.raises(PermanentError, match="XXX is not an ISO 4217 currency in use"):
        format_money({"amount_minor": 1, "currency": "XXX"})


# -- reconciler ---------------------------------------------------------------------------


def _relay(ports: Ports) -> Any:
    from shared.orders.outbox import relay_pending_announcements

    return relay_pending_announcements(
        orders=ports.orders, publisher=ports.publisher, clock=ports.clock, catalog=ports.catalog
    )


def test_the_relay_announces_only_what_is_still_pending_with_the_same_event_id() -> None:
    ports = fake_ports()
    ports.publisher.fail_next = 1  # the API stored the order but could not announce it
    lost = _post(ports, "orders_api", ORDER, {"Idempotency-Key": "lost-order-1"})
    assert lost.status == 202 and lost.body["announcement"] == "deferred"
    fresh_id = _post(ports, "orders_api", ORDER).body["order_id"]  # announced at once
    assert _relay(ports).relayed == 0  # inside the grace period
    ports.clock.advance(301)
    report = _relay(ports)
    assert report.order_ids == (lost.body["order_id"],) and report.relayed == 1
    lost_id = lost.body["order_id"]
    republished = [e for e in ports.publisher.events if e.get_data()["order_id"] == lost_id]
    from shared.ids import derived_event_id

    assert [e["id"] for e in republished] == [derived_event_id("OrderPlaced", lost_id)]
    _drain(ports)
    assert ports.orders.get(lost_id).status is OrderStatus.PAID
    assert ports.orders.get(fresh_id).status is OrderStatus.PAID
    assert ports.payments.charges == 2
    ports.clock.advance(301)
    assert _relay(ports).relayed == 0  # every outbox is empty now


def test_a_crash_between_the_charge_and_its_announcement_is_announced_by_the_relay() -> None:
    # The crash window: charged and PAID, then the process died (here: the bus
    # refused) before PaymentReceived was published. Nothing redelivers OrderPlaced.
    ports = fake_ports()
    order_id = _post(ports, "orders_api", ORDER).body["order_id"]
    placed = ports.publisher.of_type("OrderPlaced")[0]
    ports.publisher.fail_next = 1
    with pytest.raises(TransientError):
        Dispatcher("payments", ports).handler(decode(placed))
    order = ports.orders.get(order_id)
    assert order.status is OrderStatus.PAID and ports.payments.charges == 1
    (pending,) = order.outbox
    assert pending["type"] == "io.eventsuite.PaymentReceived"
    ports.clock.advance(301)
    assert _relay(ports).order_ids == (order_id,)
    (received,) = ports.publisher.of_type("PaymentReceived")
    assert received["id"] == pending["id"] and ports.orders.get(order_id).outbox == ()
    _drain(ports)
    subjects = [m.subject for m in ports.mailer.sent]
    assert any("Payment received" in s for s in subjects), subjects
    assert ports.payments.charges == 1


def test_a_failed_relay_keeps_the_events_and_fails_the_run() -> None:
    ports = fake_ports()
    ports.publisher.fail_next = 2
    order_id = _post(ports, "orders_api", ORDER).body["order_id"]
    ports.clock.advance(301)
    with pytest.raises(TransientError, match=order_id):
        _relay(ports)
    assert len(ports.orders.get(order_id).outbox) == 1
    assert _relay(ports).order_ids == (order_id,)


def test_orders_adopted_from_events_store_placed_at_in_utc() -> None:
    # The reconciler compares stored times as strings, so an offset must not leak in.
    ports = fake_ports()
    data = {**order_v2(order_id="ord_adoptedoffset0001"), "placed_at": "2026-11-26T10:00:00+02:00"}
    Dispatcher("payments", ports).deliver(new_event("OrderPlaced", data, source="urn:test"))
    assert ports.orders.get("ord_adoptedoffset0001").placed_at == "2026-11-26T08:00:00.000Z"


# -- input edges: trailing newlines, conflicting retries, hostile JSON --------------------


def test_a_trailing_newline_cannot_sneak_an_email_or_key_through() -> None:
    ports = fake_ports()
    bad_email = _post(ports, "orders_api", {**ORDER, "customer": {"email": "ann@example.com\n"}})
    assert bad_email.status == 400
    assert any("customer.email" in p for p in bad_email.body["problems"])
    bad_key = _post(ports, "orders_api", ORDER, {"Idempotency-Key": "client-key-9\n"})
    assert bad_key.status == 400
    assert ports.orders.orders == {}


def test_a_correlation_id_with_a_newline_is_replaced_not_echoed() -> None:
    ports = fake_ports()
    response = _post(ports, "orders_api", ORDER, {"X-Correlation-Id": "corr-12345678\n"})
    assert response.status == 202
    echoed = response.headers["X-Correlation-Id"]
    assert "\n" not in echoed and echoed != "corr-12345678"


def test_response_headers_never_carry_cr_or_lf() -> None:
    from shared.http import HttpResponse

    with pytest.raises(ValueError, match="CR/LF"):
        HttpResponse(200, {}, {"X-Correlation-Id": "a\r\nSet-Cookie: x=1"}).all_headers()


def test_forged_events_with_a_trailing_newline_fail_their_schema() -> None:
    from shared.errors import SchemaViolation

    with pytest.raises(SchemaViolation):
        new_event(
            "OrderPlaced",
            order_v2(email="ann@example.com\n"),
            source="urn:t",
        )


def test_every_schema_pattern_is_anchored_at_the_true_end() -> None:
    import re

    from shared.catalog import default_catalog

    def patterns(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
            return found + [p for value in node.values() for p in patterns(value)]
        if isinstance(node, list):
            return [p for value in node for p in patterns(value)]
        return []

    catalog = default_catalog()
    every = [
        p
        for spec in catalog.events.values()
        for version in spec.versions.values()
        for p in patterns(version.schema)
    ]
    assert every
    for pattern in every:
        # Python's "$" (which jsonschema uses) also matches before a final newline.
        assert not pattern.endswith("$"), pattern
        assert pattern.endswith("(?![\\s\\S])"), pattern  # end of input, in ECMA and Python
    email = next(p for p in every if "@" in p)
    assert re.search(email, "ann@example.com") and not re.search(email, "ann@example.com\n")


def test_the_same_key_with_another_customer_name_is_a_conflict() -> None:
    ports = fake_ports()
    first = {**ORDER, "customer": {"email": "ann@example.com", "name": "Ann"}}
    second = {**ORDER, "customer": {"email": "ann@example.com", "name": "Eve"}}
    assert _post(ports, "orders_api", first, {"Idempotency-Key": "client-key-7"}).status == 202
    assert _post(ports, "orders_api", second, {"Idempotency-Key": "client-key-7"}).status == 409
    assert _post(ports, "orders_api", first, {"Idempotency-Key": "client-key-7"}).status == 200


def test_deeply_nested_json_is_a_400_not_a_crash() -> None:
    ports = fake_ports()
    response = _post(ports, "orders_api", b"[" * 60_000)
    assert response.status == 400
    assert response.body["problems"] == ["body is nested too deeply"]


def _get(ports: Ports, path: str) -> Any:
    return Runtime(ports).endpoint("order_status")(HttpRequest("GET", path, {}, b""))


def test_get_order_shows_status_amount_payment_and_each_transition() -> None:
    ports = fake_ports()
    placed = _post(ports, "orders_api", ORDER, {"X-Correlation-Id": "corr-get-order1"})
    order_id = placed.body["order_id"]
    before = _get(ports, f"/orders/{order_id}")
    assert before.status == 200 and before.body["status"] == "PLACED"
    assert list(before.body["transitions"]) == ["PLACED"]
    _drain(ports)
    after = _get(ports, placed.headers["Location"])
    assert after.status == 200
    assert after.body["status"] == "PAID" and after.body["payment_id"].startswith("pay_")
    assert after.body["amount"] == {"amount_minor": 2500, "currency": "EUR"}
    assert list(after.body["transitions"]) == ["PLACED", "PAID"]
    assert after.body["correlation_id"] == "corr-get-order1"
    assert after.headers["X-Correlation-Id"] == "corr-get-order1"
    assert "customer_email" not in after.body and "ann@example.com" not in json.dumps(after.body)


@pytest.mark.parametrize(
    "path", ["/orders/ord_doesnotexist00", "/orders/../../etc", "/orders/ord_x%0a", "/orders/"]
)
def test_get_order_for_unknown_or_malformed_ids_is_404(path: str) -> None:
    response = _get(fake_ports(), path)
    assert response.status == 404
    assert response.content_type == "application/problem+json"


def test_get_order_refuses_other_methods() -> None:
    response = Runtime(fake_ports()).endpoint("order_status")(
        HttpRequest("DELETE", "/orders/ord_0123456789abcdef", {}, b"")
    )
    assert response.status == 405 and response.headers["Allow"] == "GET"


def test_emails_go_out_in_business_order_whatever_order_the_deliveries_arrive_in() -> None:
    import random

    ports = fake_ports()
    order_id = _post(ports, "orders_api", ORDER).body["order_id"]
    _drain(ports)  # charged: OrderPlaced, PaymentReceived
    body = json.dumps(
        {"id": "evt_refund_1", "type": "payment.refunded", "data": {"order_id": order_id}}
    ).encode()
    header = sign(body, "whsec_test", int(ports.clock.now()))
    assert _post(ports, "payment_webhook", body, {SIGNATURE_HEADER: header}).status == 202
    refund = ports.publisher.of_type("PaymentWebhookReceived")[0]
    Dispatcher("payments", ports).deliver(refund)
    facts = [e for e in ports.publisher.events if not e["type"].endswith("WebhookReceived")]
    assert len(facts) == 3  # OrderPlaced, PaymentReceived, PaymentRefunded
    for seed in range(5):
        mailer = FakeMailer()
        shuffled = fake_ports(mailer=mailer, idempotency=FakeIdempotencyStore())
        notifier = Dispatcher("notifier", shuffled)
        pending = facts * 2  # duplicated, then shuffled
        random.Random(seed).shuffle(pending)
        rounds = 0
        while pending and rounds < 10:  # a retried delivery comes back in a later round
            pending = [e for e in pending if not notifier.deliver(e).acknowledged]
            rounds += 1
        assert pending == []
        kinds = [m.headers["X-Event-Type"] for m in mailer.sent]
        assert kinds == ["OrderPlaced", "PaymentReceived", "PaymentRefunded"], (seed, kinds)
