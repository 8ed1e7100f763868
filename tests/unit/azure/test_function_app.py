"""The v2-model app registers exactly the catalog: one queue function per consumer, one HTTP
function per endpoint, one timer function per schedule, each closure bound to its own consumer
or schedule, and a light import."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from functions.azure import bootstrap
from functions.azure.function_app import ANONYMOUS_ENDPOINTS
from functions.azure.names import (
    is_valid_function_name,
    is_valid_queue_name,
    poison_queue_name,
    timer_schedule,
)
from shared.catalog import default_catalog
from shared.envelope import new_event, to_json_bytes
from shared.errors import TransientError
from shared.ids import derived_event_id
from shared.ports import OrderStatus, OrderStore
from tests.fakes import fake_ports
from tests.support import ROOT
from tests.unit.azure.app_support import registered, user_function

CATALOG = default_catalog()


def _trigger(name: str) -> dict[str, object]:
    bindings = registered()[name].get_dict_repr()["bindings"]
    triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
    assert len(triggers) == 1, bindings
    return triggers[0]


def test_exactly_the_catalog_is_registered() -> None:
    names = [*CATALOG.consumers, *CATALOG.endpoints, *CATALOG.schedules]
    assert len(set(names)) == len(names), "function names must be distinct across the catalog"
    assert set(registered()) == set(names)
    assert CATALOG.schedules, "the catalog has schedules: their timer functions are checked"


@pytest.mark.parametrize("schedule", sorted(CATALOG.schedules))
def test_each_schedule_has_a_timer_trigger_on_its_interval(schedule: str) -> None:
    spec = CATALOG.schedule(schedule)
    trigger = _trigger(schedule)
    assert trigger["type"] == "timerTrigger"
    assert trigger["name"] == "timer"
    assert trigger["schedule"] == f"0 */{spec.every_minutes} * * * *"  # every 5 minutes today
    assert trigger["schedule"] == timer_schedule(spec.every_minutes)
    # Not on start-up (every new instance would run it), with the schedule monitor (catch-up).
    assert trigger["runOnStartup"] is False
    assert trigger["useMonitor"] is True
    assert is_valid_function_name(schedule)
    signature = inspect.signature(user_function(schedule))
    assert list(signature.parameters) == ["timer"]
    assert signature.parameters["timer"].annotation is func.TimerRequest


@pytest.mark.parametrize(
    ("every_minutes", "expression"),
    [
        (1, "0 */1 * * * *"),
        (5, "0 */5 * * * *"),
        (30, "0 */30 * * * *"),
        (60, "0 0 */1 * * *"),
        (360, "0 0 */6 * * *"),
        (1440, "0 0 0 * * *"),
    ],
)
def test_timer_schedules_are_even_ncrontab_intervals(every_minutes: int, expression: str) -> None:
    assert timer_schedule(every_minutes) == expression


@pytest.mark.parametrize("every_minutes", [0, 7, 45, 90, 300, 1441])
def test_intervals_ncrontab_cannot_keep_even_are_refused(every_minutes: int) -> None:
    # */7 fires at :00, :07, ... :56 and again at :00: a 4-minute gap every hour.
    with pytest.raises(ValueError, match="even NCRONTAB"):
        timer_schedule(every_minutes)


@pytest.mark.parametrize("consumer", sorted(CATALOG.consumers))
def test_each_consumer_has_a_queue_trigger_on_its_queue(consumer: str) -> None:
    trigger = _trigger(consumer)
    assert trigger["type"] == "queueTrigger"
    assert trigger["queueName"] == f"{consumer}-events"
    assert trigger["connection"] == "AzureWebJobsStorage"
    assert is_valid_queue_name(str(trigger["queueName"]))
    assert is_valid_queue_name(poison_queue_name(consumer))
    assert is_valid_function_name(consumer)
    # The worker binds by parameter name and annotation: both must match the trigger.
    signature = inspect.signature(user_function(consumer))
    assert list(signature.parameters) == [trigger["name"]]
    assert signature.parameters[str(trigger["name"])].annotation is func.QueueMessage


@pytest.mark.parametrize("endpoint", sorted(CATALOG.endpoints))
def test_each_endpoint_has_an_http_trigger_on_its_route(endpoint: str) -> None:
    spec = CATALOG.endpoint(endpoint)
    bindings = registered()[endpoint].get_dict_repr()["bindings"]
    trigger = _trigger(endpoint)
    assert trigger["type"] == "httpTrigger"
    assert trigger["route"] == spec.path.lstrip("/")
    assert [str(m) for m in trigger["methods"]] == [spec.method]
    expected = "ANONYMOUS" if endpoint in ANONYMOUS_ENDPOINTS else "FUNCTION"
    assert str(trigger["authLevel"]) == expected
    assert {"type": "http", "direction": "OUT", "name": "$return"} in [
        {k: str(v) for k, v in b.items()} for b in bindings
    ]
    signature = inspect.signature(user_function(endpoint))
    assert signature.parameters[str(trigger["name"])].annotation is func.HttpRequest
    assert signature.return_annotation is func.HttpResponse


def test_the_signed_webhook_is_the_only_anonymous_endpoint() -> None:
    anonymous = {n for n in CATALOG.endpoints if str(_trigger(n)["authLevel"]) == "ANONYMOUS"}
    assert anonymous == {"payment_webhook"}


def test_function_json_is_serialisable() -> None:
    for function in registered().values():
        assert json.loads(function.get_function_json())["scriptFile"] == "function_app.py"


@pytest.fixture
def fake_runtime() -> Iterator[dict[str, object]]:
    ports = fake_ports()
    overrides = {
        name: getattr(ports, name)
        for name in (
            "objects",
            "index",
            "idempotency",
            "orders",
            "publisher",
            "payments",
            "mailer",
            "dead_letters",
            "clock",
        )
    }
    bootstrap.configure({"EVENTSUITE_WEBHOOK_SECRET": "whsec_test"}, overrides=overrides)
    try:
        yield overrides
    finally:
        bootstrap.reset()


@pytest.mark.parametrize("consumer", sorted(CATALOG.consumers))
def test_each_closure_is_bound_to_its_own_consumer(
    consumer: str, fake_runtime: dict[str, object]
) -> None:
    # An event this consumer does not subscribe to: the dispatcher names the consumer it ran as.
    foreign = next(e for e in CATALOG.events if e not in CATALOG.consumer(consumer).subscribes)
    data = {
        "ImageUploaded": {
            "bucket": "uploads",
            "key": "uploads/a.png",
            "size": 1,
            "uploaded_at": "2025-01-01T00:00:00Z",
        },
        "OrderPlaced": {
            "order_id": "ord_0123456789abcdef01234567",
            "customer": {"email": "ann@example.com", "name": None},
            "total": {"amount_minor": 100, "currency": "EUR"},
            "items": [{"sku": "mug", "name": None, "quantity": 1, "unit_price_minor": 100}],
            "placed_at": "2025-01-01T00:00:00Z",
        },
    }[foreign]
    event = new_event(foreign, data, source="urn:test")
    # What the worker hands a queue function: the queue module's QueueMessage (has dequeue_count).
    message = QueueMessage(id="m1", body=to_json_bytes(event), dequeue_count=1)
    assert user_function(consumer)(message) is None
    entries = fake_runtime["dead_letters"].entries  # type: ignore[attr-defined]
    assert [e["consumer"] for e in entries] == [consumer]
    assert f"consumer {consumer!r} does not subscribe to {foreign}" in entries[0]["reason"]


@pytest.mark.parametrize("schedule", sorted(CATALOG.schedules))
def test_each_timer_runs_its_own_schedule_with_the_runtime_ports(
    schedule: str, fake_runtime: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    # The reconciler is the only schedule today: an order stored whose OrderPlaced was lost.
    assert CATALOG.schedule(schedule).handler == "shared.orders.outbox:relay_pending_announcements"
    publisher, orders, clock = (fake_runtime[n] for n in ("publisher", "orders", "clock"))
    publisher.fail_next = 1  # type: ignore[attr-defined]
    response = user_function("orders_api")(
        func.HttpRequest(
            method="POST",
            url="https://app.example/orders",
            headers={"Content-Type": "application/json"},
            body=json.dumps(
                {
                    "customer": {"email": "ann@example.com"},
                    "currency": "EUR",
                    "items": [{"sku": "mug", "quantity": 1, "unit_price_minor": 1250}],
                }
            ).encode(),
        )
    )
    assert response.status_code == 202  # stored, so accepted; its announcement is deferred
    assert json.loads(response.get_body())["announcement"] == "deferred"
    clock.advance(301)  # type: ignore[attr-defined]
    with caplog.at_level(logging.INFO, logger="eventsuite"):
        # Past due: the app was down at the scheduled time; the host runs the missed tick once.
        assert user_function(schedule)(TimerRequest(past_due=True)) is None
    [event] = publisher.events  # type: ignore[attr-defined]
    [order] = orders.orders.values()  # type: ignore[attr-defined]
    assert f"schedule {schedule}: running late (past due)" in caplog.text
    assert f"'relayed': 1, 'order_ids': ['{order.order_id}']" in caplog.text  # the report
    assert order.status is OrderStatus.PLACED
    assert event["id"] == derived_event_id("OrderPlaced", order.order_id)
    # The runtime built the job once and keeps it, with its ports, for the next tick.
    runtime = bootstrap.runtime()
    assert runtime.schedule(schedule) is runtime.schedule(schedule)
    assert runtime.dependencies.get(OrderStore) is orders


def test_a_failing_schedule_raises_so_the_run_counts_as_failed(
    fake_runtime: dict[str, object],
) -> None:
    class BrokenStore:
        def pending_announcements(self, **_: object) -> list[object]:
            raise TransientError("table storage unreachable")

    bootstrap.configure({}, overrides={**fake_runtime, "orders": BrokenStore()})
    with pytest.raises(TransientError, match="unreachable"):
        user_function("order_reconciler")(TimerRequest())


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_importing_the_app_is_light() -> None:
    result = _run("""
        import sys
        import functions.azure.function_app
        heavy = ("azure.storage", "azure.data", "azure.eventgrid", "azure.identity", "PIL")
        loaded = sorted(m for m in sys.modules if m.startswith(heavy))
        print(loaded)
        sys.exit(1 if loaded else 0)
    """)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_payments_function_never_imports_pillow() -> None:
    result = _run("""
        import sys
        from azure.functions.queue import QueueMessage
        from functions.azure import bootstrap
        from shared.envelope import new_event, to_json_bytes
        from tests.fakes import fake_ports
        from tests.unit.azure.app_support import user_function
        ports = fake_ports()
        names = ("objects", "idempotency", "orders", "publisher", "payments", "mailer",
                 "dead_letters", "clock")
        bootstrap.configure({}, overrides={n: getattr(ports, n) for n in names})
        data = {"order_id": "ord_0123456789abcdef01234567",
                "customer": {"email": "ann@example.com", "name": None},
                "total": {"amount_minor": 100, "currency": "EUR"},
                "items": [{"sku": "mug", "name": None, "quantity": 1, "unit_price_minor": 100}],
                "placed_at": "2025-01-01T00:00:00Z"}
        body = to_json_bytes(new_event("OrderPlaced", data, source="urn:test"))
        user_function("payments")(QueueMessage(id="1", body=body, dequeue_count=1))
        assert [e["type"] for e in ports.publisher.events] == ["io.eventsuite.PaymentReceived"]
        sys.exit(1 if any(m == "PIL" or m.startswith("PIL.") for m in sys.modules) else 0)
    """)
    assert result.returncode == 0, result.stdout + result.stderr


def test_image_consumers_get_no_publisher_and_never_import_event_grid() -> None:
    result = _run("""
        import sys
        from functions.azure.bootstrap import build_container
        from functions.azure.clients import AzureClients
        from functions.common.runtime import Runtime
        from shared.ports import EventPublisher, Mailer, MetadataIndex, ObjectStore, OrderStore
        class NoCredential:
            def get_token(self, *scopes, **kwargs):
                raise AssertionError("no network in this test")
        env = {
            "EVENTSUITE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net",
            "EVENTSUITE_EVENTGRID_ENDPOINT": "https://topic.westeurope-1.eventgrid.azure.net/api/events",
        }
        container = build_container(env, clients=AzureClients(env, credential=NoCredential()))
        runtime = Runtime(container)
        for consumer in ("thumbnailer", "indexer"):
            runtime.consumer(consumer)  # binds the handler: builds what it asks for
        assert not any(container.built(k) for k in (EventPublisher, OrderStore, Mailer))
        assert container.built(ObjectStore) and container.built(MetadataIndex)
        sys.exit(1 if any(m.startswith("azure.eventgrid") for m in sys.modules) else 0)
    """)
    assert result.returncode == 0, result.stdout + result.stderr
