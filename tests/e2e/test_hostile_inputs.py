"""Hostile input at every entry point ends in a clear 4xx or a dead letter with its reason at
the first attempt: never a 500, never a retry, never a write outside the store.

Entry points, each driven through its own platform translation over the local backend's real
ports (filesystem object store, SQLite state, the broker as dead-letter sink):

* HTTP: the runtime in process (``LocalBackend``), ``functions/local/ff_main.py`` and
  ``functions/gcp/main.py`` under functions-framework, the AWS ``HttpFunction`` (API Gateway
  payload 2.0) and the Azure v2-model functions;
* consumers: the runtime in process, ``ff_main.handle_event`` under functions-framework (as
  ``make serve`` posts), the AWS ``QueueFunction`` (an SQS batch), a Pub/Sub push to the GCP
  app, and an Azure Storage-queue message.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import io
import json
import re
import struct
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from functions.common.runtime import Runtime
from functions.local.backend import DEMO_WEBHOOK_SECRET, LocalBackend
from shared.dispatch import Delivery
from shared.envelope import from_structured, new_event, to_structured
from shared.http import HttpRequest
from shared.orders.webhooks import SIGNATURE_HEADER, STRIPE_SIGNATURE_HEADER, sign
from shared.ports import Ports
from tests.builders import order_v2
from tests.support import ROOT

pytestmark = pytest.mark.e2e

# -- the entry points -------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What a caller sees."""

    status: int
    headers: dict[str, str]
    body: Any


HttpCall = Callable[[Ports, str, str, str, dict[str, str], bytes], Answer]


def http_in_process(
    ports: Ports, endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> Answer:
    response = Runtime(ports).answer(endpoint, HttpRequest(method, path, headers, body))
    return Answer(response.status, response.all_headers(), response.body)


def _flask(response: Any) -> Answer:
    return Answer(response.status_code, dict(response.headers), response.get_json(silent=True))


def _flask_open(client: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
    """A request through the Werkzeug client; header values with CR/LF (which its client
    refuses to send) go into the WSGI environ as a lenient server would pass them."""
    plain = {k: v for k, v in headers.items() if "\r" not in v and "\n" not in v}
    raw = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items() if k not in plain}
    return client.open(path, method=method, headers=plain, data=body, environ_overrides=raw)


@contextlib.contextmanager
def _ff_local_app(ports: Ports, target: str, role: tuple[str, str]) -> Iterator[Any]:
    """``functions/local/ff_main.py`` under functions-framework, its backend over ``ports``."""
    import functions_framework

    @dataclass
    class Backend:
        runtime: Runtime

        def consumer(self, name: str) -> Any:
            return self.runtime.consumer(name)

    signature = "cloudevent" if target == "handle_event" else "http"
    saved_path, saved_module = list(sys.path), sys.modules.get("ff_main")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(*role)  # read by ff_main at every request
        try:
            app = functions_framework.create_app(
                target, str(ROOT / "functions" / "local" / "ff_main.py"), signature
            )
            runtime = Runtime(ports)
            patch.setattr(sys.modules["ff_main"], "bootstrap", lambda: Backend(runtime))
            yield app.test_client()
        finally:
            sys.path[:] = saved_path
            if saved_module is None:
                sys.modules.pop("ff_main", None)
            else:
                sys.modules["ff_main"] = saved_module


def http_local_ff(
    ports: Ports, endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> Answer:
    with _ff_local_app(ports, "handle_http", ("EVENTSUITE_ENDPOINT", endpoint)) as client:
        return _flask(_flask_open(client, method, path, headers, body))


def http_aws(
    ports: Ports, endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> Answer:
    from functions.aws.functions import HttpFunction

    function = HttpFunction(Runtime(ports).endpoint(endpoint))
    event = {
        "requestContext": {"http": {"method": method}},
        "rawPath": path,
        "headers": headers,
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    response = function(event, None)
    return Answer(response["statusCode"], response["headers"], json.loads(response["body"]))


def http_gcp(
    ports: Ports, endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> Answer:
    from functions.gcp import bootstrap
    from tests.integration.gcp.conftest import make_app

    bootstrap.install(ports, endpoint=endpoint)
    try:
        client = make_app("handle_http", endpoint=endpoint)
        return _flask(_flask_open(client, method, path, headers, body))
    finally:
        bootstrap.reset()


def _azure_overrides(ports: Ports) -> dict[str, Any]:
    names = (
        "settings",
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
    return {name: getattr(ports, name) for name in names if getattr(ports, name) is not None}


def http_azure(
    ports: Ports, endpoint: str, method: str, path: str, headers: dict[str, str], body: bytes
) -> Answer:
    import azure.functions as func

    from functions.azure import bootstrap
    from tests.unit.azure.app_support import user_function

    bootstrap.configure({}, overrides=_azure_overrides(ports), catalog=ports.catalog)
    try:
        request = func.HttpRequest(
            method=method, url=f"https://app.example{path}", headers=headers, body=body
        )
        response = user_function(endpoint)(request)
    finally:
        bootstrap.reset()
    return Answer(
        response.status_code,
        {**dict(response.headers), "Content-Type": response.mimetype},
        json.loads(response.get_body() or b"null"),
    )


HTTP_BACKENDS: dict[str, HttpCall] = {
    "local": http_in_process,
    "local-ff": http_local_ff,
    "aws": http_aws,
    "gcp": http_gcp,
    "azure": http_azure,
}


Outcome = str  # "ack" (acknowledged, nothing to retry) or "retry"
EventCall = Callable[[Ports, str, bytes], Outcome]


def event_in_process(ports: Ports, consumer: str, raw: bytes) -> Outcome:
    function = Runtime(ports).consumer(consumer)
    result = function.deliver(Delivery("m-1", lambda: from_structured(raw), 1, raw))
    return "ack" if result is None or result.acknowledged else "retry"


def event_local_ff(ports: Ports, consumer: str, raw: bytes) -> Outcome:
    with _ff_local_app(ports, "handle_event", ("EVENTSUITE_CONSUMER", consumer)) as client:
        response = client.post(
            "/",
            data=raw,
            headers={"Content-Type": "application/cloudevents+json", "X-Delivery-Attempt": "1"},
        )
    if response.status_code >= 500:
        return "retry"
    return "ack" if response.status_code < 300 else f"refused {response.status_code}"


def event_aws(ports: Ports, consumer: str, raw: bytes) -> Outcome:
    from functions.aws.functions import QueueFunction

    function = QueueFunction(Runtime(ports).consumer(consumer))
    record = {
        "messageId": "m-1",
        "body": raw.decode("utf-8", errors="surrogateescape"),
        "attributes": {"ApproximateReceiveCount": "1"},
    }
    failures = function({"Records": [record]})["batchItemFailures"]
    return "retry" if failures else "ack"


def event_gcp(ports: Ports, consumer: str, raw: bytes) -> Outcome:
    from functions.gcp import bootstrap
    from tests.integration.gcp.conftest import make_app

    bootstrap.install(ports, consumer=consumer)
    try:
        client = make_app("handle_event", consumer=consumer)
        push = {
            "message": {
                "attributes": {"content-type": "application/cloudevents+json"},
                "data": base64.b64encode(raw).decode(),
                "messageId": "1001",
                "publishTime": "2026-03-02T08:00:00.410Z",
            },
            "subscription": f"projects/p/subscriptions/eventsuite-{consumer}",
            "deliveryAttempt": 1,
        }
        response = client.post("/projects/p/topics/eventsuite-events", json=push)
    finally:
        bootstrap.reset()
    if response.status_code >= 500:
        return "retry"
    assert response.status_code < 300, (response.status_code, response.data[:300])
    return "ack"


def event_azure(ports: Ports, consumer: str, raw: bytes) -> Outcome:
    import azure.functions as func

    from functions.azure import bootstrap
    from functions.azure.entrypoint import RetryDelivery
    from tests.unit.azure.app_support import user_function

    bootstrap.configure({}, overrides=_azure_overrides(ports), catalog=ports.catalog)
    try:
        user_function(consumer)(func.QueueMessage(id="q-1", body=raw))
    except RetryDelivery:
        return "retry"
    finally:
        bootstrap.reset()
    return "ack"


EVENT_BACKENDS: dict[str, EventCall] = {
    "local": event_in_process,
    "local-ff": event_local_ff,
    "aws": event_aws,
    "gcp": event_gcp,
    "azure": event_azure,
}


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    instance = LocalBackend.open(tmp_path / "home")
    yield instance
    instance.close()
    outside = sorted(p.name for p in tmp_path.iterdir() if p.name not in ("home", "home.log"))
    assert outside == [], f"something was written outside the store: {outside}"


# -- HTTP cases -------------------------------------------------------------------------------

ORDER = {
    "customer": {"email": "ann@example.com", "name": "Ann"},
    "currency": "EUR",
    "items": [{"sku": "mug", "quantity": 1, "unit_price_minor": 1250}],
}


def _order(**customer: Any) -> bytes:
    return json.dumps({**ORDER, "customer": {**ORDER["customer"], **customer}}).encode()


def _webhook(body: bytes, *, age: int = 0, secret: str = DEMO_WEBHOOK_SECRET) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(body, secret, int(time.time()) - age)}


REFUND = json.dumps(
    {
        "id": "evt_1",
        "type": "payment.refunded",
        "data": {"order_id": "ord_0123456789abcdef01234567"},
    }
).encode()
DEEP_WEBHOOK = b'{"data":' * 60_000
STRIPE_DISPUTE_IN_XTS = json.dumps(
    {
        "id": "evt_1Xts",
        "object": "event",
        "type": "charge.dispute.created",
        "data": {"object": {"amount": 1, "currency": "xts", "payment_intent": "pi_1"}},
    }
).encode()


def _priced(currency: str, unit_price: str) -> bytes:
    items = [{"sku": "mug", "quantity": 1, "unit_price": unit_price}]
    return json.dumps({**ORDER, "currency": currency, "items": items}).encode()


@dataclass(frozen=True)
class HttpCase:
    """One hostile request and the 4xx it must get (``None``: any status below 500)."""

    endpoint: str
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    status: int | None = None


HTTP_CASES: dict[str, HttpCase] = {
    "deeply nested body": HttpCase("orders_api", "POST", "/orders", b"[" * 60_000, status=400),
    "oversized body": HttpCase("orders_api", "POST", "/orders", b"{" + b" " * 300_000, status=413),
    "not JSON": HttpCase("orders_api", "POST", "/orders", b"\xff\xfe\x00garbage", status=400),
    "gzip bomb body": HttpCase(
        "orders_api",
        "POST",
        "/orders",
        gzip.compress(b"[" * 1_000_000),
        {"Content-Encoding": "gzip", "Content-Type": "application/json"},
        status=400,
    ),
    "email with a trailing newline": HttpCase(
        "orders_api", "POST", "/orders", _order(email="ann@example.com\n"), status=400
    ),
    "email with CRLF and a Bcc header": HttpCase(
        "orders_api",
        "POST",
        "/orders",
        _order(email="ann@example.com\r\nBcc: evil@example.com"),
        status=400,
    ),
    "CRLF in X-Correlation-Id": HttpCase(
        "orders_api",
        "POST",
        "/orders",
        _order(),
        {"X-Correlation-Id": "corr-12345\r\nSet-Cookie: stolen=1"},
    ),
    "LF at the end of X-Correlation-Id": HttpCase(
        "orders_api", "POST", "/orders", _order(), {"X-Correlation-Id": "corr-12345\n"}
    ),
    "CRLF in Idempotency-Key": HttpCase(
        "orders_api",
        "POST",
        "/orders",
        _order(),
        {"Idempotency-Key": "key-12345\r\nX-Evil: 1"},
        status=400,
    ),
    "unknown currency": HttpCase(
        "orders_api", "POST", "/orders", _priced("XXX", "12.50"), status=400
    ),
    "more decimals than JPY has": HttpCase(
        "orders_api", "POST", "/orders", _priced("JPY", "1250.5"), status=400
    ),
    "more decimals than KWD has": HttpCase(
        "orders_api", "POST", "/orders", _priced("KWD", "1.2345"), status=400
    ),
    "card data instead of a payment method": HttpCase(
        "orders_api",
        "POST",
        "/orders",
        json.dumps({**ORDER, "payment_method": "4242 4242 4242 4242"}).encode(),
        status=400,
    ),
    "signed Stripe event in a test currency": HttpCase(
        "payment_webhook",
        "POST",
        "/webhooks/payments",
        STRIPE_DISPUTE_IN_XTS,
        {
            STRIPE_SIGNATURE_HEADER: sign(
                STRIPE_DISPUTE_IN_XTS, DEMO_WEBHOOK_SECRET, int(time.time())
            )
        },
        # 400, or 401 once the signature (made at import) is older than the tolerance in a
        # long run; tests/integration/payments/test_stripe.py asserts the 400 itself.
        status=None,
    ),
    "path traversal in the route": HttpCase(
        "order_status", "GET", "/orders/../../etc/passwd", status=404
    ),
    "NUL in the order id": HttpCase("order_status", "GET", "/orders/ord_%00abc", status=404),
    "forged webhook signature": HttpCase(
        "payment_webhook",
        "POST",
        "/webhooks/payments",
        REFUND,
        _webhook(REFUND, secret="whsec_not_ours"),
        status=401,
    ),
    "replayed webhook (stale timestamp)": HttpCase(
        "payment_webhook",
        "POST",
        "/webhooks/payments",
        REFUND,
        _webhook(REFUND, age=3600),
        status=401,
    ),
    "unsigned webhook": HttpCase(
        "payment_webhook", "POST", "/webhooks/payments", REFUND, status=401
    ),
    "signed but deeply nested webhook": HttpCase(
        "payment_webhook",
        "POST",
        "/webhooks/payments",
        DEEP_WEBHOOK,
        _webhook(DEEP_WEBHOOK),
        status=None,  # 400 (nesting) or 413 (size): a clear refusal either way
    ),
}


@pytest.mark.parametrize("backend_name", sorted(HTTP_BACKENDS))
@pytest.mark.parametrize("case_name", sorted(HTTP_CASES))
def test_hostile_requests_get_a_clear_4xx(
    backend: LocalBackend, backend_name: str, case_name: str
) -> None:
    case = HTTP_CASES[case_name]
    answer = HTTP_BACKENDS[backend_name](
        backend.ports, case.endpoint, case.method, case.path, dict(case.headers), case.body
    )
    assert answer.status < 500, (answer.status, answer.body)
    if case.status is not None:
        assert answer.status == case.status, (answer.status, answer.body)
    if answer.status >= 400:
        assert str(answer.headers.get("Content-Type", "")).startswith("application/problem+json")
        assert "Traceback" not in json.dumps(answer.body)
    for name, value in answer.headers.items():
        assert "\r" not in value and "\n" not in value, (name, value)
        assert name.lower() not in ("set-cookie", "x-evil"), (name, value)
    if case_name.startswith(("CRLF in X-", "LF at")):
        assert answer.status == 202
        echoed = answer.headers.get("X-Correlation-Id", "")
        assert echoed and "corr-12345" not in echoed  # a fresh id, not the forged one
    # Nothing a refused request sent may have been announced.
    if answer.status >= 400:
        assert backend.broker.pending() == 0


# -- consumer cases ---------------------------------------------------------------------------


def _png(width: int = 32, height: int = 24) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png() -> bytes:
    """A 100 KB-free PNG header claiming 100,000 x 100,000 pixels (10 gigapixels)."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _upload_event(key: str, size: int = 100, content_type: str | None = "image/png") -> bytes:
    event = new_event(
        "ImageUploaded",
        {
            "bucket": "uploads",
            "key": key,
            "size": size,
            "content_type": content_type,
            "etag": None,
            "uploaded_at": "2026-03-01T10:00:00Z",
        },
        source="urn:hostile",
    )
    return json.dumps(to_structured(event)).encode()


def _structured(event_name: str, data: dict[str, Any], **attributes: Any) -> bytes:
    body = to_structured(new_event(event_name, order_v2(), source="urn:hostile"))
    body["data"] = data
    body.update(attributes)
    return json.dumps(body).encode()


@dataclass(frozen=True)
class EventCase:
    """A hostile delivery: the consumers it reaches, the object it names, the reason it must
    be dead-lettered with (at the first attempt)."""

    consumers: tuple[str, ...]
    raw: bytes
    reason: str
    objects: dict[str, tuple[bytes, str | None]] = field(default_factory=dict)
    # functions-framework itself answers 400 to a body that is no CloudEvent at all, before
    # our code runs: a clear refusal too (the local broker never publishes such a body).
    framework_refuses: bool = False


TRUNCATED = _png()[:60]
EVENT_CASES: dict[str, EventCase] = {
    "schema-invalid OrderPlaced": EventCase(
        ("payments", "notifier"),
        _structured("OrderPlaced", {"order_id": "ord_0123456789abcdef01234567"}),
        "schema|required|valid",
    ),
    "future OrderPlaced version": EventCase(
        ("payments", "notifier"),
        _structured("OrderPlaced", order_v2(), eventversion="99"),
        "version",
    ),
    "unknown event type": EventCase(
        ("notifier",), _structured("OrderPlaced", order_v2(), type="io.evil.Unknown"), "type"
    ),
    "not a CloudEvent": EventCase(
        ("notifier",), b'{"hello": "world"}', "CloudEvent|neither", framework_refuses=True
    ),
    "CRLF in the correlation id (an email header)": EventCase(
        ("notifier",),
        _structured("OrderPlaced", order_v2(), correlationid="corr-1\r\nBcc: evil@example.com"),
        "control characters",
    ),
    "CRLF in the customer email": EventCase(
        ("notifier",),
        _structured(
            "OrderPlaced",
            {
                **order_v2(),
                "customer": {"email": "ann@example.com\r\nBcc: evil@example.com", "name": "A"},
            },
        ),
        "schema|does not match|valid",
    ),
    "NUL in the object key": EventCase(
        ("thumbnailer", "indexer"), _upload_event("uploads/a\x00b.png"), "control character"
    ),
    "path traversal in the object key": EventCase(
        ("thumbnailer", "indexer"),
        _upload_event("uploads/../../../escape.png"),
        "invalid object key",
    ),
    "decompression bomb": EventCase(
        ("thumbnailer", "indexer"),
        _upload_event("uploads/bomb.png"),
        "pixel",
        {"uploads/bomb.png": (_bomb_png(), "image/png")},
    ),
    "truncated PNG": EventCase(
        ("thumbnailer", "indexer"),
        _upload_event("uploads/truncated.png"),
        "corrupt|truncated",
        {"uploads/truncated.png": (TRUNCATED, "image/png")},
    ),
    "text labelled as a PNG": EventCase(
        ("thumbnailer", "indexer"),
        _upload_event("uploads/notes.png"),
        "not a supported image",
        {"uploads/notes.png": (b"#!/bin/sh\nrm -rf /\n", "image/png")},
    ),
    "GIF header labelled as a JPEG": EventCase(
        ("thumbnailer", "indexer"),
        _upload_event("uploads/photo.jpg", content_type="image/jpeg"),
        "corrupt|truncated|cannot read|not a supported",
        {"uploads/photo.jpg": (b"GIF89a\x10\x00\x10\x00" + b"\x00" * 20, "image/jpeg")},
    ),
}


@pytest.mark.parametrize("backend_name", sorted(EVENT_BACKENDS))
@pytest.mark.parametrize("case_name", sorted(EVENT_CASES))
def test_hostile_events_are_dead_lettered_with_their_reason_at_the_first_attempt(
    backend: LocalBackend, backend_name: str, case_name: str
) -> None:
    case = EVENT_CASES[case_name]
    for key, (data, content_type) in case.objects.items():
        backend.objects.put("uploads-staging", key, data, content_type=content_type)
        # Stored where the event says, without the upload notification firing.
        source = backend.home / "objects" / "uploads-staging" / key
        target = backend.home / "objects" / "uploads" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
        Path(str(source) + ".meta.json").replace(Path(str(target) + ".meta.json"))
    for consumer in case.consumers:
        before = len(backend.broker.dead_letters(consumer))
        outcome = EVENT_BACKENDS[backend_name](backend.ports, consumer, case.raw)
        if case.framework_refuses and outcome == "refused 400":
            continue
        assert outcome == "ack", f"{consumer}: {outcome} instead of a dead letter"
        letters = backend.broker.dead_letters(consumer)[before:]
        assert len(letters) == 1, (consumer, letters)
        assert letters[0].attempts == 1, letters[0]
        assert re.search(case.reason, letters[0].reason, re.IGNORECASE), letters[0].reason
    assert backend.broker.pending() == 0
    assert not (backend.home / "outbox").exists(), "a hostile event was mailed"
