"""The Lambda handlers exactly as deployed: configured by environment, composed on first call."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from functions.aws import entrypoint
from functions.aws import functions as bootstrap
from functions.aws.adapters.dynamodb import DynamoOrderStore
from functions.aws.clients import AwsClients
from functions.local import samples
from shared.envelope import utc_now_iso
from shared.ids import derived_event_id
from shared.images.metadata import image_id
from shared.orders import new_order_id
from shared.ports import OrderRecord, OrderStatus
from tests.fakes import with_pending_announcement
from tests.integration.aws.conftest import unique_prefix
from tests.integration.aws.harness import FakeLambdaContext, Poller
from tests.integration.aws.topology import Topology, create_topology

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def topology(clients: AwsClients) -> Topology:
    return create_topology(clients, unique_prefix("ent"), visibility_timeout_seconds=30)


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, moto_url: str) -> Iterator[pytest.MonkeyPatch]:
    """A fresh execution environment: caches dropped, AWS_ENDPOINT_URL pointing at moto."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    entrypoint.reset()
    bootstrap.default_clients.cache_clear()
    yield monkeypatch
    entrypoint.reset()
    bootstrap.default_clients.cache_clear()


def test_handle_queue_is_configured_by_the_environment(
    lambda_env: pytest.MonkeyPatch, topology: Topology, clients: AwsClients
) -> None:
    for name, value in topology.environment(consumer="indexer", mailer="none").items():
        lambda_env.setenv(name, value)
    uploads = topology.names.buckets["uploads"]
    clients.s3.put_object(
        Bucket=uploads,
        Key="uploads/entry.jpg",
        Body=samples.jpeg_with_exif((320, 240), orientation=1),
    )

    invocations = Poller(clients, topology, "indexer", entrypoint.handle_queue).drain()

    assert [i.failures for i in invocations] == [[]]
    assert entrypoint.queue_function() is entrypoint.queue_function()  # composed once
    assert entrypoint.queue_function().consumer == "indexer"
    item = clients.dynamodb.get_item(
        TableName=topology.names.tables["index"],
        Key={"image_id": {"S": image_id(uploads, "uploads/entry.jpg")}},
    )
    assert item["Item"]["width"]["N"] == "320"
    # The indexer never publishes or mails: those clients were never even built.
    created = bootstrap.default_clients().created()
    assert "events" not in created and "sesv2" not in created and "secretsmanager" not in created


def test_handle_http_is_configured_by_the_environment(
    lambda_env: pytest.MonkeyPatch, topology: Topology, clients: AwsClients
) -> None:
    for name, value in topology.environment(endpoint="orders_api", mailer="none").items():
        lambda_env.setenv(name, value)
    event = {
        "version": "2.0",
        "rawPath": "/orders",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/orders"}},
        "isBase64Encoded": False,
        "body": json.dumps(
            {
                "customer": {"email": "zoe@example.com"},
                "currency": "GBP",
                "items": [{"sku": "tea", "quantity": 1, "unit_price_minor": 450}],
            }
        ),
    }
    response = entrypoint.handle_http(event, FakeLambdaContext("orders_api"))
    assert response["statusCode"] == 202, response["body"]
    assert response["headers"]["Content-Type"] == "application/json"
    order_id = json.loads(response["body"])["order_id"]
    (message,) = Poller(clients, topology, "payments", lambda e, c: {}).peek()
    assert json.loads(message["Body"])["detail"]["data"]["order_id"] == order_id


def test_handle_schedule_is_configured_by_the_environment(
    lambda_env: pytest.MonkeyPatch, topology: Topology, clients: AwsClients
) -> None:
    for name, value in topology.environment(schedule="order_reconciler", mailer="none").items():
        lambda_env.setenv(name, value)
    # Stored ten minutes ago, never announced (the orders API could not publish it).
    ten_minutes_ago = utc_now_iso(time.time() - 600)
    lost = with_pending_announcement(
        OrderRecord(
            order_id=new_order_id(),
            status=OrderStatus.PLACED,
            customer_email="lost@example.com",
            customer_name=None,
            amount_minor=450,
            currency="EUR",
            items=({"sku": "tea", "name": None, "quantity": 1, "unit_price_minor": 450},),
            placed_at=ten_minutes_ago,
            idempotency_key=None,
            updated_at=ten_minutes_ago,
        )
    )
    DynamoOrderStore(clients, topology.names.tables["orders"]).create(lost)
    scheduled = {"schedule": "order_reconciler", "scheduled_time": "t", "execution_id": "e"}

    report = entrypoint.handle_schedule(scheduled, FakeLambdaContext("order_reconciler"))

    assert report == {
        "schedule": "order_reconciler",
        "report": {"relayed": 1, "order_ids": [lost.order_id]},
    }
    assert entrypoint.schedule_function() is entrypoint.schedule_function()  # composed once
    queued = [
        json.loads(m["Body"]) for m in Poller(clients, topology, "payments", lambda e, c: {}).peek()
    ]
    (announced,) = [e for e in queued if e["detail"]["data"]["order_id"] == lost.order_id]
    assert announced["detail"]["id"] == derived_event_id("OrderPlaced", lost.order_id)
    created = bootstrap.default_clients().created()
    assert "sesv2" not in created and "secretsmanager" not in created and "sqs" not in created


def test_a_failing_schedule_run_raises_for_lambda_to_retry(
    lambda_env: pytest.MonkeyPatch, topology: Topology
) -> None:
    env = topology.environment(schedule="order_reconciler", mailer="none")
    env["EVENTSUITE_ORDERS_TABLE"] = f"{topology.names.prefix}-no-such-table"
    for name, value in env.items():
        lambda_env.setenv(name, value)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        entrypoint.handle_schedule({}, FakeLambdaContext("order_reconciler"))


def test_a_function_without_its_name_fails_loudly(lambda_env: pytest.MonkeyPatch) -> None:
    lambda_env.delenv("EVENTSUITE_CONSUMER", raising=False)
    with pytest.raises(RuntimeError, match="EVENTSUITE_CONSUMER"):
        entrypoint.handle_queue({"Records": []}, None)
