"""The boto3 adapters against moto: what is specific to DynamoDB, S3, EventBridge and Secrets
Manager. The ports' behaviour common to every backend is in tests/contract."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.aws.adapters.dynamodb import (
    DynamoIdempotencyStore,
    DynamoOrderStore,
)
from functions.aws.adapters.eventbridge import EventBridgePublisher
from functions.aws.adapters.s3 import S3ObjectStore
from functions.aws.adapters.secrets import LazySecrets
from functions.aws.clients import AwsClients
from shared.envelope import new_event
from shared.errors import TransientError
from shared.orders import new_order_id
from shared.ports import ClaimState
from tests.builders import order_record
from tests.integration.aws.conftest import unique_prefix
from tests.integration.aws.topology import Topology, create_topology
from tests.support import free_port

pytestmark = pytest.mark.integration
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def topology(clients: AwsClients) -> Topology:
    return create_topology(clients, unique_prefix("adp"), visibility_timeout_seconds=30)


@pytest.fixture
def idempotency(clients: AwsClients, topology: Topology) -> DynamoIdempotencyStore:
    return DynamoIdempotencyStore(clients, topology.names.tables["idempotency"])


def _item(clients: AwsClients, topology: Topology, key: str) -> dict[str, Any] | None:
    return clients.dynamodb.get_item(
        TableName=topology.names.tables["idempotency"], Key={"key": {"S": key}}
    ).get("Item")


def test_a_completed_claim_carries_the_ttl_attribute_of_the_table(
    idempotency: DynamoIdempotencyStore, clients: AwsClients, topology: Topology
) -> None:
    key = f"notifier:{new_order_id()}"
    assert idempotency.claim(key, now=NOW, lease_seconds=60) is ClaimState.ACQUIRED
    idempotency.complete(key, now=NOW + 1, ttl_seconds=3600)
    item = _item(clients, topology, key)
    assert item is not None and item["expires_at"]["N"] == str(int(NOW + 1 + 3600))
    ttl = clients.dynamodb.describe_time_to_live(TableName=topology.names.tables["idempotency"])
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }
    idempotency.release(f"payments:{new_order_id()}")  # never claimed: no item, no error


def test_idempotency_key_guards_are_not_orders(clients: AwsClients, topology: Topology) -> None:
    store = DynamoOrderStore(clients, topology.names.tables["orders"])
    order = order_record(idempotency_key=f"key-{new_order_id()}")
    assert store.create(order) == (order, True)
    assert store.get(f"idempotency-key#{order.idempotency_key}") is None


def test_stale_placed_follows_pages_of_the_query(clients: AwsClients, topology: Topology) -> None:
    """DynamoDB may end a page early (1 MB of items): the store must go on to the next one."""

    class SmallPages:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def query(self, **arguments: Any) -> Any:
            self.calls.append(dict(arguments))
            return clients.dynamodb.query(**{**arguments, "Limit": 1})

    store = DynamoOrderStore(clients, topology.names.tables["orders"])
    orders = [order_record(placed_at=f"2031-04-01T0{hour}:00:00.000Z") for hour in (3, 1, 2, 5, 4)]
    for order in orders:
        store.create(order)
    pages = SmallPages()
    paged = DynamoOrderStore(
        AwsClients(overrides={"dynamodb": pages}), topology.names.tables["orders"]
    )
    found = paged.stale_placed(
        placed_after="2031-04-01T00:00:00.000Z", placed_before="2031-04-01T05:00:00.000Z", limit=10
    )
    assert [o.placed_at[11:13] for o in found] == ["01", "02", "03", "04"]
    assert len(pages.calls) >= 5 and "ExclusiveStartKey" in pages.calls[-1]
    assert {c["IndexName"] for c in pages.calls} == {"status-placed_at-index"}


def test_s3_metadata_is_ascii_so_other_text_is_percent_encoded(
    clients: AwsClients, topology: Topology
) -> None:
    store = S3ObjectStore(clients)
    bucket = topology.names.buckets["thumbnails"]
    store.put(bucket, "t/b.bin", b"\x00\x01", metadata={"source-key": "uploads/café.jpg"})
    assert store.get(bucket, "t/b.bin").metadata["source-key"] == "uploads/caf%C3%A9.jpg"


def test_unreachable_services_are_transient_errors() -> None:
    dead = AwsClients(
        region="us-east-1",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        max_attempts=1,
        connect_timeout=1,
    )
    with pytest.raises(TransientError, match="S3 GetObject"):
        S3ObjectStore(dead).get("bucket", "key")
    with pytest.raises(TransientError, match="DynamoDB PutItem"):
        DynamoIdempotencyStore(dead, "table").claim("k", now=NOW, lease_seconds=1)
    with pytest.raises(TransientError, match="PutEvents"):
        EventBridgePublisher(dead, "bus").publish(
            [
                new_event(
                    "PaymentReceived",
                    {
                        "order_id": "ord_00000000",
                        "payment_id": "p",
                        "customer_email": "a@b.co",
                        "amount": {"amount_minor": 1, "currency": "EUR"},
                    },
                    source="urn:t",
                )
            ]
        )


def test_put_events_goes_in_calls_of_at_most_ten(moto_url: str, topology: Topology) -> None:
    clients = AwsClients(region="us-east-1", endpoint_url=moto_url)  # own client: own hooks
    calls: list[int] = []
    clients.events.meta.events.register(
        "provide-client-params.events.PutEvents",
        lambda params, **_: calls.append(len(params["Entries"])),
    )
    events = [
        new_event(
            "PaymentReceived",
            {
                "order_id": f"ord_{n:024x}",
                "payment_id": f"pay_{n}",
                "customer_email": "a@b.co",
                "amount": {"amount_minor": n, "currency": "EUR"},
            },
            source="urn:t",
        )
        for n in range(25)
    ]

    EventBridgePublisher(clients, topology.names.bus).publish(events)

    assert calls == [10, 10, 5]
    seen: set[str] = set()
    for _ in range(10):
        messages = clients.sqs.receive_message(
            QueueUrl=topology.queue_urls["notifier"], MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            break
        for m in messages:
            seen.add(json.loads(m["Body"])["detail"]["id"])
            clients.sqs.delete_message(
                QueueUrl=topology.queue_urls["notifier"], ReceiptHandle=m["ReceiptHandle"]
            )
    assert seen == {e["id"] for e in events}


def test_the_webhook_secret_is_read_once_and_only_when_used(moto_url: str) -> None:
    clients = AwsClients(region="us-east-1", endpoint_url=moto_url)
    arn = clients.secretsmanager.create_secret(
        Name=unique_prefix("secret"), SecretString=" new-secret , old-secret "
    )["ARN"]
    calls: list[str] = []
    clients.secretsmanager.meta.events.register(
        "provide-client-params.secrets-manager.GetSecretValue", lambda **_: calls.append("get")
    )
    secrets = LazySecrets(clients, arn)
    assert calls == []
    assert list(secrets) == ["new-secret", "old-secret"]
    assert len(secrets) == 2 and secrets[1] == "old-secret"
    assert calls == ["get"]
    assert "new-secret" not in repr(secrets)


def test_the_smtp_password_comes_from_its_secret_when_only_the_arn_is_set(moto_url: str) -> None:
    from functions.aws.bootstrap import build_container
    from functions.aws.config import AwsConfig
    from shared.ports import Mailer

    clients = AwsClients(region="us-east-1", endpoint_url=moto_url)
    arn = clients.secretsmanager.create_secret(
        Name=unique_prefix("smtp"), SecretString="p@ss, with a comma"
    )["ARN"]
    environ = {
        "EVENTSUITE_MAILER": "smtp",
        "EVENTSUITE_MAIL_FROM": "orders@example.com",
        "EVENTSUITE_SMTP_HOST": "127.0.0.1",
        "EVENTSUITE_SMTP_USERNAME": "eventsuite",
        "EVENTSUITE_SMTP_PASSWORD_SECRET_ARN": arn,
    }
    mailer: Any = build_container(AwsConfig.from_env(environ), clients).get(Mailer)
    assert mailer.password == "p@ss, with a comma"  # the whole string, not a rotation list
    # Without the ARN (every function but the mail ones) nothing is fetched and no password set.
    del environ["EVENTSUITE_SMTP_PASSWORD_SECRET_ARN"]
    without: Any = build_container(AwsConfig.from_env(environ), clients).get(Mailer)
    assert without.password is None
