"""The Lambda zips run under the real runtime interface client (``awslambdaric``), wired from
the Terraform plan: handler string, runtime version, environment, memory and timeout come
from the planned ``aws_lambda_function.function`` (:mod:`tests.runtimes.wiring`); only the
values a deployment decides (bucket and table names, queue URLs, ARNs) are filled in from the
moto stack, by the resource reference the plan shows (``aws_sqs_queue.dlq["indexer"].url``),
and the SMTP relay's port by this run's (the plan names a fixed one, so its cache answers).

Each function runs in its own process (``python3.12 -m awslambdaric <handler>``) with only its
unzipped package and the runtime's packages (awslambdaric, boto3) on the path, against a
local Runtime API (:mod:`tests.runtimes.lambda_api`); real-shaped events come from moto's
queues (SQS records carrying EventBridge S3 "Object Created" and app events), API Gateway
HTTP API v2 requests and EventBridge Scheduler events.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.aws.clients import AwsClients
from functions.local import samples
from shared.images.metadata import image_id
from tests.emulators import FAKE_AWS_ENV
from tests.integration.aws.conftest import unique_prefix
from tests.integration.aws.harness import Poller
from tests.integration.aws.topology import Topology, create_topology
from tests.runtimes import packages, wiring
from tests.runtimes.lambda_api import InitError, LambdaProcess, Outcome
from tests.support import LOOPBACK, SmtpRecorder

pytestmark = pytest.mark.integration

IN_CI = os.environ.get("CI", "").lower() == "true"
WEBHOOK_SECRET = "whsec-runtime-test"
COLD_STARTS: dict[str, dict[str, float]] = {}
# Set to 1 to unzip with precompiled bytecode (cold start comparison; the zips ship none).
PRECOMPILE_VARIABLE = "EVENTSUITE_RUNTIME_PRECOMPILE"


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing component fails)")
    pytest.skip(reason)


# The plan is cached by its tfvars text: it names a fixed relay port, and `resolve` swaps in
# the port of this run's relay (the plan must still set EVENTSUITE_SMTP_PORT to PLANNED_PORT).
PLANNED_PORT = 2525
PLANNED_SMTP = {"host": LOOPBACK, "port": PLANNED_PORT, "username": "", "starttls": False}


@pytest.fixture(scope="module")
def smtp_port(smtp: tuple[SmtpRecorder, int]) -> int:
    return smtp[1]


@pytest.fixture(scope="module")
def wirings() -> dict[str, wiring.Wiring]:
    """Every Lambda function as the Terraform plan declares it (root variables as a tfvars)."""
    return wiring.load("aws", {"mailer": "smtp", "smtp": PLANNED_SMTP})


@pytest.fixture(scope="module")
def python_version(wirings: dict[str, wiring.Wiring]) -> str:
    (version,) = {w.python_version for w in wirings.values()}
    return version


@pytest.fixture(scope="module")
def runtime_python(python_version: str) -> str:
    python = packages.find_python(python_version)
    if python is None:
        _missing(f"no Python {python_version} interpreter (the runtime Terraform names)")
    assert python is not None
    return python


@pytest.fixture(scope="module")
def runtime_dir(python_version: str) -> Path:
    try:
        return packages.aws_runtime_dir(python_version)
    except Exception as exc:  # pip could not reach PyPI
        _missing(f"cannot install awslambdaric/boto3 for Python {python_version}: {exc}")
        raise


@pytest.fixture(scope="module")
def task_roots(
    wirings: dict[str, wiring.Wiring],
    python_version: str,
    runtime_python: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Path]]:
    """Each group's zip for this machine, unzipped read-only (Lambda's /var/task)."""
    roots: dict[str, Path] = {}
    base = tmp_path_factory.mktemp("lambda-task")
    for group in sorted({w.group for w in wirings.values()}):
        try:
            archive = packages.aws_local_zip(group, python_version)
        except Exception as exc:
            _missing(f"cannot build the {group} zip for this machine: {exc}")
        precompile = runtime_python if os.environ.get(PRECOMPILE_VARIABLE) == "1" else None
        roots[group] = packages.unzip(archive, base / group, precompile_with=precompile)
    yield roots
    for root in roots.values():
        packages.make_writable(root)


@pytest.fixture(scope="module")
def stack(clients: AwsClients) -> tuple[Topology, dict[str, str]]:
    """The moto stack, and the secrets Terraform creates (ARN by resource reference)."""
    topology = create_topology(clients, unique_prefix("rt"), visibility_timeout_seconds=30)
    secrets = {
        reference: clients.secretsmanager.create_secret(
            Name=f"{topology.names.prefix}-{name}", SecretString=value
        )["ARN"]
        for reference, name, value in (
            ("aws_secretsmanager_secret.webhook.arn", "webhook", WEBHOOK_SECRET),
            # The relay takes no login (username ""): the password is read, never used.
            ("aws_secretsmanager_secret.smtp[0].arn", "smtp-password", "unused"),
        )
    }
    return topology, secrets


def resolve(
    function: wiring.Wiring, topology: Topology, secrets: dict[str, str], smtp_port: int
) -> dict[str, str]:
    """Terraform's environment for ``function``: the plan's values, those a deployment
    decides taken from the stack by the resource reference the plan shows, and the relay's
    port of this run."""
    names = topology.names
    after_apply = {
        'aws_s3_bucket.this["uploads"].bucket': names.buckets["uploads"],
        'aws_s3_bucket.this["thumbnails"].bucket': names.buckets["thumbnails"],
        'aws_s3_bucket.this["claims"].bucket': names.buckets["claims"],
        "aws_cloudwatch_event_bus.this.name": names.bus,
        "aws_dynamodb_table.index.name": names.tables["index"],
        "aws_dynamodb_table.idempotency.name": names.tables["idempotency"],
        "aws_dynamodb_table.orders.name": names.tables["orders"],
        **secrets,
        **{f'aws_sqs_queue.dlq["{name}"].url': url for name, url in topology.dlq_urls.items()},
    }
    unresolved = {n: e for n, e in function.unknown.items() if e not in after_apply}
    assert not unresolved, f"{function.name}: no stack value for {unresolved}"
    environment = {
        **function.environment,
        **{name: after_apply[expression] for name, expression in function.unknown.items()},
    }
    if "EVENTSUITE_SMTP_PORT" in environment:
        assert environment["EVENTSUITE_SMTP_PORT"] == str(PLANNED_PORT), function.name
        environment["EVENTSUITE_SMTP_PORT"] = str(smtp_port)
    return environment


class Functions:
    """One execution environment per function, started on first use (cold start measured)."""

    def __init__(self, wirings: dict[str, wiring.Wiring], start: Any) -> None:
        self.wirings, self.start, self.running = wirings, start, dict[str, LambdaProcess]()

    def invoke(self, name: str, event: Any) -> Outcome:
        first = name not in self.running
        if first:
            self.running[name] = self.start(self.wirings[name])
        process = self.running[name]
        outcome = process.invoke(event)
        if first:
            COLD_STARTS[name] = {
                "first_invocation_s": round(time.perf_counter() - process.started, 3),
                "handler_s": round(outcome.seconds, 3),
            }
        assert outcome.ok, f"{name}: {outcome.body}\n{process.output()[-3000:]}"
        return outcome

    def handler(self, name: str) -> Any:
        """A (event, context) callable, for the event source mapping harness."""
        return lambda event, _context: self.invoke(name, event).body

    def close(self) -> None:
        for process in self.running.values():
            process.close()


@pytest.fixture(scope="module")
def start_function(
    runtime_python: str,
    runtime_dir: Path,
    task_roots: dict[str, Path],
    stack: tuple[Topology, dict[str, str]],
    moto_url: str,
    smtp_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Any:
    topology, secrets = stack
    logs = tmp_path_factory.mktemp("lambda-logs")

    def start(
        function: wiring.Wiring,
        *,
        handler: str | None = None,
        task_root: Path | None = None,
        environment: dict[str, str] | None = None,
    ) -> LambdaProcess:
        env = (
            resolve(function, topology, secrets, smtp_port) if environment is None else environment
        )
        return LambdaProcess(
            python=runtime_python,
            task_root=task_root or task_roots[function.group],
            runtime_dir=runtime_dir,
            handler=handler or function.handler,
            function_name=f"{topology.names.prefix}-{function.name}",
            # Lambda sets the region and the role's credentials; the endpoint is test-only.
            environment={**FAKE_AWS_ENV, "AWS_ENDPOINT_URL": moto_url, **env},
            memory_mb=function.memory_mb,
            timeout_seconds=function.timeout_seconds or 3,
            python_version=function.python_version,
            log=logs / f"{function.name}-{time.monotonic_ns()}.log",
        )

    return start


@pytest.fixture(scope="module")
def functions(wirings: dict[str, wiring.Wiring], start_function: Any) -> Iterator[Functions]:
    running = Functions(wirings, start_function)
    yield running
    running.close()
    if COLD_STARTS:
        suffix = "-precompiled" if os.environ.get(PRECOMPILE_VARIABLE) == "1" else ""
        out = packages.CACHE / f"coldstart-aws{suffix}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(COLD_STARTS, indent=2, sort_keys=True))


def api_request(
    method: str,
    path: str,
    body: Any = None,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) request event."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route or path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api1",
            "domainName": "api.example.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.1",
                "userAgent": "runtime-test",
            },
            "requestId": "req-1",
            "routeKey": f"{method} {route or path}",
            "stage": "$default",
            "time": "07/Dec/2026:12:00:00 +0000",
            "timeEpoch": 1796644800000,
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = json.dumps(body)
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def test_every_catalog_function_is_wired(wirings: dict[str, wiring.Wiring]) -> None:
    from shared.catalog import default_catalog

    catalog = default_catalog()
    assert set(wirings) == {*catalog.consumers, *catalog.endpoints, *catalog.schedules}


def test_uploads_run_through_the_image_consumers(
    functions: Functions, stack: tuple[Topology, dict[str, str]], clients: AwsClients
) -> None:
    topology, _ = stack
    uploads = topology.names.buckets["uploads"]
    clients.s3.put_object(
        Bucket=uploads,
        Key="uploads/runtime.jpg",
        Body=samples.jpeg_with_exif((640, 480), orientation=1),
    )
    for consumer in ("thumbnailer", "indexer"):
        invocations = Poller(clients, topology, consumer, functions.handler(consumer)).drain()
        assert invocations and all(i.failures == [] for i in invocations), invocations
        (body,) = invocations[0].bodies.values()
        assert json.loads(body)["detail-type"] == "Object Created"  # the S3 event, as queued
    listed = clients.s3.list_objects_v2(Bucket=topology.names.buckets["thumbnails"])
    assert len(listed.get("Contents", [])) >= 2, listed
    item = clients.dynamodb.get_item(
        TableName=topology.names.tables["index"],
        Key={"image_id": {"S": image_id(uploads, "uploads/runtime.jpg")}},
    )
    assert item["Item"]["width"]["N"] == "640"


def test_a_bad_record_is_dead_lettered_and_the_batch_reports_per_record(
    functions: Functions, stack: tuple[Topology, dict[str, str]], clients: AwsClients
) -> None:
    topology, _ = stack
    clients.sqs.send_message(QueueUrl=topology.queue_urls["indexer"], MessageBody="{not json")
    invocations = Poller(clients, topology, "indexer", functions.handler("indexer")).drain()
    assert [i.failures for i in invocations] == [[]]  # permanent: parked, not retried
    parked = clients.sqs.receive_message(
        QueueUrl=topology.dlq_urls["indexer"], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", [])
    assert parked, "the bad record did not reach the dead-letter queue"


def test_an_order_is_placed_read_charged_and_mailed(
    functions: Functions,
    stack: tuple[Topology, dict[str, str]],
    clients: AwsClients,
    smtp: tuple[SmtpRecorder, int],
) -> None:
    topology, _ = stack
    order = {
        "customer": {"email": "rt@example.com", "name": "Runtime"},
        "currency": "EUR",
        "items": [{"sku": "tea", "quantity": 2, "unit_price_minor": 450}],
    }
    placed = functions.invoke("orders_api", api_request("POST", "/orders", order)).body
    assert placed["statusCode"] == 202, placed
    order_id = json.loads(placed["body"])["order_id"]
    path = f"/orders/{order_id}"
    read = functions.invoke(
        "order_status",
        api_request(
            "GET", path, route="/orders/{order_id}", path_parameters={"order_id": order_id}
        ),
    ).body
    assert read["statusCode"] == 200, read
    assert json.loads(read["body"])["status"] == "PLACED"
    missing = functions.invoke(
        "order_status",
        api_request(
            "GET", "/orders/nope", route="/orders/{order_id}", path_parameters={"order_id": "nope"}
        ),
    ).body
    assert missing["statusCode"] in (400, 404), missing
    for _ in range(5):
        progressed = False
        for consumer in ("payments", "notifier"):
            done = Poller(clients, topology, consumer, functions.handler(consumer)).drain()
            assert all(i.failures == [] for i in done), done
            progressed = progressed or bool(done)
        if not progressed:
            break
    final = json.loads(
        functions.invoke(
            "order_status",
            api_request(
                "GET", path, route="/orders/{order_id}", path_parameters={"order_id": order_id}
            ),
        ).body["body"]
    )
    assert final["status"] in ("PAID", "PAYMENT_FAILED"), final
    recorder, _ = smtp
    assert recorder.to("rt@example.com"), "the notifier sent no mail"


def test_a_transient_failure_is_reported_in_batch_item_failures_then_retried(
    functions: Functions,
    stack: tuple[Topology, dict[str, str]],
    clients: AwsClients,
    smtp: tuple[SmtpRecorder, int],
) -> None:
    topology, _ = stack
    recorder, _ = smtp
    for consumer in ("payments", "notifier"):  # start from empty queues
        Poller(clients, topology, consumer, functions.handler(consumer)).drain()
    recorder.tempfail.add("later@example.com")
    order = {
        "customer": {"email": "later@example.com"},
        "currency": "EUR",
        "items": [{"sku": "tea", "quantity": 1, "unit_price_minor": 450}],
    }
    placed = functions.invoke("orders_api", api_request("POST", "/orders", order)).body
    assert placed["statusCode"] == 202, placed
    notifier = Poller(clients, topology, "notifier", functions.handler("notifier"))
    invocation = notifier.poll_once()
    assert invocation is not None
    assert invocation.failures == invocation.message_ids  # the relay said "try later"
    recorder.tempfail.clear()
    retried = notifier.drain()
    assert retried and all(i.failures == [] for i in retried), retried
    assert recorder.to("later@example.com"), "the retried mail was not sent"


def test_an_unsigned_webhook_is_refused(functions: Functions) -> None:
    response = functions.invoke(
        "payment_webhook", api_request("POST", "/webhooks/payments", {"id": "evt_1"})
    ).body
    assert response["statusCode"] in (400, 401, 403), response


def test_the_scheduler_event_runs_the_reconciler(functions: Functions) -> None:
    scheduled = {  # EventBridge Scheduler's default input to a Lambda target is the payload given
        "version": "0",
        "id": "e6f3c0b5-0000-4000-8000-000000000000",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "123456789012",
        "time": "2026-12-07T12:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:123456789012:schedule/default/rt"],
        "detail": "{}",
    }
    report = functions.invoke("order_reconciler", scheduled).body
    assert report["schedule"] == "order_reconciler"
    assert "relayed" in report["report"], report


# --- bad wiring: each fails with the function and the missing piece named -------------------


def _failure(process: LambdaProcess, event: Any) -> str:
    try:
        outcome = process.invoke(event)
    except InitError as exc:
        return f"{process.api.function_arn}: init error: {exc}"
    assert not outcome.ok, f"expected a failure, got {outcome.body}"
    return f"{process.api.function_arn}: invocation error: {json.dumps(outcome.body)}"


def test_a_handler_that_does_not_resolve_fails_at_init(
    wirings: dict[str, wiring.Wiring], start_function: Any
) -> None:
    function = wirings["indexer"]
    with start_function(function, handler="functions.aws.entrypoint.handle_qeue") as process:
        message = _failure(process, {"Records": []})
    assert "init error" in message and "handle_qeue" in message and "indexer" in message, message


def test_a_module_missing_from_the_zip_fails_at_init(
    wirings: dict[str, wiring.Wiring],
    start_function: Any,
    task_roots: dict[str, Path],
    tmp_path: Path,
) -> None:
    broken = tmp_path / "task"
    shutil.copytree(task_roots["orders"], broken)
    packages.make_writable(broken)
    (broken / "functions" / "aws" / "entrypoint.py").unlink()
    function = wirings["orders_api"]
    with start_function(function, task_root=broken) as process:
        message = _failure(process, api_request("GET", "/orders/x"))
    assert "init error" in message and "functions.aws.entrypoint" in message, message
    assert "orders_api" in message, message


def test_a_missing_environment_variable_is_named(
    wirings: dict[str, wiring.Wiring],
    start_function: Any,
    stack: tuple[Topology, dict[str, str]],
    smtp_port: int,
) -> None:
    function = wirings["payments"]
    environment = resolve(function, *stack, smtp_port)
    del environment["EVENTSUITE_ORDERS_TABLE"]
    with start_function(function, environment=environment) as process:
        message = _failure(process, {"Records": []})
    assert "EVENTSUITE_ORDERS_TABLE" in message and "payments" in message, message


def test_a_consumer_without_its_dead_letter_queue_fails_at_start(
    wirings: dict[str, wiring.Wiring],
    start_function: Any,
    stack: tuple[Topology, dict[str, str]],
    smtp_port: int,
) -> None:
    function = wirings["payments"]
    environment = resolve(function, *stack, smtp_port)
    del environment["EVENTSUITE_DLQ_URL"]
    with start_function(function, environment=environment) as process:
        message = _failure(process, {"Records": []})
    assert "EVENTSUITE_DLQ_URL" in message, message


def test_the_released_arm64_zips_carry_only_arm64_or_pure_wheels(
    wirings: dict[str, wiring.Wiring],
) -> None:
    """The shipped zips cannot run here (arm64): their wheels' tags are checked instead."""
    (architecture,) = {w.architecture for w in wirings.values()}
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[architecture]
    for group in sorted({w.group for w in wirings.values()}):
        try:
            archive = packages.aws_release_zip(group)
        except (Exception, SystemExit) as exc:  # pip could not reach PyPI
            _missing(f"cannot build the released {group} zip: {exc}")
        tags = packages.wheel_tags(archive)
        assert tags, f"{group}: no wheels in {archive}"
        wrong = {
            dist: found
            for dist, found in tags.items()
            if not all(t.endswith("-none-any") or t.endswith(f"_{machine}") for t in found)
        }
        assert not wrong, f"{group}: wheels not for {architecture}: {wrong}"
        python = next(iter(wirings.values())).python_version.replace(".", "")
        compiled = [t for found in tags.values() for t in found if not t.endswith("-none-any")]
        assert all(t.startswith(f"cp{python}-cp{python}-") or "-abi3-" in t for t in compiled), (
            f"{group}: compiled wheels not for Python {python}: {compiled}"
        )


def test_the_images_zip_decodes_a_jpeg_with_its_own_pyvips_and_libvips(
    task_roots: dict[str, Path], runtime_python: str
) -> None:
    """pyvips (the pure wheel) runs in API mode on pyvips-binary's ``_libvips``, all from the
    unzipped images package alone (``-s -S``, ``PYTHONPATH`` the task root, as on Lambda)."""
    root = task_roots["images"]
    loaded = packages.run_vips_probe(runtime_python, [root], cwd=root)
    packages.check_vips_probe(loaded, root)


def test_the_released_images_zip_ships_libvips_and_the_orders_zip_does_not(
    wirings: dict[str, wiring.Wiring],
) -> None:
    """arm64 zips: pyvips pure, pyvips-binary's module and libvips, cffi; none in orders."""
    entries = {}
    for group in ("images", "orders"):
        try:
            archive = packages.aws_release_zip(group)
        except (Exception, SystemExit) as exc:  # pip could not reach PyPI
            _missing(f"cannot build the released {group} zip: {exc}")
        with zipfile.ZipFile(archive) as handle:
            entries[group] = handle.namelist()
    packages.check_vips_entries(entries["images"])
    (module,) = packages.vips_entries(entries["images"])["libvips_module"]
    assert module == "_libvips.abi3.so"
    assert packages.wheel_tags(packages.aws_release_zip("images"))["pyvips-3.2.0.dist-info"] == [
        "py3-none-any"
    ]
    orders = packages.vips_entries(entries["orders"])
    assert not orders["pyvips"] and not orders["libvips_module"] and not orders["libvips_library"]
    assert not [n for n in entries["orders"] if n.startswith(("PIL/", "pillow", "pyvips"))]
