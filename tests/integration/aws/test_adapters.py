"""The boto3 adapters against moto: DynamoDB leases and conditions, S3, EventBridge, secrets."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from typing import Any

import pytest

from functions.aws.adapters.dynamodb import (
    DynamoIdempotencyStore,
    DynamoMetadataIndex,
    DynamoOrderStore,
)
from functions.aws.adapters.eventbridge import EventBridgePublisher
from functions.aws.adapters.s3 import S3ObjectStore
from functions.aws.adapters.secrets import LazySecrets
from functions.aws.clients import AwsClients
from shared.envelope import new_event
from shared.errors import ObjectNotFound, PayloadTooLarge, TransientError
from shared.orders import new_order_id
from shared.ports import ClaimState, IndexQuery, OrderRecord, OrderStatus
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


def test_a_live_lease_blocks_and_an_expired_one_is_taken_over(
    idempotency: DynamoIdempotencyStore,
) -> None:
    key = f"indexer:{new_order_id()}"
    assert idempotency.claim(key, now=NOW, lease_seconds=60) is ClaimState.ACQUIRED
    # a concurrent delivery while the first attempt runs: retry later
    assert idempotency.claim(key, now=NOW + 30, lease_seconds=60) is ClaimState.IN_PROGRESS
    # the first attempt crashed without releasing: after the lease, a retry takes over
    assert idempotency.claim(key, now=NOW + 61, lease_seconds=60) is ClaimState.ACQUIRED
    assert idempotency.claim(key, now=NOW + 62, lease_seconds=60) is ClaimState.IN_PROGRESS


def test_completed_is_final_and_expires_by_ttl(
    idempotency: DynamoIdempotencyStore, clients: AwsClients, topology: Topology
) -> None:
    key = f"notifier:{new_order_id()}"
    assert idempotency.claim(key, now=NOW, lease_seconds=60) is ClaimState.ACQUIRED
    idempotency.complete(key, now=NOW + 1, ttl_seconds=3600)
    for later in (NOW + 2, NOW + 61, NOW + 10 * 3600):
        assert idempotency.claim(key, now=later, lease_seconds=60) is ClaimState.COMPLETED
    idempotency.release(key)  # a release never undoes a completion
    assert idempotency.claim(key, now=NOW + 3, lease_seconds=60) is ClaimState.COMPLETED
    item = _item(clients, topology, key)
    assert item is not None and item["expires_at"]["N"] == str(int(NOW + 1 + 3600))
    ttl = clients.dynamodb.describe_time_to_live(TableName=topology.names.tables["idempotency"])
    assert ttl["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


def test_release_frees_an_in_progress_claim_at_once(
    idempotency: DynamoIdempotencyStore, clients: AwsClients, topology: Topology
) -> None:
    key = f"payments:{new_order_id()}"
    idempotency.claim(key, now=NOW, lease_seconds=60)
    idempotency.release(key)
    assert _item(clients, topology, key) is None
    assert idempotency.claim(key, now=NOW + 1, lease_seconds=60) is ClaimState.ACQUIRED
    idempotency.release("never-claimed")  # no error


def test_only_one_of_many_concurrent_claims_wins(idempotency: DynamoIdempotencyStore) -> None:
    key = f"thumbnailer:{new_order_id()}"
    results: list[ClaimState] = []
    barrier = threading.Barrier(6)

    def contend() -> None:
        barrier.wait()
        results.append(idempotency.claim(key, now=NOW, lease_seconds=60))

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.value for r in results) == ["acquired"] + ["in_progress"] * 5


def _order(key: str | None = None, email: str = "ann@example.com") -> OrderRecord:
    return OrderRecord(
        order_id=new_order_id(),
        status=OrderStatus.PLACED,
        customer_email=email,
        customer_name=None,
        amount_minor=2500,
        currency="EUR",
        items=({"sku": "mug", "name": None, "quantity": 2, "unit_price_minor": 1250},),
        placed_at="2026-11-26T10:00:00.000Z",
        idempotency_key=key,
        updated_at="2026-11-26T10:00:00.000Z",
    )


def test_orders_round_trip_and_dedupe_on_the_idempotency_key(
    clients: AwsClients, topology: Topology
) -> None:
    store = DynamoOrderStore(clients, topology.names.tables["orders"])
    order = _order(f"key-{new_order_id()}")
    assert store.create(order) == (order, True)
    assert store.get(order.order_id) == order
    retry = _order(order.idempotency_key, email="other@example.com")
    assert store.create(retry) == (order, False)
    assert store.get(retry.order_id) is None
    assert store.create(order) == (order, False)  # same id again
    plain = _order(None)
    assert store.create(plain) == (plain, True)
    assert store.create(plain) == (plain, False)
    assert store.get(f"idempotency-key#{order.idempotency_key}") is None  # guards are not orders


def test_concurrent_creates_with_one_key_make_one_order(
    clients: AwsClients, topology: Topology
) -> None:
    store = DynamoOrderStore(clients, topology.names.tables["orders"])
    key = f"race-{new_order_id()}"
    outcomes: list[tuple[str, bool]] = []
    barrier = threading.Barrier(6)

    def place() -> None:
        barrier.wait()
        for _ in range(50):  # TransactionConflict is transient: the API answers 503, clients retry
            try:
                stored, created = store.create(_order(key))
            except TransientError:
                time.sleep(0.02)  # a loaded machine can lose several races in a row
                continue
            outcomes.append((stored.order_id, created))
            return

    threads = [threading.Thread(target=place) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 6
    assert [created for _, created in outcomes].count(True) == 1
    assert len({order_id for order_id, _ in outcomes}) == 1


def test_transitions_are_conditional_on_the_status(clients: AwsClients, topology: Topology) -> None:
    store = DynamoOrderStore(clients, topology.names.tables["orders"])
    order = _order()
    store.create(order)
    assert store.transition(
        order.order_id,
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2026-11-26T10:01:00.000Z",
        payment_id="pay_1",
    )
    assert not store.transition(
        order.order_id,
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAYMENT_FAILED,
        now="2026-11-26T10:02:00.000Z",
        decline_code="card_declined",
    )
    assert not store.transition(
        "ord_missing",
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2026-11-26T10:02:00.000Z",
    )
    stored = store.get(order.order_id)
    assert stored is not None
    assert (stored.status, stored.payment_id, stored.decline_code, stored.updated_at) == (
        OrderStatus.PAID,
        "pay_1",
        None,
        "2026-11-26T10:01:00.000Z",
    )


def _placed_at(order: OrderRecord, placed_at: str) -> OrderRecord:
    return dataclasses.replace(order, placed_at=placed_at, updated_at=placed_at)


def test_stale_placed_queries_the_status_index_oldest_first(
    clients: AwsClients, topology: Topology
) -> None:
    store = DynamoOrderStore(clients, topology.names.tables["orders"])
    after, before = "2031-03-01T00:00:00.000Z", "2031-03-02T00:00:00.000Z"
    stale = [
        _placed_at(_order(key), at)
        for key, at in [
            (f"stale-{new_order_id()}", "2031-03-01T18:00:00.000Z"),  # with a guard item
            (None, "2031-03-01T00:00:00.000Z"),  # at the window's start: included
            (None, "2031-03-01T09:30:00.000Z"),
            (None, "2031-03-01T23:59:59.999Z"),
        ]
    ]
    outside = [
        _placed_at(_order(), at)
        for at in (
            "2031-02-28T23:59:59.999Z",  # before the horizon
            "2031-03-02T00:00:00.000Z",  # at placed_before: still in its grace period
            "2031-03-02T00:04:00.000Z",
        )
    ]
    paid = _placed_at(_order(), "2031-03-01T12:00:00.000Z")
    for order in [*stale, *outside, paid]:
        assert store.create(order)[1]
    assert store.transition(
        paid.order_id,
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2031-03-01T12:00:01.000Z",
        payment_id="pay_x",
    )
    oldest_first = sorted(stale, key=lambda o: o.placed_at)

    assert store.stale_placed(placed_after=after, placed_before=before, limit=200) == oldest_first
    for limit in (1, 2, 3, 4):  # every cut, including one right before the order at `before`
        found = store.stale_placed(placed_after=after, placed_before=before, limit=limit)
        assert found == oldest_first[:limit]
    assert store.stale_placed(placed_after=after, placed_before=before, limit=0) == []
    assert store.stale_placed(placed_after=before, placed_before=after, limit=5) == []
    # Charged in the meantime: the index follows the status, so it drops out.
    store.transition(
        oldest_first[0].order_id,
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAYMENT_FAILED,
        now="2031-03-02T00:05:00.000Z",
        decline_code="card_declined",
    )
    assert (
        store.stale_placed(placed_after=after, placed_before=before, limit=200)
        == (oldest_first[1:])
    )


def test_stale_placed_follows_pages_of_the_query(clients: AwsClients, topology: Topology) -> None:
    """DynamoDB may end a page early (1 MB of items): the store must go on to the next one."""

    class SmallPages:
        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def query(self, **arguments: Any) -> Any:
            self.calls.append(dict(arguments))
            return clients.dynamodb.query(**{**arguments, "Limit": 1})

    store = DynamoOrderStore(clients, topology.names.tables["orders"])
    orders = [_placed_at(_order(), f"2031-04-01T0{hour}:00:00.000Z") for hour in (3, 1, 2, 5, 4)]
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


def test_the_metadata_index_searches_like_the_core_says(
    clients: AwsClients, topology: Topology
) -> None:
    index = DynamoMetadataIndex(clients, topology.names.tables["index"])
    docs = [
        {
            "image_id": "a1",
            "camera_make": "Fujifilm",
            "camera_model": "X-T5",
            "width": 6000,
            "captured_at": "2026-08-14T18:32:05",
            "gps": {"lat": 38.72, "lon": -9.14},
        },
        {
            "image_id": "b2",
            "camera_make": "Canon",
            "camera_model": "EOS R6",
            "width": 1200,
            "captured_at": "2025-01-01T00:00:00",
            "gps": None,
        },
        {
            "image_id": "c3",
            "camera_make": None,
            "camera_model": None,
            "width": 640,
            "captured_at": None,
        },
    ]
    for doc in docs:
        index.put(doc)
    assert index.get("a1") == docs[0]  # numbers, floats and nesting survive the round trip
    assert index.get("zz") is None
    assert [d["image_id"] for d in index.search(IndexQuery(camera="x-t"))] == ["a1"]
    assert [d["image_id"] for d in index.search(IndexQuery(min_width=1000))] == ["a1", "b2"]
    assert [d["image_id"] for d in index.search(IndexQuery(captured_from="2026-01-01"))] == ["a1"]
    assert [d["image_id"] for d in index.search(IndexQuery(limit=2))] == ["a1", "b2"]


def test_the_object_store(clients: AwsClients, topology: Topology) -> None:
    store = S3ObjectStore(clients)
    bucket = topology.names.buckets["thumbnails"]
    store.put(
        bucket,
        "t/b.bin",
        b"\x00\x01",
        content_type="application/octet-stream",
        metadata={"source-key": "uploads/café.jpg"},
    )
    store.put(bucket, "t/a.bin", b"a")
    got = store.get(bucket, "t/b.bin")
    assert (got.data, got.content_type) == (b"\x00\x01", "application/octet-stream")
    assert got.metadata["source-key"] == "uploads/caf%C3%A9.jpg"  # S3 metadata is ASCII
    assert store.list_keys(bucket, "t/") == ["t/a.bin", "t/b.bin"]
    assert store.exists(bucket, "t/a.bin") and not store.exists(bucket, "t/nope")
    with pytest.raises(ObjectNotFound):
        store.get(bucket, "t/nope")


def test_a_bounded_read_fetches_at_most_the_limit_plus_one_byte(
    clients: AwsClients, topology: Topology
) -> None:
    store = S3ObjectStore(clients)
    bucket = topology.names.buckets["uploads"]
    data = bytes(range(256)) * 40  # 10 240 bytes: an upload overwritten by a bigger object
    store.put(bucket, "uploads/big.bin", data, content_type="image/jpeg")
    store.put(bucket, "uploads/empty.bin", b"")
    sizes: list[int] = []  # Content-Length of every GetObject answer

    def record(http_response: Any, **_: Any) -> None:
        sizes.append(int(http_response.headers["content-length"]))

    clients.s3.meta.events.register("after-call.s3.GetObject", record)
    try:
        with pytest.raises(PayloadTooLarge, match="is 10240 bytes, limit is 100"):
            store.get(bucket, "uploads/big.bin", max_bytes=100)
        assert sizes == [101]  # a ranged GET, not the whole object
        with pytest.raises(PayloadTooLarge, match="limit is 10239"):
            store.get(bucket, "uploads/big.bin", max_bytes=len(data) - 1)
        exact = store.get(bucket, "uploads/big.bin", max_bytes=len(data))
        assert (exact.data, exact.content_type) == (data, "image/jpeg")
        assert store.get(bucket, "uploads/empty.bin", max_bytes=100).data == b""
        with pytest.raises(ObjectNotFound):
            store.get(bucket, "uploads/never.bin", max_bytes=100)
    finally:
        clients.s3.meta.events.unregister("after-call.s3.GetObject", record)
    assert max(sizes) <= len(data) + 1


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
