"""The Cloud Functions source zips served by ``functions-framework`` as Cloud Run serves them.

Each group's zip (``functions.gcp.package``) is unpacked, its ``requirements.txt`` installed into
a fresh virtualenv of the Python version Terraform names (cached under ``build/runtimes/``),
and ``functions-framework --target <entry point> --signature-type <type>`` runs as a process
with the environment the planned ``google_cloudfunctions2_function`` declares
(:mod:`tests.runtimes.wiring`; the names a deployment decides are the plan's, created on the
emulators).
Real-shaped deliveries go over HTTP: Pub/Sub push bodies (binary and attribute-only messages),
Eventarc storage "finalized" CloudEvents (binary and structured mode), Cloud Scheduler's POST
with its OIDC header, and the orders API. Behind them: the Pub/Sub and Firestore emulators and
gcp-storage-emulator.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.images.metadata import image_id
from tests.integration.gcp.conftest import emulator_host, load_event, sample_jpeg
from tests.runtimes import packages, wiring
from tests.support import LOOPBACK, background_process, free_port

pytestmark = pytest.mark.integration

IN_CI = os.environ.get("CI", "").lower() == "true"
PROJECT = "eventsuite-rt"  # fixed: the plan (cached by its inputs) names it
PLANNED_PORT = 2525
# The resources a deployment names that the emulators create by the plan's name (``stack``).
EMULATED = re.compile(
    r'google_(pubsub_topic|storage_bucket|firestore_database)\.\w+(\["[^"]+"\])?\.name'
)
COLD_STARTS: dict[str, float] = {}


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing component fails)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def pubsub_host() -> Iterator[str]:
    with emulator_host("pubsub", "PUBSUB_EMULATOR_HOST") as host:
        yield host


@pytest.fixture(scope="module")
def firestore_host() -> Iterator[str]:
    with emulator_host("firestore", "FIRESTORE_EMULATOR_HOST") as host:
        yield host


@pytest.fixture(scope="module")
def planned() -> dict[str, wiring.Wiring]:
    """Every function as the Terraform plan declares it. The plan is cached by its tfvars
    text, so it names a fixed project and relay port (this run's relay is swapped in below)."""
    smtp = {"host": LOOPBACK, "port": PLANNED_PORT, "username": "", "starttls": False}
    return wiring.load(
        "gcp",
        {
            "project_id": PROJECT,
            "region": "europe-west1",
            "mail_from": "orders@rt.test",
            "smtp": smtp,
        },
    )


@pytest.fixture(scope="module")
def wirings(
    planned: dict[str, wiring.Wiring], smtp_server: tuple[int, Any]
) -> dict[str, wiring.Wiring]:
    """The functions as deployed on the emulators: what a deployment decides is the plan's
    own name of a topic, bucket or database that ``stack`` creates by that name (any other
    reference has no emulator value and fails), and the relay is this run's."""
    port, _ = smtp_server
    deployed: dict[str, wiring.Wiring] = {}
    for name, function in planned.items():
        unresolved = {v: r for v, r in function.unknown.items() if not EMULATED.fullmatch(r)}
        assert not unresolved, f"{name}: no emulator value for {unresolved}"
        environment = {**function.environment, **function.planned}
        if "EVENTSUITE_SMTP_PORT" in environment:
            assert environment["EVENTSUITE_SMTP_PORT"] == str(PLANNED_PORT), name
            environment["EVENTSUITE_SMTP_PORT"] = str(port)
        deployed[name] = dataclasses.replace(
            function, environment=environment, unknown={}, planned={}
        )
    return deployed


@pytest.fixture(scope="module")
def venvs(
    wirings: dict[str, wiring.Wiring], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, Path]]:
    """Per group: (unpacked source, virtualenv with its requirements)."""
    (version,) = {w.python_version for w in wirings.values()}
    python = packages.find_python(version)
    if python is None:
        _missing(f"no Python {version} interpreter (the runtime Terraform names)")
    assert python is not None
    base = tmp_path_factory.mktemp("gcp-src")
    out: dict[str, tuple[Path, Path]] = {}
    for group in sorted({w.group for w in wirings.values()}):
        source = packages.gcp_source(group, base / group)
        try:
            out[group] = (source, packages.gcp_venv(python, source / "requirements.txt"))
        except Exception as exc:  # pip could not reach PyPI
            _missing(f"cannot install the {group} requirements for Python {version}: {exc}")
    return out


@pytest.fixture(scope="module")
def stack(
    pubsub_host: str, firestore_host: str, storage_client: Any, planned: dict[str, wiring.Wiring]
) -> Iterator[dict[str, Any]]:
    """Topics (with a pull subscription each) and buckets that Terraform would create."""
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    names = {
        reference: function.planned[variable]
        for function in planned.values()
        for variable, reference in function.unknown.items()
    }
    topics = {n for r, n in names.items() if r.startswith("google_pubsub_topic.")}
    for topic in sorted(topics):
        publisher.create_topic(name=publisher.topic_path(PROJECT, topic))
        subscriber.create_subscription(
            name=subscriber.subscription_path(PROJECT, f"{topic}-pull"),
            topic=publisher.topic_path(PROJECT, topic),
        )
    for bucket in sorted(n for r, n in names.items() if r.startswith("google_storage_bucket.")):
        storage_client.create_bucket(bucket)
    yield {"subscriber": subscriber, "storage": storage_client}
    subscriber.close()
    publisher.transport.close()


def pull(stack: dict[str, Any], topic: str, *, expect: int = 1, timeout: float = 15) -> list[Any]:
    subscriber = stack["subscriber"]
    path = subscriber.subscription_path(PROJECT, f"{topic}-pull")
    received: list[Any] = []
    deadline = time.monotonic() + timeout
    while len(received) < expect and time.monotonic() < deadline:
        response = subscriber.pull(subscription=path, max_messages=10, timeout=5)
        if response.received_messages:
            subscriber.acknowledge(
                subscription=path, ack_ids=[m.ack_id for m in response.received_messages]
            )
        received.extend(m.message for m in response.received_messages)
    return received


class Served:
    """One function as a functions-framework process."""

    def __init__(self, url: str, process: Any) -> None:
        self.url, self.process, self.first = url, process, True

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        return self.request("POST", path, body, headers)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # loopback only
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def emulator_hosts(pubsub: str, firestore: str, storage: str) -> dict[str, str]:
    """The emulators standing in for the Google APIs (test-only variables)."""
    return {
        "PUBSUB_EMULATOR_HOST": pubsub,
        "FIRESTORE_EMULATOR_HOST": firestore,
        "STORAGE_EMULATOR_HOST": storage,
    }


def launch(
    function: wiring.Wiring,
    venv: Path,
    port: int,
    hosts: dict[str, str],
    *,
    target: str | None = None,
    drop: tuple[str, ...] = (),
) -> tuple[list[str], dict[str, str]]:
    """The functions-framework command and the whole environment of one function: what Cloud
    Run sets, the function's own variables from Terraform (less ``drop``), the emulators."""
    service = function.name.replace("_", "-")
    signature = function.signature_type or "http"
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(venv),
        "PORT": str(port),
        "K_SERVICE": service,
        "K_REVISION": f"{service}-00001",
        "K_CONFIGURATION": service,
        "FUNCTION_TARGET": target or function.handler,
        "FUNCTION_SIGNATURE_TYPE": signature,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        **{k: v for k, v in function.environment.items() if k not in drop},
        **hosts,
    }
    command = [
        str(venv / "bin" / "functions-framework"),
        *("--target", target or function.handler, "--signature-type", signature),
        *("--source", "main.py", "--host", LOOPBACK, "--port", str(port)),
    ]
    return command, env


@pytest.fixture(scope="module")
def serve(
    wirings: dict[str, wiring.Wiring],
    venvs: dict[str, tuple[Path, Path]],
    stack: dict[str, Any],
    pubsub_host: str,
    firestore_host: str,
    gcs_emulator: str,
) -> Iterator[Any]:
    import contextlib

    hosts = emulator_hosts(pubsub_host, firestore_host, gcs_emulator)
    running: dict[str, Served] = {}
    with contextlib.ExitStack() as stack_of_processes:

        def start(name: str) -> Served:
            if name in running:
                return running[name]
            function = wirings[name]
            assert not function.unknown, f"{name}: no value for {function.unknown}"
            source, venv = venvs[function.group]
            port = free_port()
            command, env = launch(function, venv, port, hosts)
            started = time.perf_counter()
            process = stack_of_processes.enter_context(
                background_process(
                    command, port=port, env=env, cwd=source, timeout=90, inherit_env=False
                )
            )
            COLD_STARTS[f"{name} (listening)"] = round(time.perf_counter() - started, 3)
            running[name] = Served(f"http://{LOOPBACK}:{port}", process)
            return running[name]

        yield start
    out = packages.CACHE / "coldstart-gcp.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(COLD_STARTS, indent=2, sort_keys=True))


def timed(name: str, call: Any) -> Any:
    started = time.perf_counter()
    result = call()
    COLD_STARTS.setdefault(f"{name} (first request)", round(time.perf_counter() - started, 3))
    return result


def push_path(topic: str) -> str:
    """The path Terraform's push subscription posts to (``.../projects/P/topics/T``)."""
    return f"/projects/{PROJECT}/topics/{topic}"


def test_every_catalog_function_is_wired(wirings: dict[str, wiring.Wiring]) -> None:
    from shared.catalog import default_catalog

    catalog = default_catalog()
    assert set(wirings) == {*catalog.consumers, *catalog.endpoints, *catalog.schedules}
    assert {w.signature_type for w in wirings.values() if w.kind == "consumer"} == {"cloudevent"}


def test_an_attribute_only_push_message_is_dead_lettered_with_its_reason(
    serve: Any, wirings: dict[str, wiring.Wiring], stack: dict[str, Any]
) -> None:
    payments = serve("payments")
    body = load_event("pubsub_push_order_placed_binary.json")
    del body["message"]["data"]
    body["deliveryAttempt"] = 1
    status, answer = timed(
        "payments",
        lambda: payments.post(
            push_path("eventsuite-events"),
            json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        ),
    )
    assert status == 200, answer
    (parked,) = pull(stack, wirings["payments"].environment["EVENTSUITE_DEAD_LETTER_TOPIC"])
    assert parked.attributes["consumer"] == "payments"
    assert parked.attributes["reason"], parked.attributes


def test_an_unknown_future_version_pushed_is_dead_lettered_once(
    serve: Any, wirings: dict[str, wiring.Wiring], stack: dict[str, Any]
) -> None:
    body = load_event("pubsub_push_order_placed_binary.json")
    body["message"]["attributes"]["ce-eventversion"] = "4"
    status, answer = serve("payments").post(
        push_path("eventsuite-events"),
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200, answer
    (parked,) = pull(stack, wirings["payments"].environment["EVENTSUITE_DEAD_LETTER_TOPIC"])
    assert "version 4 is unknown" in parked.attributes["reason"]


def push_body(message: Any, topic: str, attempt: int = 1) -> bytes:
    """The body a push subscription posts for a pulled message."""
    import base64

    return json.dumps(
        {
            "message": {
                "data": base64.b64encode(message.data).decode(),
                "attributes": dict(message.attributes),
                "messageId": message.message_id,
                "publishTime": "2026-12-07T12:00:00Z",
            },
            "subscription": f"projects/{PROJECT}/subscriptions/{topic}-payments",
            "deliveryAttempt": attempt,
        }
    ).encode()


def test_orders_are_placed_charged_and_read_over_http(
    serve: Any, wirings: dict[str, wiring.Wiring], stack: dict[str, Any]
) -> None:
    order = {
        "customer": {"email": "gcp-rt@example.com"},
        "currency": "EUR",
        "items": [{"sku": "tea", "quantity": 1, "unit_price_minor": 450}],
    }
    status, answer = timed(
        "orders_api",
        lambda: serve("orders_api").post(
            "/orders", json.dumps(order).encode(), {"Content-Type": "application/json"}
        ),
    )
    assert status == 202, answer
    order_id = json.loads(answer)["order_id"]
    status, answer = timed(
        "order_status", lambda: serve("order_status").request("GET", f"/orders/{order_id}")
    )
    assert status == 200, answer
    assert json.loads(answer)["status"] == "PLACED"
    # What the orders API published, pushed to payments as its subscription would.
    orders_topic = wirings["orders_api"].environment["EVENTSUITE_EVENTS_TOPIC"]
    (placed,) = pull(stack, orders_topic)
    assert placed.attributes.get("ce-type", "").endswith("OrderPlaced") or b"OrderPlaced" in (
        placed.data
    ), placed
    status, answer = serve("payments").post(
        push_path(orders_topic),
        push_body(placed, orders_topic),
        {"Content-Type": "application/json"},
    )
    assert status == 200, answer
    payments_topic = wirings["payments"].environment["EVENTSUITE_EVENTS_TOPIC"]
    (outcome,) = pull(stack, payments_topic)
    assert order_id.encode() in outcome.data or order_id in json.dumps(dict(outcome.attributes))
    status, answer = serve("order_status").request("GET", f"/orders/{order_id}")
    assert json.loads(answer)["status"] in ("PAID", "PAYMENT_FAILED"), answer


def test_cloud_scheduler_runs_the_reconciler(serve: Any) -> None:
    headers = {  # Cloud Scheduler's HTTP target with an OIDC token (verified by Cloud Run's IAM)
        "Content-Type": "application/octet-stream",
        "Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzY2hlZHVsZXIifQ.c2ln",
        "User-Agent": "Google-Cloud-Scheduler",
        "X-CloudScheduler": "true",
        "X-CloudScheduler-JobName": "eventsuite-order-reconciler",
        "X-CloudScheduler-ScheduleTime": "2026-12-07T12:00:00Z",
    }
    status, answer = timed(
        "order_reconciler", lambda: serve("order_reconciler").post("/", b"", headers)
    )
    assert status == 200, answer
    report = json.loads(answer)
    assert report["schedule"] == "order_reconciler" and "relayed" in report["report"], report


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_eventarc_storage_finalized_indexes_the_upload(
    serve: Any, wirings: dict[str, wiring.Wiring], stack: dict[str, Any], mode: str
) -> None:
    indexer = wirings["indexer"]
    bucket = indexer.environment["EVENTSUITE_UPLOADS_BUCKET"]
    key = f"uploads/rt-{mode}.jpg"
    blob = stack["storage"].bucket(bucket).blob(key)
    blob.upload_from_string(sample_jpeg(size=(300, 200)), content_type="image/jpeg")
    sample = load_event("eventarc_storage_finalized.json")
    data = dict(sample["body"], name=key, bucket=bucket, id=f"{bucket}/{key}/1", generation="1")
    attributes = {
        "id": f"finalized-{mode}",
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "specversion": "1.0",
        "type": "google.cloud.storage.object.v1.finalized",
        "subject": f"objects/{key}",
        "time": "2026-12-07T12:00:00Z",
    }
    if mode == "binary":
        headers = {
            "Content-Type": "application/json",
            **{f"ce-{k}": v for k, v in attributes.items()},
        }
        body = json.dumps(data).encode()
    else:
        headers = {"Content-Type": "application/cloudevents+json"}
        body = json.dumps(
            {**attributes, "datacontenttype": "application/json", "data": data}
        ).encode()
    status, answer = timed("indexer", lambda: serve("indexer").post("/", body, headers))
    assert status == 200, answer
    from google.cloud import firestore

    client = firestore.Client(
        project=PROJECT, database=indexer.environment["EVENTSUITE_FIRESTORE_DATABASE"]
    )
    found = _find_index_document(client, image_id(bucket, key))
    assert found is not None and found.get("width") == 300, found


def _find_index_document(client: Any, document_id: str) -> dict[str, Any] | None:
    for collection in client.collections():
        snapshot = collection.document(document_id).get()
        if snapshot.exists:
            return snapshot.to_dict()
    return None


# --- bad wiring: each fails with the function and the missing piece named -------------------


def run_broken(
    function: wiring.Wiring,
    source: Path,
    venv: Path,
    hosts: dict[str, str],
    log: Path,
    request: tuple[str, str, bytes, dict[str, str]] | None = None,
    **changes: Any,
) -> str:
    """Start the function as configured with ``changes``; the first request (if it listens),
    then its output, prefixed with the function's name."""
    import subprocess

    port = free_port()
    command, env = launch(function, venv, port, hosts, **changes)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=source, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            status: int | None = None
            while time.monotonic() < deadline and process.poll() is None:
                with socket.socket() as probe:
                    listening = probe.connect_ex((LOOPBACK, port)) == 0
                if not listening:
                    time.sleep(0.1)
                    continue
                if request is not None:
                    status, _ = Served(f"http://{LOOPBACK}:{port}", process).request(*request)
                break
        finally:
            process.terminate()
            process.wait(10)
    return f"{function.name} (status {status}): {log.read_text(errors='replace')}"


@pytest.fixture(scope="module")
def hosts(pubsub_host: str, firestore_host: str, gcs_emulator: str) -> dict[str, str]:
    return emulator_hosts(pubsub_host, firestore_host, gcs_emulator)


def test_an_entry_point_that_does_not_resolve_is_named(
    wirings: dict[str, wiring.Wiring],
    venvs: dict[str, tuple[Path, Path]],
    hosts: dict[str, str],
    tmp_path: Path,
) -> None:
    function = wirings["payments"]
    source, venv = venvs[function.group]
    output = run_broken(function, source, venv, hosts, tmp_path / "log", target="handle_evnt")
    assert "handle_evnt" in output and "payments" in output, output


def test_a_module_missing_from_the_zip_is_named(
    wirings: dict[str, wiring.Wiring],
    venvs: dict[str, tuple[Path, Path]],
    hosts: dict[str, str],
    tmp_path: Path,
) -> None:
    import shutil

    function = wirings["orders_api"]
    source, venv = venvs[function.group]
    broken = tmp_path / "src"
    shutil.copytree(source, broken)
    (broken / "functions" / "gcp" / "entrypoint.py").unlink()
    output = run_broken(function, broken, venv, hosts, tmp_path / "log")
    assert "cannot import name 'entrypoint' from 'functions.gcp'" in output, output
    assert "orders_api" in output, output


def test_a_missing_environment_variable_is_named(
    wirings: dict[str, wiring.Wiring],
    venvs: dict[str, tuple[Path, Path]],
    hosts: dict[str, str],
    tmp_path: Path,
) -> None:
    function = wirings["orders_api"]
    source, venv = venvs[function.group]
    order = json.dumps(
        {
            "customer": {"email": "x@example.com"},
            "currency": "EUR",
            "items": [{"sku": "tea", "quantity": 1, "unit_price_minor": 1}],
        }
    )
    output = run_broken(
        function,
        source,
        venv,
        hosts,
        tmp_path / "log",
        request=("POST", "/orders", order.encode(), {"Content-Type": "application/json"}),
        drop=("EVENTSUITE_EVENTS_TOPIC",),
    )
    assert "EVENTSUITE_EVENTS_TOPIC" in output and "orders_api" in output, output


def test_the_images_source_decodes_a_jpeg_with_its_vendored_pyvips(
    venvs: dict[str, tuple[Path, Path]],
) -> None:
    """The zip's vendored pure pyvips (source root, first on the path as Cloud Functions puts
    it) runs in API mode on pyvips-binary's ``_libvips`` from the venv its requirements built."""
    source, venv = venvs["images"]
    loaded = packages.run_vips_probe(
        str(venv / "bin" / "python"), [source], cwd=source, isolated=False
    )
    assert loaded["api_mode"] is True, loaded
    assert Path(loaded["pyvips"]).is_relative_to(source), loaded
    assert Path(loaded["libvips_module"]).is_relative_to(venv), loaded
    assert loaded["size"] == [32, 24], loaded
