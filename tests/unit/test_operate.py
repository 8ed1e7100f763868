"""Pure parts of the operator tools: index filters, redrive counting, where the CLI finds each
cloud's resources (and that those Terraform outputs exist), the fake order store."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from functions.ops.targets import TargetError, aws_target, azure_target, gcp_target, local_home
from shared.deadletter import REDRIVE_EXTENSION, count_redrive, redrive_count, subject_of
from shared.index import in_box, matches
from shared.ports import IndexQuery, OrderRecord, OrderStatus
from tests.fakes import FakeOrderStore

ROOT = Path(__file__).resolve().parents[2]
PHOTO = {
    "image_id": "a1",
    "format": "JPEG",
    "width": 4000,
    "height": 3000,
    "bytes": 900_000,
    "camera_make": "FUJIFILM",
    "camera_model": "X100V",
    "captured_at": "2026-08-14T09:30:00",
    "gps": {"lat": 38.7223, "lon": -9.1393},
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (IndexQuery(), True),
        (IndexQuery(format="jpeg"), True),
        (IndexQuery(format="PNG"), False),
        (IndexQuery(min_width=4000, max_width=4000), True),
        (IndexQuery(max_width=3999), False),
        (IndexQuery(min_height=3001), False),
        (IndexQuery(max_height=3000), True),
        (IndexQuery(min_bytes=900_001), False),
        (IndexQuery(max_bytes=900_000), True),
        (IndexQuery(gps_box=(38.0, -10.0, 39.0, -9.0)), True),
        (IndexQuery(gps_box=(38.0, -9.0, 39.0, -8.0)), False),
        (IndexQuery(camera="x100", captured_from="2026-08-01", captured_to="2026-08-31"), True),
        (IndexQuery(camera="x100", captured_to="2026-08-01"), False),
    ],
)
def test_every_filter_has_one_meaning(query: IndexQuery, expected: bool) -> None:
    assert matches(PHOTO, query) is expected


def test_gps_boxes_may_cross_the_antimeridian_and_need_a_position() -> None:
    fiji = (-20.0, 170.0, -10.0, -170.0)
    assert in_box({"lat": -17.7, "lon": 178.0}, fiji)
    assert in_box({"lat": -17.7, "lon": -179.0}, fiji)
    assert not in_box({"lat": -17.7, "lon": 0.0}, fiji)
    assert not in_box(None, fiji) and not in_box({"lat": "x"}, fiji)
    assert not matches({**PHOTO, "gps": None}, IndexQuery(gps_box=(-90, -180, 90, 180)))


def test_a_size_bound_excludes_documents_without_that_size() -> None:
    assert not matches({"image_id": "x"}, IndexQuery(min_bytes=1))
    assert IndexQuery().has_filters() is False
    assert IndexQuery(limit=5).has_filters() is False
    assert IndexQuery(format="PNG").has_filters() is True


def test_redrive_counts_travel_as_an_extension_of_the_event() -> None:
    event = {"specversion": "1.0", "id": "e1", "type": "t", "source": "s", "data": {"a": 1}}
    body, count = count_redrive(json.dumps(event))
    assert count == 1 and json.loads(body) == {**event, REDRIVE_EXTENSION: "1"}
    body, count = count_redrive(body)
    assert count == 2 and redrive_count(json.loads(body)) == 2
    # In an EventBridge envelope, the count goes on the CloudEvent in ``detail``.
    envelope = {"detail-type": "t", "source": "s", "detail": event}
    body, count = count_redrive(json.dumps(envelope).encode(), previous=3)
    assert count == 4 and json.loads(body)["detail"][REDRIVE_EXTENSION] == "4"
    # Anything else is sent back byte for byte.
    assert count_redrive(b"\xff not json") == (b"\xff not json", 1)
    notification = json.dumps({"bucket": "b", "name": "k"}).encode()
    assert count_redrive(notification, previous=1) == (notification, 2)


def test_the_subject_of_a_parked_event() -> None:
    assert subject_of({"subject": "ord_1"}) == "ord_1"
    assert subject_of({"data": {"order_id": "ord_2"}}) == "ord_2"
    assert subject_of({"data": {"key": "uploads/a.jpg"}}) == "uploads/a.jpg"
    assert subject_of({"data": "text"}) is None and subject_of(None) is None


def _root_outputs(cloud: str) -> set[str]:
    text = (ROOT / "terraform" / cloud / "outputs.tf").read_text(encoding="utf-8")
    return set(re.findall(r'^output "([a-z0-9_]+)"', text, flags=re.MULTILINE))


class Outputs(dict[str, Any]):
    """Fake ``terraform output -json`` values that remember which outputs were read."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        self.read.add(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        self.read.add(name)
        return super().get(name, default)


def test_the_cli_reads_only_outputs_the_aws_root_declares() -> None:
    outputs = Outputs(
        {
            "queues": {"notifier": {"queue_url": "q", "dlq_url": "d"}},
            "table_names": {"orders": "o", "index": "i"},
            "uploads_bucket": "u",
        }
    )
    target = aws_target({"AWS_REGION": "us-east-1"}, lambda: outputs, clients=object())
    assert target.uploads_bucket == "u"
    assert outputs.read <= _root_outputs("aws")


def test_the_cli_reads_only_outputs_the_gcp_root_declares() -> None:
    outputs = Outputs(
        {
            "project_id": "p",
            "firestore_database": "db",
            "dead_letter_subscriptions": {"notifier": "x-notifier-dlq-sub"},
            "producer_topics": {"payments": "x-events-payments", "orders_api": "x-events-o"},
            "uploads_topic": "x-uploads",
            "buckets": {"uploads": "p-x-uploads"},
        }
    )
    target = gcp_target({}, lambda: outputs, clients=None)
    assert target.uploads_bucket == "p-x-uploads"
    assert outputs.read <= _root_outputs("gcp")
    with pytest.raises(TargetError, match="EVENTSUITE_GCP_PROJECT"):
        gcp_target({"EVENTSUITE_GCP_PREFIX": "x"}, dict, clients=None)


def test_the_cli_reads_only_outputs_the_azure_root_declares() -> None:
    outputs = Outputs(
        {
            "storage_account_name": "acct",
            "table_names": {"orders": "orders", "index": "metadataindex"},
            "container_names": {"uploads": "uploads", "deadletter": "deadletters"},
            "event_subscriptions": {"notifier-events": "x-notifier"},
        }
    )
    target = azure_target({}, lambda: outputs, clients=object())
    assert target.uploads_bucket == "uploads"
    assert outputs.read <= _root_outputs("azure")


def test_a_missing_local_home_is_an_error_not_a_new_folder(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no local state"):
        local_home(tmp_path / "none", {})
    assert not (tmp_path / "none").exists()


def test_the_fake_order_store_lists_by_status_oldest_first() -> None:
    store = FakeOrderStore()
    for n, placed in enumerate(["2026-01-03", "2026-01-01", "2026-01-02"]):
        store.create(
            OrderRecord(f"ord_{n}", OrderStatus.PLACED, "a@b.c", None, 1, "EUR", (), placed)
        )
    assert [o.order_id for o in store.by_status(OrderStatus.PLACED, limit=2)] == [
        "ord_1",
        "ord_2",
    ]
    assert store.by_status(OrderStatus.PAID, limit=5) == []
    newest = store.by_status(OrderStatus.PLACED, limit=2, newest_first=True)
    assert [o.order_id for o in newest] == ["ord_0", "ord_2"]


def test_every_backend_implements_the_dead_letter_admin_port() -> None:
    from functions.aws.adapters.sqs import SqsDeadLetterAdmin
    from functions.azure.adapters.queues import StorageDeadLetterAdmin
    from functions.gcp.clients import GcpClients
    from functions.gcp.pubsub import PubSubDeadLetterAdmin
    from shared.ports import DeadLetterAdmin

    admins = [
        SqsDeadLetterAdmin(object(), {"notifier": ("q", "d")}),  # type: ignore[arg-type]
        PubSubDeadLetterAdmin(
            GcpClients(project="p"), {"notifier": "s"}, event_topics={}, uploads_topic="u"
        ),
        StorageDeadLetterAdmin(object()),
    ]
    for admin in admins:
        assert isinstance(admin, DeadLetterAdmin)
        assert "notifier" in admin.consumers


def test_each_event_type_is_redriven_to_a_topic_of_one_of_its_producers() -> None:
    from functions.ops.targets import _producers, event_topics_of

    assert "payments" in _producers() and "orders_api" in _producers()
    topics = event_topics_of({p: f"x-events-{p}" for p in _producers()})
    assert topics["io.eventsuite.PaymentReceived"] == "x-events-payments"
    assert topics["io.eventsuite.OrderPlaced"] == "x-events-orders_api"
    assert "io.eventsuite.ImageUploaded" not in topics  # storage notifications: uploads topic
