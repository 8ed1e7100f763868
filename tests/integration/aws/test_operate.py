"""The operator CLI against moto: SQS dead-letter queues (park, list, fix, redrive, processed
once), DynamoDB orders by status, index search, S3 uploads, and the one-line errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.aws.adapters.dynamodb import DynamoMetadataIndex, DynamoOrderStore
from functions.aws.clients import AwsClients
from shared.envelope import to_structured
from shared.ports import OrderRecord, OrderStatus
from tests.builders import order_record, searchable_images
from tests.integration.aws.conftest import REGION, unique_prefix
from tests.integration.aws.harness import Deployment
from tests.integration.aws.topology import Topology, create_topology
from tests.integration.operate_support import ORDER_ID, cli, payment_received
from tests.support import SmtpRecorder, free_port

pytestmark = pytest.mark.integration
CUSTOMER = "ann@example.com"


@pytest.fixture(scope="module")
def topology(clients: AwsClients) -> Topology:
    return create_topology(clients, unique_prefix("ops"), visibility_timeout_seconds=30)


@pytest.fixture
def env(moto_url: str, topology: Topology) -> dict[str, str]:
    return {
        "EVENTSUITE_AWS_PREFIX": topology.names.prefix,
        "EVENTSUITE_UPLOADS_BUCKET": topology.names.buckets["uploads"],
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": REGION,
    }


def aws(*args: str) -> list[str]:
    return ["--backend", "aws", *args]


def test_park_list_fix_redrive_processed_once(
    clients: AwsClients,
    topology: Topology,
    env: dict[str, str],
    smtp: tuple[SmtpRecorder, int],
) -> None:
    recorder, port = smtp
    deployment = Deployment(
        clients,
        topology,
        env={
            "EVENTSUITE_MAILER": "smtp",
            "EVENTSUITE_SMTP_HOST": "127.0.0.1",
            "EVENTSUITE_SMTP_PORT": str(port),
            "EVENTSUITE_SMTP_STARTTLS": "false",
        },
    )
    recorder.tempfail.add(CUSTOMER)  # the bug: the relay refuses the customer, every time
    event = payment_received()
    body = json.dumps(to_structured(event))
    deployment.send_raw("notifier", body)
    deployment.pollers["notifier"].drain()
    # A second copy, moved by the queue's redrive policy itself (no attributes on it).
    clients.sqs.send_message(QueueUrl=topology.dlq_urls["notifier"], MessageBody=body)

    listed = cli(aws("--json", "dlq", "list", "--consumer", "notifier"), env)
    assert listed.code == 0, listed.err
    parked = json.loads(listed.out)
    assert sorted(p["reason"].split(":")[0] for p in parked) == [
        "gave up after 8 attempts",
        "maxReceiveCount reached",
    ]
    assert {p["event_id"] for p in parked} == {event["id"]}
    assert all(p["subject"] == event["subject"] for p in parked)
    table = cli(aws("dlq", "list"), env)
    assert event["id"] in table.out and "gave up after 8 attempts" in table.out
    shown = cli(aws("dlq", "show", parked[0]["id"]), env)
    assert shown.code == 0 and '"payment_id": "pay_operate1"' in shown.out

    recorder.tempfail.discard(CUSTOMER)  # the fix
    redriven = cli(aws("dlq", "redrive", "--consumer", "notifier", "--all"), env)
    assert redriven.code == 0, redriven.err
    assert redriven.out.count("redriven ") == 2
    assert deployment.queue_depth("notifier", dlq=True) == 0
    waiting = deployment.pollers["notifier"].peek()
    attributes = [
        {k: v["StringValue"] for k, v in m.get("MessageAttributes", {}).items()} for m in waiting
    ]
    assert sorted(a.get("redrive_count") for a in attributes) == ["1", "1"]
    assert any(a.get("reason", "").startswith("gave up after 8") for a in attributes)
    assert {json.loads(m["Body"])["id"] for m in waiting} == {event["id"]}
    assert {json.loads(m["Body"])["redrivecount"] for m in waiting} == {"1"}

    deployment.pollers["notifier"].drain()
    mails = [m for m in recorder.messages if ORDER_ID in str(m["Subject"]) + str(m.get_payload())]
    assert len(mails) == 1  # the second copy was deduplicated on the event id
    assert deployment.queue_depth("notifier", dlq=True) == 0
    gone = cli(aws("dlq", "redrive", "--id", parked[0]["id"]), env)
    assert gone.code == 2 and "not dead-lettered" in gone.err and gone.err.count("\n") == 1


def test_bad_input_and_an_unreachable_backend(env: dict[str, str]) -> None:
    assert cli(aws("dlq", "purge", "--consumer", "notifier"), env).code == 2
    unknown = cli(aws("dlq", "list", "--consumer", "nobody"), env)
    assert unknown.code == 2 and "unknown consumer 'nobody'" in unknown.err
    down = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    run = cli(aws("dlq", "list"), down)
    assert run.code == 1 and run.out == ""
    assert run.err.startswith("eventsuite: error: aws: ") and run.err.count("\n") == 1


def test_purge_asks_for_yes_then_empties_the_dlq(
    clients: AwsClients, topology: Topology, env: dict[str, str]
) -> None:
    for _ in range(3):
        clients.sqs.send_message(QueueUrl=topology.dlq_urls["indexer"], MessageBody="{}")
    assert cli(aws("dlq", "purge", "--consumer", "indexer"), env).code == 2
    purged = cli(aws("dlq", "purge", "--consumer", "indexer", "--yes"), env)
    assert purged.out.strip() == "purged 3 dead letters of indexer"
    assert json.loads(cli(aws("--json", "dlq", "list", "--consumer", "indexer"), env).out) == []


def _order(order_id: str, placed_at: str) -> OrderRecord:
    return order_record(
        order_id,
        placed_at=placed_at,
        amount_minor=1250,
        idempotency_key=f"key-{order_id}",
        items=({"sku": "mug", "quantity": 1, "unit_price_minor": 1250},),
    )


def test_orders_by_status_use_the_status_index(
    clients: AwsClients, topology: Topology, env: dict[str, str]
) -> None:
    store = DynamoOrderStore(clients, topology.names.tables["orders"])
    for n in range(5):
        store.create(_order(f"ord_ops{n}", f"2026-03-0{n + 1}T10:00:00.000Z"))
    store.transition(
        "ord_ops2",
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAID,
        now="2026-03-03T10:00:01.000Z",
        payment_id="pay_2",
    )
    placed = store.by_status(OrderStatus.PLACED, limit=10)
    assert [o.order_id for o in placed] == ["ord_ops0", "ord_ops1", "ord_ops3", "ord_ops4"]
    assert [o.order_id for o in store.by_status(OrderStatus.PLACED, limit=2)] == [
        "ord_ops0",
        "ord_ops1",
    ]
    assert store.by_status(OrderStatus.REFUNDED, limit=10) == []
    newest = store.by_status(OrderStatus.PLACED, limit=2, newest_first=True)
    assert [o.order_id for o in newest] == ["ord_ops4", "ord_ops3"]
    paid = cli(aws("--json", "orders", "list", "--status", "paid"), env)
    assert [o["payment_id"] for o in json.loads(paid.out)] == ["pay_2"]
    recent = cli(aws("--json", "orders", "list", "--newest", "--limit", "3"), env)
    assert [o["order_id"] for o in json.loads(recent.out)] == ["ord_ops4", "ord_ops3", "ord_ops2"]
    assert "status:          PAID" in cli(aws("orders", "show", "ord_ops2"), env).out


def test_index_search_and_upload(
    clients: AwsClients, topology: Topology, env: dict[str, str], tmp_path: Any
) -> None:
    index = DynamoMetadataIndex(clients, topology.names.tables["index"])
    for document in searchable_images():
        index.put(document)
    found = cli(aws("--json", "index", "search", "--format", "png"), env)
    assert [d["image_id"] for d in json.loads(found.out)] == ["b2"]
    boxed = cli(aws("--json", "index", "search", "--gps-box", "38,-10,39,-9"), env)
    assert [d["image_id"] for d in json.loads(boxed.out)] == ["a1"]

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"\xff\xd8\xff not really")
    uploaded = cli(aws("upload", str(photo)), env)
    assert uploaded.code == 0, uploaded.err
    bucket = topology.names.buckets["uploads"]
    stored = clients.s3.get_object(Bucket=bucket, Key="uploads/photo.jpg")
    assert stored["Body"].read() == photo.read_bytes()
    assert stored["ContentType"] == "image/jpeg"
