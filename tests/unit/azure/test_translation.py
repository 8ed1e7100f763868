"""Pure translations of the Azure adapters: blob metadata, client endpoints, poison entries,
CloudEvents for Event Grid (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from functions.azure.adapters.blob import decode_metadata, encode_metadata
from functions.azure.adapters.eventgrid import to_azure_cloud_event
from functions.azure.adapters.queues import MAX_MESSAGE_BYTES, dead_letter_message
from functions.azure.adapters.tables import safe_key
from functions.azure.clients import AzureClients, _service_url
from functions.azure.errors import is_transient
from shared.envelope import new_event

AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
    "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;QueueEndpoint=http://127.0.0.1:2/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:3/devstoreaccount1;"
)


def test_blob_metadata_round_trips_kebab_names_and_unicode_values() -> None:
    metadata = {"source-key": "uploads/été 100%.jpg", "correlation-id": "c-1", "width": "256"}
    encoded = encode_metadata(metadata)
    assert set(encoded) == {"source_key", "correlation_id", "width"}
    assert all(v.isascii() and v == v.strip() for v in encoded.values())
    assert decode_metadata(encoded) == metadata


def test_blob_metadata_names_must_be_identifiers() -> None:
    with pytest.raises(ValueError, match="cannot be stored"):
        encode_metadata({"1st": "x"})


def test_unsafe_table_keys_are_hashed_stably() -> None:
    assert safe_key("ord_0123456789abcdef01234567") == "ord_0123456789abcdef01234567"
    hashed = safe_key("a/b#c?d")
    assert hashed.startswith("h-") and hashed == safe_key("a/b#c?d") != safe_key("a/b#c?e")


@pytest.mark.parametrize(
    ("url", "service", "expected"),
    [
        ("https://acct.blob.core.windows.net/", "queue", "https://acct.queue.core.windows.net"),
        ("https://acct.blob.core.windows.net", "table", "https://acct.table.core.windows.net"),
        (
            "https://acct.queue.core.chinacloudapi.cn",
            "blob",
            "https://acct.blob.core.chinacloudapi.cn",
        ),
    ],
)
def test_service_endpoints_derive_from_the_blob_endpoint(
    url: str, service: str, expected: str
) -> None:
    assert _service_url(url, service) == expected


def test_a_connection_string_builds_clients_without_network() -> None:
    clients = AzureClients({"EVENTSUITE_STORAGE_CONNECTION_STRING": AZURITE})
    assert clients.created() == []
    assert clients.blob.url.startswith("http://127.0.0.1:1/devstoreaccount1")
    assert clients.table.url.startswith("http://127.0.0.1:3")
    assert clients.created() == ["blob", "table"]


def test_account_urls_use_the_managed_identity() -> None:
    class Credential:
        def get_token(self, *scopes: str, **kwargs: object) -> None:
            raise AssertionError("never called: no request is made")

    credential = Credential()
    clients = AzureClients(
        {
            "EVENTSUITE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net/",
            "EVENTSUITE_STORAGE_TABLE_URL": "https://acct.table.core.windows.net/",
            "AzureWebJobsStorage": AZURITE,
        },  # the explicit data account wins over host storage
        credential=credential,
    )
    assert clients.queue.url.startswith("https://acct.queue.core.windows.net")
    assert clients.blob.credential is credential
    assert clients.table.url.startswith("https://acct.table.core.windows.net")


def test_identity_based_host_storage_is_understood() -> None:
    clients = AzureClients({"AzureWebJobsStorage__accountName": "hostacct"}, credential=object())
    assert clients._account_url("queue") == "https://hostacct.queue.core.windows.net"


def test_missing_storage_settings_fail_clearly() -> None:
    with pytest.raises(RuntimeError, match="no storage account configured"):
        AzureClients({}).blob  # noqa: B018


def test_poison_entries_carry_reason_consumer_attempts_and_the_original() -> None:
    text = dead_letter_message(
        consumer="notifier",
        event={"id": "e1"},
        raw=b'{"id":"e1"}',
        reason="gave up",
        attempts=8,
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    entry = json.loads(text)
    assert entry == {
        "kind": "eventsuite.deadletter",
        "reason": "gave up",
        "consumer": "notifier",
        "attempts": 8,
        "dead_lettered_at": "2025-01-01T00:00:00.000+00:00",
        "event": {"id": "e1"},
        "original": '{"id":"e1"}',
    }
    binary = json.loads(
        dead_letter_message(consumer="c", event=None, raw=b"\xff\x00", reason="r", attempts=1)
    )
    assert binary["original_base64"] == "/wA="


def test_poison_entries_stay_within_a_queue_message() -> None:
    raw = json.dumps({"data": "x" * 40_000}).encode()
    entry = dead_letter_message(
        consumer="c", event=json.loads(raw), raw=raw, reason="r", attempts=1
    )
    assert len(entry.encode()) <= MAX_MESSAGE_BYTES
    assert json.loads(entry)["original"] == raw.decode()


def test_event_grid_events_keep_every_attribute() -> None:
    event = new_event(
        "PaymentReceived",
        {
            "order_id": "ord_0123456789abcdef01234567",
            "payment_id": "pay_1",
            "amount": {"amount_minor": 100, "currency": "EUR"},
            "customer_email": "ann@example.com",
        },
        source="urn:eventsuite/consumers/payments",
        subject="ord_0123456789abcdef01234567",
        correlation_id="corr-12345678",
        time="2025-01-02T03:04:05.678Z",
    )
    converted = to_azure_cloud_event(event)
    assert (converted.id, converted.source, converted.type, converted.subject) == (
        event["id"],
        event["source"],
        event["type"],
        event["subject"],
    )
    assert converted.time == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert converted.data == event.get_data()
    assert converted.dataschema == event["dataschema"]
    assert converted.extensions == {
        "eventversion": "2",
        "correlationid": "corr-12345678",
        "traceparent": event["traceparent"],
    }


def test_transient_classification() -> None:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceRequestError

    class Response:
        def __init__(self, status: int) -> None:
            self.status_code, self.reason, self.headers = status, "x", {}

        def text(self) -> str:
            return ""

    assert is_transient(ServiceRequestError("connection refused"))
    assert is_transient(HttpResponseError(response=Response(503)))  # type: ignore[arg-type]
    assert is_transient(HttpResponseError(response=Response(429)))  # type: ignore[arg-type]
    assert not is_transient(HttpResponseError(response=Response(403)))  # type: ignore[arg-type]
    assert not is_transient(ResourceNotFoundError("gone"))
