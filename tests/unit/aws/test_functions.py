"""The Lambda function objects over fake ports: batch responses, HTTP mapping, configuration."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from functions.aws.adapters.secrets import parse_secret_string
from functions.aws.clients import AwsClients
from functions.aws.config import AwsConfig
from functions.aws.errors import is_transient, transient_errors
from functions.aws.functions import (
    HttpFunction,
    QueueFunction,
    ScheduleFunction,
    schedule_function,
)
from functions.common.runtime import ConsumerFunction, Runtime, report_dict
from shared.catalog import CatalogError
from shared.dispatch import Dispatcher
from shared.envelope import new_event, to_json_bytes
from shared.errors import TransientError
from shared.ids import derived_event_id
from shared.inject import MissingDependency
from shared.orders.outbox import RelayReport
from shared.ports import OrderRecord, OrderStatus
from tests.fakes import FakeClock, FakeOrderStore, fake_ports, with_pending_announcement


class Context:
    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.aws_request_id = "req-123"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining


def record(message_id: str, body: str, receive_count: int = 1) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": str(receive_count)},
    }


def placed(n: int, email: str = "ann@example.com") -> str:
    event = new_event(
        "OrderPlaced",
        {
            "order_id": f"ord_{n:024x}",
            "customer": {"email": email, "name": None},
            "total": {"amount_minor": 100, "currency": "EUR"},
            "items": [{"sku": "a", "name": None, "quantity": 1, "unit_price_minor": 100}],
            "placed_at": "2026-11-26T10:00:00.000Z",
        },
        source="urn:t",
    )
    return to_json_bytes(event).decode()


def test_only_records_to_retry_are_reported() -> None:
    ports = fake_ports()
    calls: list[str] = []

    def handler(event: Any) -> None:
        calls.append(event.data["order_id"])
        if event.data["customer"]["email"] == "flaky@example.com":
            raise TransientError("relay busy")

    function = QueueFunction(ConsumerFunction(Dispatcher("notifier", ports, handler=handler)))
    response = function(
        {
            "Records": [
                record("ok", placed(1)),
                record("flaky", placed(2, "flaky@example.com")),
                record("poison", "not json"),
                record("last-try", placed(3, "flaky@example.com"), receive_count=8),
            ]
        },
        Context(60_000),
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "flaky"}]}
    reasons = [e["reason"] for e in ports.dead_letters.entries]
    assert any("not JSON" in r for r in reasons)
    assert any(r.startswith("gave up after 8 attempts") for r in reasons)
    assert len(calls) == 3


def test_records_are_not_started_when_the_invocation_is_about_to_time_out() -> None:
    calls: list[str] = []
    function = QueueFunction(
        ConsumerFunction(Dispatcher("notifier", fake_ports(), handler=lambda e: calls.append(e.id)))
    )
    response = function(
        {"Records": [record("a", placed(1)), record("b", placed(2))]}, Context(1_000)
    )
    assert response == {"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "b"}]}
    assert calls == []


class ShrinkingContext:
    """A Lambda context on a fake clock: the remaining time shrinks as handlers spend it."""

    def __init__(self, remaining_ms: float) -> None:
        self.clock = FakeClock(0.0)
        self.deadline = remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        remaining = round((self.deadline - self.clock.now()) * 1000)
        assert remaining >= 0, "the invocation timed out: the whole batch is redelivered"
        return remaining


def run_batch(durations_s: list[float], remaining_ms: float) -> tuple[list[str], list[str]]:
    """Records taking ``durations_s`` each, in one invocation: (started, reported failed)."""
    context = ShrinkingContext(remaining_ms)
    started: list[str] = []
    spent = {f"ord_{n:024x}": seconds for n, seconds in enumerate(durations_s)}

    def handler(event: Any) -> None:
        started.append(event.data["order_id"])
        context.clock.advance(spent[event.data["order_id"]])

    function = QueueFunction(
        ConsumerFunction(Dispatcher("notifier", fake_ports(), handler=handler))
    )
    response = function(
        {"Records": [record(f"m{n}", placed(n)) for n in range(len(durations_s))]}, context
    )
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    return [f"m{int(order_id[4:], 16)}" for order_id in started], failed


def test_a_batch_stops_when_the_next_record_would_likely_not_finish() -> None:
    # 5 s records, 24 s left: after four (4 s left) a fifth would overrun the deadline. A fixed
    # 3 s margin would start it and time out, redelivering all five, the finished ones too.
    started, failed = run_batch([5.0] * 6, remaining_ms=24_000)
    assert started == ["m0", "m1", "m2", "m3"]
    assert failed == ["m4", "m5"]


def test_the_slowest_record_so_far_sets_the_margin() -> None:
    # One slow record (6 s) then fast ones: the margin stays at 6 s for the rest of the batch.
    started, failed = run_batch([6.0] + [0.5] * 5, remaining_ms=13_200)
    assert started == ["m0", "m1", "m2", "m3"]  # 7.2, 6.7, 6.2 s left; at 5.7 s -> stop
    assert failed == ["m4", "m5"]


def test_fast_records_still_keep_the_fixed_margin() -> None:
    started, failed = run_batch([0.5] * 10, remaining_ms=5_200)
    assert started == ["m0", "m1", "m2", "m3", "m4"]  # 5.2 ... 3.2 s left; at 2.7 s -> stop
    assert failed == [f"m{n}" for n in range(5, 10)]


def http_function_of(name: str, ports: Any) -> HttpFunction:
    return HttpFunction(Runtime(ports).endpoint(name))


def schedule_function_of(name: str, ports: Any) -> ScheduleFunction:
    return ScheduleFunction(Runtime(ports).schedule(name))


def test_http_function_maps_errors_without_leaking_them() -> None:
    class BrokenStore(FakeOrderStore):
        def create(self, order: Any) -> Any:
            raise RuntimeError("secret internals")

    function = http_function_of("orders_api", fake_ports(orders=BrokenStore()))
    response = function(
        {
            "requestContext": {"http": {"method": "POST"}},
            "rawPath": "/orders",
            "body": json.dumps(
                {
                    "customer": {"email": "a@b.co"},
                    "currency": "EUR",
                    "items": [{"sku": "a", "quantity": 1, "unit_price_minor": 1}],
                }
            ),
        },
        Context(1000),
    )
    assert response["statusCode"] == 500
    assert response["headers"]["Content-Type"] == "application/problem+json"
    assert json.loads(response["body"]) == {
        "type": "about:blank",
        "title": "internal error",
        "status": 500,
        "request_id": "req-123",
    }
    assert "Traceback" not in response["body"] and "secret" not in response["body"]
    with pytest.raises(Exception, match="unknown endpoint"):
        http_function_of("nope", fake_ports())
    with pytest.raises(MissingDependency, match="orders: OrderStore"):
        http_function_of("orders_api", fake_ports(orders=None))


def test_configuration_from_the_environment() -> None:
    config = AwsConfig.from_env(
        {
            "EVENTSUITE_CONSUMER": "payments",
            "EVENTSUITE_EVENT_BUS": "suite-events",
            "EVENTSUITE_DLQ_URL": " ",
            "EVENTSUITE_MAILER": "SMTP",
            "AWS_REGION": "eu-west-1",
            "EVENTSUITE_WEBHOOK_SECRET": "a, b",
            "EVENTSUITE_THUMBNAILS_BUCKET": "thumbs",
        }
    )
    assert (config.consumer, config.event_bus, config.dlq_url, config.mailer, config.region) == (
        "payments",
        "suite-events",
        None,
        "smtp",
        "eu-west-1",
    )
    assert config.settings.webhook_secrets == ("a", "b")
    assert config.settings.thumbnails_bucket == "thumbs"
    assert config.schedule is None
    assert AwsConfig.from_env({"EVENTSUITE_SCHEDULE": " order_reconciler "}).schedule == (
        "order_reconciler"
    )
    with pytest.raises(ValueError, match="EVENTSUITE_MAILER"):
        AwsConfig.from_env({"EVENTSUITE_MAILER": "pigeon"})


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "Op",
    )


def test_only_throttling_server_and_network_errors_are_transient() -> None:
    assert is_transient(_client_error("ThrottlingException", 400))
    assert is_transient(_client_error("ProvisionedThroughputExceededException", 400))
    assert is_transient(_client_error("Whatever", 503))
    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert not is_transient(_client_error("AccessDeniedException", 403))
    assert not is_transient(_client_error("ValidationException", 400))
    with pytest.raises(TransientError, match="S3 thing: SlowDown"), transient_errors("S3 thing"):
        raise _client_error("SlowDown", 503)
    with pytest.raises(ClientError), transient_errors("S3 thing"):
        raise _client_error("AccessDenied", 403)


def test_secret_strings() -> None:
    assert parse_secret_string("one") == ("one",)
    assert parse_secret_string(" new , old ,") == ("new", "old")
    assert parse_secret_string('["new", "old"]') == ("new", "old")
    assert parse_secret_string('{"current": "new", "previous": "old"}') == ("new", "old")
    assert parse_secret_string("") == ()


# -- scheduled jobs -----------------------------------------------------------------------


def _stored_order(placed_at: str) -> OrderRecord:
    """An order stored while its announcement failed: ``OrderPlaced`` still in its outbox."""
    return with_pending_announcement(
        OrderRecord(
            order_id="ord_" + "a" * 24,
            status=OrderStatus.PLACED,
            customer_email="ann@example.com",
            customer_name=None,
            amount_minor=1250,
            currency="EUR",
            items=({"sku": "mug", "name": None, "quantity": 1, "unit_price_minor": 1250},),
            placed_at=placed_at,
            idempotency_key=None,
            updated_at=placed_at,
        )
    )


def test_a_schedule_function_returns_its_report_as_a_dict() -> None:
    clock = FakeClock(1_800_000_000.0)
    ports = fake_ports(clock=clock)
    order = _stored_order("2027-01-15T07:50:00.000Z")  # 600 s before the clock
    ports.orders.create(order)
    function = schedule_function_of("order_reconciler", ports)

    report = function({"schedule": "order_reconciler"}, Context(60_000))

    expected = {"relayed": 1, "order_ids": [order.order_id]}
    assert report == {"schedule": "order_reconciler", "report": expected}
    assert json.loads(json.dumps(report)) == report  # what Lambda serialises
    (event,) = ports.publisher.events
    assert event["id"] == derived_event_id("OrderPlaced", order.order_id)
    assert function(None, None)["report"] == {"relayed": 0, "order_ids": []}  # relayed once


def test_a_failing_schedule_raises_so_lambda_retries_it() -> None:
    class DownStore(FakeOrderStore):
        def pending_announcements(self, **_: Any) -> list[OrderRecord]:
            raise TransientError("DynamoDB Query: ThrottlingException")

    function = schedule_function_of("order_reconciler", fake_ports(orders=DownStore()))
    with pytest.raises(TransientError, match="ThrottlingException"):
        function({}, Context(60_000))
    bus_down = fake_ports()
    bus_down.orders.create(_stored_order("2027-01-15T07:50:00.000Z"))
    bus_down.publisher.fail_next = 1
    with pytest.raises(TransientError):
        schedule_function_of("order_reconciler", bus_down)({}, None)


def test_a_schedule_function_needs_a_known_schedule_name() -> None:
    with pytest.raises(CatalogError, match="unknown schedule 'nope'"):
        schedule_function_of("nope", fake_ports())
    clients = AwsClients(region="us-east-1", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(RuntimeError, match="EVENTSUITE_SCHEDULE"):
        schedule_function(AwsConfig.from_env({"EVENTSUITE_MAILER": "none"}), clients)
    bare = AwsConfig.from_env(
        {"EVENTSUITE_SCHEDULE": "order_reconciler", "EVENTSUITE_MAILER": "none"}
    )
    # No EVENTSUITE_ORDERS_TABLE: the function refuses to start, naming what is missing.
    with pytest.raises(MissingDependency, match="EVENTSUITE_ORDERS_TABLE is not set"):
        schedule_function(bare, clients)


def test_reports_become_json_ready_dicts() -> None:
    assert report_dict(RelayReport(2, ("a", "b"))) == {
        "relayed": 2,
        "order_ids": ["a", "b"],
    }
    assert report_dict({"n": (1,)}) == {"n": [1]}
    assert report_dict(None) == {}
    assert report_dict(3) == {"result": 3}
