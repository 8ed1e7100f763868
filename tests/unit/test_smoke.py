"""The smoke's pieces without a stack: authentication per auth mode, outputs, mail sources,
the field-by-field comparison and the table."""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from functions.ops import smoke
from functions.ops.smoke import (
    FAIL,
    PASS,
    SKIP,
    Check,
    HeaderAuth,
    NoAuth,
    OutboxMail,
    SigV4Auth,
    SmokeError,
    SmokeReport,
    auth_for,
    checked_url,
    compare_outcomes,
    mail_source,
    object_key,
    smoke_image,
    stack_from_outputs,
    wait_for,
)
from tests.emulators import FAKE_AWS_ENV, REMOVED_AWS_ENV


def without_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, profile, role or config file; no instance metadata lookup."""
    for name in (*REMOVED_AWS_ENV, *FAKE_AWS_ENV):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.setenv(name, "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_each_root_auth_mode_gets_its_authentication(monkeypatch: pytest.MonkeyPatch) -> None:
    without_aws_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDOPERATOR")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator-secret")
    endpoint = "https://a1b2c3.execute-api.eu-west-1.amazonaws.com"
    sigv4 = auth_for("aws", "AWS_IAM", {}, endpoint=endpoint)
    assert isinstance(sigv4, SigV4Auth) and sigv4.region == "eu-west-1"
    assert sigv4.credentials.access_key == "AKIDOPERATOR"
    assert auth_for("aws", "NONE", {}) == NoAuth()
    token = {"EVENTSUITE_SMOKE_TOKEN": "t0k"}
    assert auth_for("aws", "JWT", token) == HeaderAuth("Authorization", "Bearer t0k")
    assert auth_for("gcp", "OIDC", token) == HeaderAuth("Authorization", "Bearer t0k")
    assert auth_for("azure", "entra", token) == HeaderAuth("Authorization", "Bearer t0k")
    key = {"EVENTSUITE_SMOKE_FUNCTION_KEY": "k"}
    assert auth_for("azure", "function_key", key) == HeaderAuth("x-functions-key", "k")


@pytest.mark.parametrize(
    ("cloud", "mode", "named"),
    [
        ("gcp", "OIDC", "EVENTSUITE_SMOKE_TOKEN"),
        ("azure", "entra", "EVENTSUITE_SMOKE_TOKEN"),
        ("azure", "function_key", "EVENTSUITE_SMOKE_FUNCTION_KEY"),
        ("aws", "AWS_IAM", "AWS_REGION"),
        ("aws", "magic", "unknown orders API auth mode 'magic'"),
    ],
)
def test_a_missing_credential_is_named(cloud: str, mode: str, named: str) -> None:
    with pytest.raises(SmokeError, match=named):
        auth_for(cloud, mode, {}, endpoint="http://127.0.0.1:1")


def test_a_header_value_with_a_line_break_is_refused() -> None:
    with pytest.raises(SmokeError, match="line break"):
        HeaderAuth("Authorization", "Bearer a\r\nX-Evil: 1").headers("POST", "http://x/", b"")


def test_sigv4_signs_for_execute_api_in_the_region() -> None:
    from botocore.credentials import Credentials

    auth = SigV4Auth("eu-west-1", Credentials("AKIDEXAMPLE", "secret"))
    headers = auth.headers("POST", "https://a.execute-api.eu-west-1.amazonaws.com/orders", b"{}")
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in headers["Authorization"]
    assert headers["X-Amz-Date"]


def test_an_output_missing_from_the_root_is_named() -> None:
    with pytest.raises(SmokeError, match="the gcp outputs have no 'http_endpoint_uris'"):
        stack_from_outputs(
            "gcp",
            {
                "project_id": "p",
                "dead_letter_subscriptions": {},
                "producer_topics": {},
                "uploads_topic": "u",
                "buckets": {"uploads": "u", "thumbnails": "t"},
            },
            {"EVENTSUITE_WEBHOOK_SECRET": "s", "EVENTSUITE_SMOKE_TOKEN": "t"},
            clients=object(),
        )


def test_the_webhook_secret_is_required() -> None:
    with pytest.raises(SmokeError, match="EVENTSUITE_WEBHOOK_SECRET"):
        stack_from_outputs(
            "azure",
            {
                "storage_account_name": "acct",
                "http_endpoint_urls": {"orders_api": "a", "payment_webhook": "b"},
                "orders_api_auth_mode": "function_key",
            },
            {"EVENTSUITE_SMOKE_FUNCTION_KEY": "k"},
            clients=object(),
        )


def test_mail_sources_are_parsed_and_refused_by_spec(tmp_path: Path) -> None:
    assert mail_source("none") is None
    source = mail_source(f"outbox:{tmp_path}")
    assert isinstance(source, OutboxMail) and source.messages() == []
    (tmp_path / "a.eml").write_bytes(
        b"To: ann@example.com\r\nSubject: Hi\r\nContent-Type: text/plain\r\n\r\n"
        b"line 1\r\nline 2\r\n"
    )
    [mail] = source.messages()
    assert (mail.to, mail.subject, mail.body) == ("ann@example.com", "Hi", "line 1\nline 2\n")
    for bad in ("smtp-sink:nohost", "imap:x", "outbox:"):
        with pytest.raises(SmokeError, match="--mail"):
            mail_source(bad)


def test_a_difference_between_backends_names_the_field() -> None:
    local = {
        "thumbnails": {"256.jpg": {"sha256": "aa", "width": 256}},
        "order": {"transitions": ["PLACED", "PAID", "REFUNDED"]},
        "emails": [{"subject": "Refund issued"}],
    }
    gcp = {
        "thumbnails": {"256.jpg": {"sha256": "bb", "width": 256}},
        "order": {"transitions": ["PLACED", "PAID"]},
        "emails": [{"subject": "Refund issued"}],
        "dead_letters": [],
    }
    assert compare_outcomes({"local": local, "gcp": gcp}) == [
        "dead_letters: local='<missing>' gcp=[]",
        "order.transitions.length: local=3 gcp=2",
        "thumbnails.256.jpg.sha256: local='aa' gcp='bb'",
    ]
    assert compare_outcomes({"local": local, "copy": dict(local)}) == []


def test_platform_forms_of_a_parked_upload_name_the_object_key() -> None:
    blob = "/blobServices/default/containers/uploads-1/blobs/uploads/a b.jpg"
    assert object_key(blob) == "uploads/a b.jpg"
    assert object_key("objects/uploads/a.jpg") == "uploads/a.jpg"
    assert object_key("ord_123") == "ord_123"


def test_the_uploaded_photo_is_the_same_bytes_every_time() -> None:
    assert smoke_image() == smoke_image()


def test_a_wait_names_what_it_waited_for() -> None:
    with pytest.raises(smoke._Failed, match=r"timed out after 0s waiting for the index entry"):
        wait_for("the index entry", lambda: None, timeout=0, interval=0)
    calls = iter([None, RuntimeError("flaky"), {"ok": 1}])

    def probe() -> object:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_for("it", probe, timeout=5, interval=0) == {"ok": 1}
    with pytest.raises(smoke._Failed, match=r"waiting for order 1 to be PAID; it is PLACED\Z"):
        wait_for("order 1 to be PAID", lambda: None, timeout=0, seen=lambda: "it is PLACED")


def test_the_table_has_timings_and_a_verdict() -> None:
    report = SmokeReport(
        "aws",
        "r1",
        [
            Check("upload image", PASS, 0.04, "1 bytes"),
            Check("emails", SKIP, 0.0, "no mail source"),
            Check("dead letters empty", FAIL, 0.2, "1 dead letter(s): indexer: uploads/x.jpg"),
        ],
        {},
    )
    lines = report.table().splitlines()
    assert lines[0].split() == ["CHECK", "RESULT", "SECONDS", "DETAIL"]
    assert lines[1].split()[:4] == ["upload", "image", "PASS", "0.0"]
    assert lines[-1] == "smoke aws run r1: FAIL (1 failed)"
    assert not report.passed


def test_credentials_never_go_to_a_plain_http_host_elsewhere() -> None:
    assert checked_url("https://abc.execute-api.eu-west-1.amazonaws.com/orders")
    assert checked_url("http://127.0.0.1:8085/")
    for bad in ("http://api.example.com/orders", "file:///etc/passwd", "ftp://127.0.0.1/"):
        with pytest.raises(SmokeError, match="only https, or http to this machine"):
            checked_url(bad)


def test_no_aws_credentials_is_a_setup_error_before_anything_is_uploaded(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without_aws_credentials(monkeypatch)
    endpoint = "https://a1b2c3.execute-api.eu-west-1.amazonaws.com"
    with pytest.raises(SmokeError, match=r"no AWS credentials .*\(AWS_IAM\)"):
        auth_for("aws", "AWS_IAM", {}, endpoint=endpoint)
    monkeypatch.setenv("AWS_PROFILE", "not-configured")
    with pytest.raises(SmokeError, match=r"could not be found"):
        auth_for("aws", "AWS_IAM", {}, endpoint=endpoint)
    monkeypatch.delenv("AWS_PROFILE")

    outputs = {
        "api_endpoint": endpoint,
        "http_route_authorization": {"orders_api": "AWS_IAM"},
        "uploads_bucket": "uploads-b",
        "thumbnails_bucket": "thumbs-b",
        "table_names": {"orders": "o", "index": "i"},
        "queues": {},
    }
    monkeypatch.setattr("functions.ops.targets.terraform_outputs", lambda cloud, root: outputs)
    monkeypatch.setenv("EVENTSUITE_WEBHOOK_SECRET", "s")
    runs: list[object] = []
    monkeypatch.setattr(smoke, "run_smoke", lambda *args, **kwargs: runs.append(args))
    assert smoke.main(["--backend", "aws", "--mail", "none"], io.StringIO()) == 2
    assert runs == []  # nothing uploaded, no order placed
    assert "no AWS credentials" in capsys.readouterr().err


class _Answers(BaseHTTPRequestHandler):
    """Answers every POST with the server's ``status``, ``location`` and ``body``, ``delay``
    seconds late; records requests."""

    def do_POST(self) -> None:
        server: Any = self.server
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        server.received.append(dict(self.headers))
        time.sleep(server.delay)  # a slow API, not a wait for a condition
        self.send_response(server.status)
        if server.location:
            self.send_header("Location", server.location)
        self.send_header("Content-Length", str(len(server.body)))
        self.end_headers()
        self.wfile.write(server.body)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@contextlib.contextmanager
def answering(
    status: int, location: str = "", body: bytes = b"", delay: float = 0.0
) -> Iterator[Any]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    server.status, server.location, server.received = status, location, []
    server.body, server.delay = body, delay
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_the_credentials_stay_put(status: int) -> None:
    with answering(200) as elsewhere:
        location = f"http://127.0.0.1:{elsewhere.server_port}/x"
        with answering(status, location) as orders:
            url = f"http://127.0.0.1:{orders.server_port}/orders"
            stack = SimpleNamespace(
                orders_url=url,
                auth=HeaderAuth("Authorization", "Bearer SECRET-TOKEN"),
                target=SimpleNamespace(uploads_prefix="uploads/"),
            )
            scenario = smoke._Scenario(cast(Any, stack), "r1", 5, "c@example.com", 0)
            assert not scenario.step("place order", scenario.place_order)
    [row] = scenario.checks
    assert row.status == FAIL
    assert row.detail == (
        f"POST {url} answered {status} to {location!r}; the smoke does not follow redirects"
    )
    assert len(orders.received) == 1
    assert orders.received[0]["Authorization"] == "Bearer SECRET-TOKEN"
    assert elsewhere.received == []


def test_secrets_are_not_in_repr() -> None:
    from botocore.credentials import Credentials

    header = HeaderAuth("x-functions-key", "FUNCTION-KEY")
    sigv4 = SigV4Auth("eu-west-1", Credentials("AKIDEXAMPLE", "AWS-SECRET", "SESSION-TOKEN"))
    stack = smoke.SmokeStack(
        "local",
        cast(Any, SimpleNamespace()),
        "thumbnails",
        "http://127.0.0.1:1/",
        "http://127.0.0.1:2/",
        "WEBHOOK-SECRET",
        header,
    )
    shown = repr(stack) + repr(header) + repr(sigv4)
    for secret in ("FUNCTION-KEY", "AWS-SECRET", "SESSION-TOKEN", "WEBHOOK-SECRET"):
        assert secret not in shown
    assert "x-functions-key" in shown and "eu-west-1" in shown


def test_a_request_may_get_longer_than_a_wait() -> None:
    """A self-test with short waits (a stopped consumer's must time out) still lets a slow
    orders API answer."""
    accepted = json.dumps({"order_id": "ord_1"}).encode()
    with answering(202, body=accepted, delay=0.5) as orders:
        stack = SimpleNamespace(
            orders_url=f"http://127.0.0.1:{orders.server_port}/",
            auth=NoAuth(),
            target=SimpleNamespace(uploads_prefix="uploads/"),
        )
        hurried = smoke._Scenario(cast(Any, stack), "r1", 0.1, "c@example.com", 0)
        assert not hurried.step("place order", hurried.place_order)
        assert "timed out" in hurried.checks[0].detail
        patient = smoke._Scenario(
            cast(Any, stack), "r2", 0.1, "c@example.com", 0, request_timeout=30
        )
        assert patient.step("place order", patient.place_order), patient.checks
        assert patient.order_id == "ord_1"


def test_plain_http_to_this_machine_never_goes_through_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with answering(200) as proxy, answering(202, body=b"{}") as webhook:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.server_port}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        url = f"http://127.0.0.1:{webhook.server_port}/webhooks/payments"
        assert smoke._post(url, b"{}", {"Authorization": "Bearer T"}, timeout=10) == (202, {})
    assert proxy.received == []
    assert webhook.received[0]["Authorization"] == "Bearer T"
