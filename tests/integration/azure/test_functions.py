"""The registered v2 functions called directly with ``azure.functions`` objects, against azurite,
the Event Grid stand-in and a real SMTP server."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage

from functions.azure import bootstrap
from functions.azure.adapters.tables import TableOrderStore
from functions.azure.entrypoint import RetryDelivery
from shared.envelope import from_structured, new_event, to_json_bytes
from shared.orders.webhooks import SIGNATURE_HEADER, sign
from shared.ports import OrderStatus
from tests.integration.azure.harness import Deployment, EventGridEmulator, ServiceClients
from tests.support import SmtpRecorder
from tests.unit.azure.app_support import sample, user_function

pytestmark = pytest.mark.integration

APP_URL = "https://eventsuite-func-0a1b2c.azurewebsites.net"
ORDER = {
    "customer": {"email": "ann@example.com", "name": "Ann"},
    "currency": "EUR",
    "items": [{"sku": "mug", "name": "Mug", "quantity": 2, "unit_price_minor": 1250}],
}


def post(endpoint: str, path: str, body: bytes, **headers: str) -> func.HttpResponse:
    """Invoke an HTTP function the way the host does."""
    request = func.HttpRequest(
        method="POST",
        url=f"{APP_URL}{path}",
        body=body,
        headers={"Content-Type": "application/json", **headers},
    )
    response: func.HttpResponse = user_function(endpoint)(request)
    return response


def types_in(storage: ServiceClients, queue: str) -> list[str]:
    return [str(from_structured(m)["type"]).rsplit(".", 1)[-1] for m in storage.messages(queue)]


def test_orders_api_stores_publishes_and_is_idempotent(
    app_environ: dict[str, str], storage: ServiceClients, deployment: Deployment
) -> None:
    body = json.dumps(ORDER).encode()
    response = post(
        "orders_api",
        "/orders",
        body,
        **{"Idempotency-Key": "key-az-000001", "X-Correlation-Id": "corr-az-0000001"},
    )
    assert response.status_code == 202, response.get_body()
    assert response.mimetype == "application/json"
    reply = json.loads(response.get_body())
    order_id = reply["order_id"]
    assert response.headers["Location"] == f"/orders/{order_id}"
    assert response.headers["X-Correlation-Id"] == "corr-az-0000001"
    orders = TableOrderStore(storage.table.get_table_client(deployment.tables["orders"]))
    stored = orders.get(order_id)
    assert stored is not None
    assert (stored.status, stored.amount_minor) == (OrderStatus.PLACED, 2500)
    # Event Grid delivered OrderPlaced to both subscribers, with our extensions.
    assert types_in(storage, "payments-events") == ["OrderPlaced"]
    assert types_in(storage, "notifier-events") == ["OrderPlaced"]
    placed = from_structured(storage.messages("payments-events")[0])
    assert placed["id"] == reply["event_id"] and placed["correlationid"] == "corr-az-0000001"

    again = post("orders_api", "/orders", body, **{"Idempotency-Key": "key-az-000001"})
    assert again.status_code == 200
    assert json.loads(again.get_body())["order_id"] == order_id
    changed = json.dumps({**ORDER, "currency": "USD"}).encode()
    assert (
        post("orders_api", "/orders", changed, **{"Idempotency-Key": "key-az-000001"}).status_code
        == 409
    )


def test_orders_api_rejects_invalid_orders(
    app_environ: dict[str, str], storage: ServiceClients
) -> None:
    response = post("orders_api", "/orders", b'{"customer": {}, "items": []}')
    assert response.status_code == 400
    assert json.loads(response.get_body())["problems"]
    assert storage.messages("payments-events") == []


def test_a_forged_webhook_is_refused(app_environ: dict[str, str], storage: ServiceClients) -> None:
    body = json.dumps(
        {
            "id": "evt_1",
            "type": "payment.refunded",
            "data": {"order_id": "ord_0123456789abcdef01234567"},
        }
    ).encode()
    forged = sign(body, "not-the-secret", int(time.time()))
    response = post("payment_webhook", "/webhooks/payments", body, **{SIGNATURE_HEADER: forged})
    assert response.status_code == 401
    assert json.loads(response.get_body())["title"] == "invalid signature"
    assert post("payment_webhook", "/webhooks/payments", body).status_code == 401  # unsigned
    assert storage.messages("payments-events") == []

    signed = sign(body, app_environ["EVENTSUITE_WEBHOOK_SECRET"], int(time.time()))
    accepted = post("payment_webhook", "/webhooks/payments", body, **{SIGNATURE_HEADER: signed})
    assert accepted.status_code == 202
    assert types_in(storage, "payments-events") == ["PaymentWebhookReceived"]
    assert storage.messages("notifier-events") == []


def test_a_misconfigured_app_answers_500_without_details(
    deployment: Deployment, storage: ServiceClients
) -> None:
    bootstrap.configure(deployment.environ())  # no Event Grid endpoint, no publisher
    try:
        response = post("orders_api", "/orders", json.dumps(ORDER).encode())
    finally:
        bootstrap.reset()
    assert response.status_code == 500
    assert json.loads(response.get_body()) == {
        "type": "about:blank",
        "title": "internal error",
        "status": 500,
    }


def _order_placed() -> Any:
    return new_event(
        "OrderPlaced",
        {
            "order_id": "ord_0123456789abcdef01234567",
            "customer": {"email": "bob@example.com", "name": "Bob"},
            "total": {"amount_minor": 990, "currency": "EUR"},
            "items": [{"sku": "tea", "name": "Tea", "quantity": 1, "unit_price_minor": 990}],
            "placed_at": "2025-01-01T00:00:00.000Z",
        },
        source="urn:test",
        correlation_id="corr-az-base64x",
    )


def test_queue_functions_take_plain_and_base64_messages(
    app_environ: dict[str, str], smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    event = _order_placed()
    notifier = user_function("notifier")
    notifier(QueueMessage(id="1", body=base64.b64encode(to_json_bytes(event)), dequeue_count=1))
    [mail] = recorder.to("bob@example.com")
    assert mail["X-Correlation-Id"] == "corr-az-base64x"
    # The same event again, now plain: a duplicate, no second email.
    notifier(QueueMessage(id="2", body=to_json_bytes(event), dequeue_count=1))
    assert len(recorder.to("bob@example.com")) == 1


def test_a_failing_delivery_raises_so_the_runtime_retries(
    deployment: Deployment, storage: ServiceClients
) -> None:
    from tests.support import free_port

    closed_port = free_port()
    bootstrap.configure(
        deployment.environ(
            EVENTSUITE_SMTP_HOST="127.0.0.1",
            EVENTSUITE_SMTP_PORT=str(closed_port),
            EVENTSUITE_SMTP_STARTTLS="false",
        )
    )
    try:
        with pytest.raises(RetryDelivery, match="attempt 1 of 8 failed, will retry: SMTP relay"):
            user_function("notifier")(
                QueueMessage(id="1", body=to_json_bytes(_order_placed()), dequeue_count=1)
            )
    finally:
        bootstrap.reset()
    assert storage.poison_entries("notifier") == []


def test_the_sample_event_grid_delivery_is_consumed(
    app_environ: dict[str, str], smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    user_function("notifier")(
        QueueMessage(id="1", body=sample("eventgrid_order_placed_v1.json"), dequeue_count=1)
    )
    [mail] = recorder.to("ann@example.com")  # a v1 event, upcast before the handler saw it
    assert "ord_0123456789abcdef01234567" in mail["Subject"] + mail.get_payload()


@pytest.fixture(autouse=True)
def _clear_mail(smtp: tuple[SmtpRecorder, int]) -> None:
    smtp[0].messages.clear()


def test_event_grid_sees_one_batch_per_publish(
    app_environ: dict[str, str], eventgrid: EventGridEmulator
) -> None:
    before = len(eventgrid.received)
    post("orders_api", "/orders", json.dumps(ORDER).encode())
    assert [e["type"] for e in eventgrid.received[before:]] == ["io.eventsuite.OrderPlaced"]
