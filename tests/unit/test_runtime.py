"""The one runtime: handlers' signatures decide what each function builds, and a function that
needs something its backend cannot provide fails at startup, naming it."""

from __future__ import annotations

from typing import Any

import pytest

from functions.common import needs
from functions.common.runtime import Runtime, catalog_roles
from shared.catalog import default_catalog
from shared.envelope import Event
from shared.inject import Container, MissingDependency, bind, needs_of
from shared.ports import (
    Clock,
    DeadLetterSink,
    EventPublisher,
    IdempotencyStore,
    Mailer,
    MetadataIndex,
    ObjectStore,
    OrderStore,
    PaymentGateway,
)

AWS_ENV = {
    "AWS_REGION": "us-east-1",
    "EVENTSUITE_INDEX_TABLE": "index",
    "EVENTSUITE_IDEMPOTENCY_TABLE": "idempotency",
    "EVENTSUITE_ORDERS_TABLE": "orders",
    "EVENTSUITE_EVENT_BUS": "events",
    "EVENTSUITE_DLQ_URL": "http://127.0.0.1:9/queue/dlq",
    "EVENTSUITE_MAILER": "ses",
}
GCP_ENV = {
    "EVENTSUITE_GCP_PROJECT": "test-project",
    "EVENTSUITE_EVENTS_TOPIC": "events",
    "EVENTSUITE_DEAD_LETTER_TOPIC": "dead-letters",
    "EVENTSUITE_SMTP_HOST": "127.0.0.1",
}
AZURE_ENV = {
    "EVENTSUITE_STORAGE_ACCOUNT_URL": "https://acct.blob.core.windows.net",
    "EVENTSUITE_EVENTGRID_ENDPOINT": "https://topic.example/api/events",
    "EVENTSUITE_SMTP_HOST": "127.0.0.1",
}


def aws_container(env: dict[str, str]) -> Container:
    from functions.aws.bootstrap import build_container
    from functions.aws.clients import AwsClients
    from functions.aws.config import AwsConfig

    clients = AwsClients(region="us-east-1", endpoint_url="http://127.0.0.1:9")
    return build_container(AwsConfig.from_env(env), clients)


def gcp_container(env: dict[str, str]) -> Container:
    from functions.gcp.bootstrap import build_container

    return build_container(environ=env)


def azure_container(env: dict[str, str]) -> Container:
    from functions.azure.bootstrap import build_container

    return build_container(env)


BACKENDS = {
    "aws": (aws_container, AWS_ENV),
    "gcp": (gcp_container, GCP_ENV),
    "azure": (azure_container, AZURE_ENV),
}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_catalog_function_can_start_on_every_backend(backend: str) -> None:
    build, env = BACKENDS[backend]
    container = build(env)
    Runtime(container).check()  # compares signatures with what is provided; builds nothing
    assert not any(container.built(kind) for kind in (ObjectStore, OrderStore, EventPublisher))


def test_the_local_backend_provides_every_function(tmp_path: Any) -> None:
    from functions.local.backend import LocalBackend

    backend = LocalBackend.open(tmp_path)
    try:
        backend.runtime.check()
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("backend", "missing", "role", "reason"),
    [
        ("aws", "EVENTSUITE_ORDERS_TABLE", "consumer:payments", "EVENTSUITE_ORDERS_TABLE"),
        ("aws", "EVENTSUITE_EVENT_BUS", "endpoint:orders_api", "EVENTSUITE_EVENT_BUS"),
        ("gcp", "EVENTSUITE_SMTP_HOST", "consumer:notifier", "EVENTSUITE_SMTP_HOST"),
        ("azure", "EVENTSUITE_EVENTGRID_ENDPOINT", "schedule:order_reconciler", "EVENTGRID"),
    ],
)
def test_a_missing_setting_fails_at_startup_naming_the_function_and_the_setting(
    backend: str, missing: str, role: str, reason: str
) -> None:
    build, env = BACKENDS[backend]
    container = build({k: v for k, v in env.items() if k != missing})
    runtime = Runtime(container)
    with pytest.raises(MissingDependency, match=reason) as error:
        runtime.check([role])
    assert role in str(error.value)
    kind, name = role.split(":")
    with pytest.raises(MissingDependency, match=reason):
        getattr(runtime, kind)(name)  # building the function fails the same way


def test_an_order_function_builds_only_what_its_handler_asks_for() -> None:
    container = aws_container(AWS_ENV)
    Runtime(container).consumer("payments")
    built = {kind for kind in (OrderStore, PaymentGateway, EventPublisher, Mailer, MetadataIndex)}
    assert {kind for kind in built if container.built(kind)} == {
        OrderStore,
        PaymentGateway,
        EventPublisher,
    }
    # The dispatcher's own ports: dedupe and dead letters; the claims store (and its storage
    # client) only when a claim-checked event or a large payload needs it.
    assert all(container.built(k) for k in (IdempotencyStore, DeadLetterSink))
    assert not container.built(ObjectStore)


def test_a_handler_with_an_unannotated_dependency_is_refused() -> None:
    def handler(event: Event, *, mystery: Any) -> None:
        pass

    with pytest.raises(TypeError, match="mystery"):
        needs_of(handler, leading=1)


def test_bind_injects_by_type_and_keeps_leading_arguments() -> None:
    class Ticking:
        def now(self) -> float:
            return 42.0

    def job(label: str, *, clock: Clock) -> str:
        return f"{label}@{clock.now()}"

    container = Container(instances={Clock: Ticking()})
    assert bind(job, container, leading=1, role="t")("run") == "run@42.0"


def test_every_catalog_handler_is_a_keyword_only_typed_function() -> None:
    for kind, name, reference, leading in catalog_roles(default_catalog()):
        from shared.dispatch import resolve_handler

        assert needs_of(resolve_handler(reference), leading=leading), (kind, name)


def test_the_needs_file_is_generated_from_the_handlers() -> None:
    assert needs.main(["--check"]) == 0, "run: python -m functions.common.needs"


def test_eventbridge_inline_limit_matches_the_adapter() -> None:
    from functions.aws import adapters
    from functions.aws.adapters.eventbridge import ENVELOPE_HEADROOM_BYTES, MAX_REQUEST_BYTES

    assert adapters.EVENTBRIDGE_MAX_INLINE_BYTES == MAX_REQUEST_BYTES - ENVELOPE_HEADROOM_BYTES


def test_an_azure_consumer_starts_without_building_its_dead_letter_queue_client() -> None:
    """The poison-queue client (azure.storage.queue, ~20 ms of imports) waits for the first
    dead letter; the consumer still refuses to start without its dead-letter sink."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tests.unit.test_runtime import AZURE_ENV, azure_container\n"
        "from functions.common.runtime import Runtime\n"
        "from shared.ports import DeadLetterSink\n"
        "container = azure_container(AZURE_ENV)\n"
        "Runtime(container).consumer('payments')\n"
        "assert container.built(DeadLetterSink)\n"
        "sys.exit(1 if 'azure.storage.queue' in sys.modules else 0)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True)
    assert completed.returncode == 0, completed.stderr.decode()[-800:]


def test_an_azure_consumer_with_an_underivable_poison_queue_endpoint_refuses_to_start() -> None:
    env = {
        **AZURE_ENV,
        "EVENTSUITE_STORAGE_ACCOUNT_URL": "https://storage.contoso.example/acct",
        "EVENTSUITE_STORAGE_TABLE_URL": "https://storage.contoso.example/tables",
    }
    with pytest.raises(ValueError, match="cannot derive the queue endpoint"):
        Runtime(azure_container(env)).consumer("payments")
    env["EVENTSUITE_STORAGE_QUEUE_URL"] = "https://storage.contoso.example/queues"
    Runtime(azure_container(env)).consumer("payments")  # set explicitly: it starts
