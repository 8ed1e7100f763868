"""The operator CLI against azurite: poison queues and Event Grid dead-letter blobs (park, list,
fix, redrive, processed once), Table Storage orders by status, index search, blob uploads."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from functions.azure import bootstrap
from functions.azure.adapters.tables import TableMetadataIndex, TableOrderStore
from shared.envelope import to_json_bytes, to_structured
from shared.ports import OrderStatus
from tests.builders import order_record, searchable_images
from tests.integration.azure.harness import Azurite, Deployment, QueueHost, ServiceClients
from tests.integration.operate_support import ORDER_ID, cli, payment_received
from tests.support import SmtpRecorder, free_port

pytestmark = pytest.mark.integration
CUSTOMER = "ann@example.com"
DEADLETTERS = "deadletters"


@pytest.fixture
def env(deployment: Deployment) -> dict[str, str]:
    return {
        "EVENTSUITE_STORAGE_CONNECTION_STRING": deployment.connection_string,
        "EVENTSUITE_ORDERS_TABLE": deployment.tables["orders"],
        "EVENTSUITE_INDEX_TABLE": deployment.tables["index"],
        "EVENTSUITE_UPLOADS_BUCKET": deployment.uploads,
        "EVENTSUITE_DEADLETTER_CONTAINER": DEADLETTERS,
        "EVENTSUITE_AZURE_PREFIX": "ops",
    }


@pytest.fixture
def deadletters(storage: ServiceClients) -> Any:
    """Event Grid's dead-letter container, emptied."""
    from azure.core.exceptions import ResourceExistsError

    container = storage.blob.get_container_client(DEADLETTERS)
    try:
        container.create_container()
    except ResourceExistsError:
        for blob in container.list_blobs():
            container.delete_blob(blob.name)
    return container


def azure(*args: str) -> list[str]:
    return ["--backend", "azure", *args]


def test_park_list_fix_redrive_processed_once(
    deployment: Deployment,
    storage: ServiceClients,
    deadletters: Any,
    env: dict[str, str],
    smtp: tuple[SmtpRecorder, int],
) -> None:
    recorder, port = smtp
    # The relay is shared by the session: count only what this test sends from here on.
    earlier = sum(CUSTOMER in str(m["To"]) for m in recorder.messages)
    recorder.tempfail.add(CUSTOMER)  # the bug: the relay refuses the customer, every time
    bootstrap.configure(
        deployment.environ(
            EVENTSUITE_MAILER="smtp",
            EVENTSUITE_SMTP_HOST="127.0.0.1",
            EVENTSUITE_SMTP_PORT=str(port),
            EVENTSUITE_SMTP_STARTTLS="false",
        )
    )
    try:
        event = payment_received()
        body = to_json_bytes(event).decode()
        storage.queue.get_queue_client("notifier-events").send_message(body)
        QueueHost(storage, "notifier").drain()  # the dispatcher parks it after 8 attempts
        # A copy the runtime moved as is, and Event Grid's own dead letters of the same event,
        # in both shapes its blobs take (the event nested with its properties, or flat).
        storage.queue.get_queue_client("notifier-events-poison").send_message(body)
        structured = to_structured(event)
        nested = [
            {
                "event": structured,
                "deadLetterProperties": {
                    "deadLetterReason": "MaxDeliveryAttemptsExceeded",
                    "deliveryAttempts": 8,
                    "lastDeliveryOutcome": "Busy",
                },
            }
        ]
        flat = [{**structured, "deadLetterReason": "TimeToLiveExceeded", "deliveryAttempts": 3}]
        for shape in (nested, flat):
            deadletters.upload_blob(
                f"OPS-NOTIFIER/2026/12/7/11/{uuid.uuid4()}.json", json.dumps(shape).encode()
            )
        deadletters.upload_blob(f"SOMEONE-ELSE/2026/12/7/11/{uuid.uuid4()}.json", b"[]")

        listed = cli(azure("--json", "dlq", "list", "--consumer", "notifier"), env)
        assert listed.code == 0, listed.err
        parked = json.loads(listed.out)
        assert {p["event_id"] for p in parked} == {event["id"]}
        reasons = sorted(p["reason"].split(":")[0] for p in parked)
        assert reasons == [
            "Event Grid",
            "Event Grid",
            "gave up after 8 attempts",
            "maxDequeueCount reached",
        ]
        assert any("MaxDeliveryAttemptsExceeded - Busy" in p["reason"] for p in parked)
        assert all(p["subject"] == ORDER_ID for p in parked)
        blob_id = next(p["id"] for p in parked if p["id"].startswith("blob:"))
        shown = cli(azure("dlq", "show", blob_id), env)
        assert shown.code == 0 and '"payment_id": "pay_operate1"' in shown.out

        recorder.tempfail.discard(CUSTOMER)  # the fix
        redriven = cli(azure("dlq", "redrive", "--consumer", "notifier", "--all"), env)
        assert redriven.code == 0, redriven.err
        assert redriven.out.count("redriven ") == 4
        assert storage.messages("notifier-events-poison") == []
        assert [b.name.split("/")[0] for b in deadletters.list_blobs()] == ["SOMEONE-ELSE"]
        waiting = [json.loads(text) for text in storage.messages("notifier-events")]
        assert {(m["id"], m["redrivecount"]) for m in waiting} == {(event["id"], "1")}

        QueueHost(storage, "notifier").drain()
        mails = [m for m in recorder.messages if CUSTOMER in str(m["To"])][earlier:]
        assert len(mails) == 1  # four copies redriven, one email: deduplicated on the event id
        assert storage.messages("notifier-events-poison") == []
        gone = cli(azure("dlq", "redrive", "--id", blob_id), env)
        assert gone.code == 2 and "not dead-lettered" in gone.err
    finally:
        bootstrap.reset()
        recorder.tempfail.discard(CUSTOMER)


def test_purge_bad_input_and_an_unreachable_backend(
    storage: ServiceClients, deadletters: Any, env: dict[str, str], azurite: Azurite
) -> None:
    storage.queue.get_queue_client("indexer-events-poison").send_message("not json")
    deadletters.upload_blob(f"OPS-INDEXER-UPLOADS/2026/1/1/1/{uuid.uuid4()}.json", b"[{}, {}]")
    assert cli(azure("dlq", "purge", "--consumer", "indexer"), env).code == 2
    assert cli(azure("dlq", "show", "nope"), env).code == 2
    purged = cli(azure("dlq", "purge", "--consumer", "indexer", "--yes"), env)
    assert purged.out.strip() == "purged 3 dead letters of indexer"
    assert list(deadletters.list_blobs()) == []
    port = free_port()
    down = {
        **env,
        "EVENTSUITE_STORAGE_CONNECTION_STRING": azurite.connection_string.replace(
            f":{azurite.queue_port}/", f":{port}/"
        ),
    }
    run = cli(azure("dlq", "list", "--consumer", "indexer"), down)
    assert run.code == 1 and run.err.startswith("eventsuite: error: azure: ")
    assert run.err.count("\n") == 1


def test_orders_by_status_index_search_and_upload(
    deployment: Deployment, storage: ServiceClients, env: dict[str, str], tmp_path: Any
) -> None:
    store = TableOrderStore(storage.table.get_table_client(deployment.tables["orders"]))
    for n in range(4):
        store.create(
            order_record(
                f"ord_ops{n}",
                email=CUSTOMER,
                customer_name=None,
                amount_minor=100 * (n + 1),
                items=({"sku": "mug", "quantity": n + 1, "unit_price_minor": 100},),
                placed_at=f"2026-03-0{4 - n}T10:00:00.000Z",
                idempotency_key=f"key-{n}",
            )
        )
    store.transition(
        "ord_ops1",
        from_status=OrderStatus.PLACED,
        to_status=OrderStatus.PAYMENT_FAILED,
        now="2026-03-05T00:00:00.000Z",
        decline_code="card_declined",
    )
    assert [o.order_id for o in store.by_status(OrderStatus.PLACED, limit=2)] == [
        "ord_ops3",
        "ord_ops2",
    ]
    newest = store.by_status(OrderStatus.PLACED, limit=2, newest_first=True)
    assert [o.order_id for o in newest] == ["ord_ops0", "ord_ops2"]
    failed = cli(azure("orders", "list", "--status", "payment_failed"), env)
    assert "ord_ops1" in failed.out and "card_declined" in failed.out

    index = TableMetadataIndex(storage.table.get_table_client(deployment.tables["index"]))
    for document in searchable_images():
        index.put(document)
    found = cli(azure("--json", "index", "search", "--max-bytes", "100000"), env)
    assert [d["image_id"] for d in json.loads(found.out)] == ["b2"]
    boxed = cli(azure("--json", "index", "search", "--gps-box", "38,-10,39,-9"), env)
    assert [d["image_id"] for d in json.loads(boxed.out)] == ["a1"]

    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG not really")
    assert cli(azure("upload", str(photo)), env).code == 0
    blob = storage.blob.get_blob_client(deployment.uploads, "uploads/photo.png")
    assert blob.download_blob().readall() == photo.read_bytes()
