"""Orders: HTTP -> DynamoDB + EventBridge -> payments and notifier -> email (SMTP and SES)."""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import urllib.request
from typing import Any

import pytest

from functions.aws.clients import AwsClients
from functions.aws.functions import queue_function
from shared.catalog import default_catalog
from shared.orders.webhooks import sign
from shared.ports import Settings
from tests.integration.aws.conftest import unique_prefix
from tests.integration.aws.harness import Deployment, FakeLambdaContext, Poller
from tests.integration.aws.topology import create_topology
from tests.support import SmtpRecorder

pytestmark = pytest.mark.integration
WEBHOOK_SECRET = "whsec_moto_test"
MAIL_FROM = "orders@eventsuite.example"


@pytest.fixture(scope="module")
def suite(clients: AwsClients, smtp: tuple[SmtpRecorder, int]) -> Deployment:
    topology = create_topology(clients, unique_prefix("ord"), visibility_timeout_seconds=30)
    secret_arn = clients.secretsmanager.create_secret(
        Name=f"{topology.names.prefix}/payment-webhook-secret",
        SecretString=f"whsec_old_rotated_out,{WEBHOOK_SECRET}",
    )["ARN"]
    _, port = smtp
    return Deployment(
        clients,
        topology,
        env={
            "EVENTSUITE_MAILER": "smtp",
            "EVENTSUITE_MAIL_FROM": MAIL_FROM,
            "EVENTSUITE_SMTP_HOST": "127.0.0.1",
            "EVENTSUITE_SMTP_PORT": str(port),
            "EVENTSUITE_SMTP_STARTTLS": "false",
            "EVENTSUITE_WEBHOOK_SECRET_ARN": secret_arn,
        },
    )


@pytest.fixture(autouse=True)
def _clean(suite: Deployment, smtp: tuple[SmtpRecorder, int]) -> None:
    suite.purge()
    smtp[0].messages.clear()
    smtp[0].tempfail.clear()


def api_event(
    path: str,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    base64_body: bool = False,
    method: str = "POST",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) request event."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "pytest",
            },
            "requestId": "req-1",
            "stage": "$default",
        },
        "body": base64.b64encode(raw).decode() if base64_body else raw.decode(),
        "isBase64Encoded": base64_body,
    }


def order_body(email: str = "ann@example.com", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": {"email": email, "name": "Ann"},
        "currency": "EUR",
        "items": [{"sku": "mug", "name": "Mug", "quantity": 2, "unit_price_minor": 1250}],
    }
    body.update(overrides)
    return body


def post_order(
    suite: Deployment, body: Any, headers: dict[str, str] | None = None, **kwargs: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = suite.http["orders_api"](
        api_event("/orders", body, headers, **kwargs), FakeLambdaContext("orders_api")
    )
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def stored_order(suite: Deployment, order_id: str) -> dict[str, Any]:
    return suite.clients.dynamodb.get_item(
        TableName=suite.topology.names.tables["orders"],
        Key={"order_id": {"S": order_id}},
        ConsistentRead=True,
    )["Item"]


def test_an_order_flows_to_payment_and_two_emails(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    status, body, headers = post_order(suite, order_body(), base64_body=True)
    assert status == 202, body
    order_id = body["order_id"]
    assert headers["Location"] == f"/orders/{order_id}"
    assert stored_order(suite, order_id)["status"]["S"] == "PLACED"
    # OrderPlaced went through the bus rules to both subscribers (and nowhere else).
    for consumer in ("payments", "notifier"):
        (message,) = suite.pollers[consumer].peek()
        envelope = json.loads(message["Body"])
        assert envelope["detail-type"] == "io.eventsuite.OrderPlaced"
        assert envelope["detail"]["data"]["order_id"] == order_id
        assert envelope["detail"]["id"] == body["event_id"]
    assert suite.queue_depth("thumbnailer") == suite.queue_depth("indexer") == 0

    history = suite.drain_all(["payments", "notifier"])

    assert all(not i.failures for runs in history.values() for i in runs)
    item = stored_order(suite, order_id)
    assert item["status"]["S"] == "PAID"
    assert item["payment_id"]["S"].startswith("pay_")
    subjects = sorted(m["Subject"] for m in recorder.to("ann@example.com"))
    assert len(subjects) == 2 and any(order_id in s for s in subjects)
    assert {m["X-Event-Type"] for m in recorder.messages} == {"OrderPlaced", "PaymentReceived"}
    assert {m["From"] for m in recorder.messages} == {MAIL_FROM}
    # Correlation flows from the HTTP request through both emails.
    assert len({m["X-Correlation-Id"] for m in recorder.messages}) == 1


def test_a_declined_payment_is_announced_and_emailed(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    status, body, _ = post_order(suite, order_body("bob@decline.test"))
    assert status == 202
    suite.drain_all(["payments", "notifier"])
    item = stored_order(suite, body["order_id"])
    assert item["status"]["S"] == "PAYMENT_FAILED"
    assert item["decline_code"]["S"] == "card_declined"
    assert sorted(m["X-Event-Type"] for m in recorder.to("bob@decline.test")) == [
        "OrderPlaced",
        "PaymentFailed",
    ]


def test_the_idempotency_key_makes_retries_safe(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    key = {"Idempotency-Key": f"checkout-{time.time_ns()}"}
    first = post_order(suite, order_body("cy@example.com"), key)
    again = post_order(suite, order_body("cy@example.com"), key)
    other = post_order(suite, order_body("cy@example.com", currency="USD"), key)
    assert (first[0], again[0], other[0]) == (202, 200, 409)
    assert again[1]["order_id"] == first[1]["order_id"]
    assert again[1]["event_id"] == first[1]["event_id"]
    suite.drain_all(["payments", "notifier"])
    # The re-published OrderPlaced carried the same event id: one email, one charge.
    assert sorted(m["X-Event-Type"] for m in recorder.to("cy@example.com")) == [
        "OrderPlaced",
        "PaymentReceived",
    ]


def test_invalid_orders_get_400_with_reasons_and_publish_nothing(suite: Deployment) -> None:
    status, body, _ = post_order(
        suite, {"customer": {"email": "nope"}, "currency": "eur", "items": []}
    )
    assert status == 400
    assert any("customer.email" in p for p in body["problems"])
    assert any("currency" in p for p in body["problems"])
    status, body, _ = post_order(suite, b"{not json")
    assert status == 400
    bad_base64 = api_event("/orders", order_body())
    bad_base64.update(isBase64Encoded=True, body="***")
    response = suite.http["orders_api"](bad_base64, FakeLambdaContext())
    assert response["statusCode"] == 400
    assert suite.queue_depth("payments") == suite.queue_depth("notifier") == 0


def test_a_forged_webhook_is_refused_and_a_signed_refund_flows(
    suite: Deployment, smtp: tuple[SmtpRecorder, int]
) -> None:
    recorder, _ = smtp
    status, placed, _ = post_order(suite, order_body("dee@example.com"))
    assert status == 202
    suite.drain_all(["payments", "notifier"])
    webhook = suite.http["payment_webhook"]
    payload = json.dumps(
        {
            "id": f"evt_{time.time_ns()}",
            "type": "payment.refunded",
            "data": {"order_id": placed["order_id"]},
        }
    ).encode()
    now = int(time.time())

    forged = webhook(
        api_event(
            "/webhooks/payments",
            payload,
            {"eventsuite-signature": sign(payload, "not-the-secret", now)},
        ),
        None,
    )
    unsigned = webhook(api_event("/webhooks/payments", payload), None)
    assert (forged["statusCode"], unsigned["statusCode"]) == (401, 401)
    assert suite.queue_depth("payments") == 0

    # The secret comes from Secrets Manager (comma-separated during rotation).
    signed = webhook(
        api_event(
            "/webhooks/payments",
            payload,
            {"Eventsuite-Signature": sign(payload, WEBHOOK_SECRET, now)},
        ),
        None,
    )
    assert signed["statusCode"] == 202, signed["body"]
    suite.drain_all(["payments", "notifier"])
    assert stored_order(suite, placed["order_id"])["status"]["S"] == "REFUNDED"
    assert "PaymentRefunded" in {m["X-Event-Type"] for m in recorder.to("dee@example.com")}


def test_orders_api_does_not_need_the_webhook_secret(suite: Deployment) -> None:
    # Every function gets the secret ARN, but only the webhook's role may read it: the orders
    # API must never try (its settings hold a lazy, still unloaded secret list).
    secrets = suite.http["orders_api"].container.get(Settings).webhook_secrets
    post_order(suite, order_body("eve@example.com"))
    assert "not loaded" in repr(secrets)


def test_the_notifier_can_send_through_ses(suite: Deployment, moto_url: str) -> None:
    suite.clients.sesv2.create_email_identity(EmailIdentity=MAIL_FROM)
    notifier = queue_function(
        suite.config(consumer="notifier", extra={"EVENTSUITE_MAILER": "ses"}), suite.clients
    )
    status, body, _ = post_order(suite, order_body("fay@example.com"))
    assert status == 202
    Poller(suite.clients, suite.topology, "notifier", notifier).drain()
    with urllib.request.urlopen(f"{moto_url}/moto-api/data.json") as response:  # loopback only
        raw_messages = json.loads(response.read())["ses"]["RawMessage"]
    sent = [m for m in raw_messages if "fay@example.com" in m["destinations"]]
    assert len(sent) == 1
    assert sent[0]["source"] == MAIL_FROM
    assert body["order_id"] in sent[0]["raw_data"]
    assert "X-Event-Type: OrderPlaced" in sent[0]["raw_data"]


def test_a_large_event_is_claim_checked_through_s3(suite: Deployment) -> None:
    # Same topology, functions built with a 1 KiB claim-check threshold (the catalog's is
    # 256 KiB, more than an order can be), so an ordinary order exceeds it.
    small = Deployment(
        suite.clients,
        suite.topology,
        env=suite.env,
        catalog=dataclasses.replace(default_catalog(), claim_check_threshold_bytes=1024),
    )
    items = [
        {"sku": f"sku-{i}", "name": "x" * 150, "quantity": 1, "unit_price_minor": 100}
        for i in range(20)
    ]
    response = small.http["orders_api"](
        api_event("/orders", order_body("gus@example.com", items=items)), None
    )
    assert response["statusCode"] == 202
    order_id = json.loads(response["body"])["order_id"]
    (message,) = small.pollers["payments"].peek()
    detail = json.loads(message["Body"])["detail"]
    assert "data" not in detail or detail["data"] is None
    bucket, _, key = detail["dataref"].removeprefix("claim://").partition("/")
    assert bucket == suite.topology.names.buckets["claims"] and key.startswith("claims/")
    stored = json.loads(suite.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["order_id"] == order_id and len(stored["items"]) == 20

    history = small.drain_all(["payments", "notifier"])

    assert all(not i.failures for runs in history.values() for i in runs)
    assert stored_order(suite, order_id)["status"]["S"] == "PAID"
    assert small.dead_letters("payments") == [] and small.dead_letters("notifier") == []
