"""The console's pages over a real local backend (Flask's test client, no browser): every form
answers bad input with the reason on the page and a 4xx, never a stack trace, and its actions
are the operator CLI's (a redrive from the page is a redrive in the broker)."""

from __future__ import annotations

import html
import io
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.local import samples
from functions.local.backend import LocalBackend
from functions.local.console import app as console_app
from functions.local.console.app import (
    DEAD_LETTERS_SHOWN,
    ORDERS_SHOWN,
    ConsoleContext,
    _host_allowed,
    create_app,
    is_loopback,
    start_console,
)
from functions.ops import cli
from functions.ops.targets import local_target
from shared.images.metadata import image_id
from shared.ports import IndexQuery
from tests.builders import order_record
from tests.integration.operate_support import cli as run_cli


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    opened = LocalBackend.open(tmp_path / "home", base_backoff=0.0)
    yield opened
    opened.close()


@pytest.fixture
def client(backend: LocalBackend) -> FlaskClient:
    context = ConsoleContext(backend.home, backend, local_target(backend.home, backend))
    return create_app(context).test_client()


def _problems(page: str) -> list[str]:
    block = re.search(r'<div class="problems" role="alert">(.*?)</div>', page, re.S)
    assert block, "no problem shown on the page"
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", block.group(1), re.S)]


def _post(client: FlaskClient, url: str, *, data: dict[str, Any], **options: Any) -> Any:
    """A form post as the page sends it (with the console's form token)."""
    return client.post(
        url, data={**data, "token": client.application.config["FORM_TOKEN"]}, **options
    )


def _no_traceback(html: str) -> None:
    assert "Traceback" not in html and 'File "' not in html


def test_every_page_renders_on_an_empty_backend(client: FlaskClient) -> None:
    for page in ("/", "/deliveries", "/trace", "/deadletters", "/images", "/orders", "/emails"):
        response = client.get(page)
        assert response.status_code == 200, page
    catalog = html.unescape(client.get("/catalog").get_data(as_text=True))
    assert "OrderPlaced" in catalog and "version 1" in catalog and '"$schema"' in catalog
    assert "<dt>webhook secrets</dt><dd>1 configured (not shown)" in catalog
    assert "whsec_" not in catalog


def test_an_upload_is_thumbnailed_indexed_and_shown_with_its_exif(
    client: FlaskClient, backend: LocalBackend
) -> None:
    answer = _post(
        client,
        "/images/upload",
        data={"file": (io.BytesIO(samples.jpeg_with_exif()), "harbour.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200
    assert "uploaded uploads/harbour.jpg" in answer.get_data(as_text=True)
    backend.run(max_seconds=30)
    page = client.get("/images").get_data(as_text=True)
    assert "thumbnails/harbour.jpg/256.jpg" in page and "thumbnails/harbour.jpg/1024.jpg" in page
    assert "Fujifilm X-T5" in page and "38.72230, -9.13930" in page
    thumbnail = client.get("/objects/thumbnails/thumbnails/harbour.jpg/256.jpg")
    assert thumbnail.status_code == 200 and thumbnail.data[:3] == b"\xff\xd8\xff"
    assert client.get("/objects/state/../../etc/passwd").status_code == 404
    correlation = backend.ports.index.search(IndexQuery(camera="fuji"))[0]["correlation_id"]
    trace = html.unescape(client.get("/trace", query_string={"id": correlation}).get_data(True))
    timeline = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", trace))
    assert "io.eventsuite.ImageUploaded event published to 2 consumer(s)" in timeline
    assert "thumbnailer · attempt 1 acknowledged" in timeline
    assert "indexer · attempt 1 acknowledged" in timeline
    found = client.get("/images", query_string={"camera": "fuji"}).get_data(as_text=True)
    assert "harbour.jpg" in found
    assert "harbour.jpg" not in client.get("/images", query_string={"camera": "leica"}).get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"gps_box": "north,south"}, "is not SOUTH,WEST,NORTH,EAST in decimal degrees"),
        ({"gps_box": "10,0,-10,5"}, "is not a box on the globe"),
        ({"min_width": "wide"}, "minimum width must be a whole number"),
        ({"captured_from": "last tuesday"}, "is not an ISO-8601 time"),
    ],
)
def test_a_bad_search_says_why(client: FlaskClient, query: dict[str, str], reason: str) -> None:
    answer = client.get("/images", query_string=query)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert any(reason in problem for problem in _problems(html)), _problems(html)
    _no_traceback(html)


def test_a_bad_upload_says_why(client: FlaskClient) -> None:
    cases = [
        ({}, "choose an image file to upload"),
        ({"file": (io.BytesIO(b""), "empty.jpg")}, "empty.jpg is empty"),
    ]
    for data, reason in cases:
        answer = _post(client, "/images/upload", data=data, content_type="multipart/form-data")
        assert answer.status_code == 400
        assert reason in _problems(answer.get_data(as_text=True))[0]


def test_a_too_large_upload_says_the_limit(client: FlaskClient) -> None:
    client.application.config["MAX_CONTENT_LENGTH"] = 1000
    answer = _post(
        client,
        "/images/upload",
        data={"file": (io.BytesIO(b"x" * 5000), "big.jpg")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 413
    assert "the limit is 1000 bytes" in answer.get_data(as_text=True)


def test_a_dead_letter_is_redriven_and_purged_through_the_clis_operations(
    client: FlaskClient, backend: LocalBackend
) -> None:
    backend.upload("notes.jpg", samples.not_an_image(), content_type="image/jpeg")
    backend.run(max_seconds=30)
    logged = {(d.consumer, d.outcome, d.reason) for d in backend.broker.recent_deliveries()}
    reason = "not a supported image (accepted: JPEG, PNG, WEBP, GIF)"
    assert logged == {
        ("thumbnailer", "dead-lettered", reason),
        ("indexer", "dead-lettered", reason),
    }
    page = client.get("/deadletters").get_data(as_text=True)
    assert page.count('class="card deadletter"') == 2
    assert "not a supported image" in page and "&#34;key&#34;: &#34;uploads/notes.jpg&#34;" in page
    images = client.get("/images").get_data(as_text=True)
    assert re.search(r'<ul id="unindexed"><li><code>uploads/notes.jpg</code>', images)
    parked = backend.broker.parked("thumbnailer")
    answer = _post(client, "/deadletters/redrive", data={"id": parked[0].id})
    assert answer.status_code == 200
    assert f"redriven {parked[0].id} (event {parked[0].event_id}) to thumbnailer" in (
        answer.get_data(as_text=True)
    )
    assert backend.broker.pending("thumbnailer") == 1 and not backend.broker.parked("thumbnailer")
    backend.run(max_seconds=30)  # still not an image: parked again, counted as redriven once
    again = client.get("/deadletters").get_data(as_text=True)
    assert "redriven 1 time(s)" in again

    activity = client.get("/").get_data(as_text=True)
    row = re.search(r"<tr><td>thumbnailer</td>(.*?)</tr>", activity, re.S)
    assert row is not None
    cells = re.findall(r"<td>(?:<a [^>]*>)?(\d+)", row.group(1))
    # pending, acknowledged, duplicates, retries, deferred, dead-lettered, dead letters now
    assert cells == ["0", "0", "0", "0", "0", "2", "1"], cells

    unknown = _post(client, "/deadletters/redrive", data={"id": "999"})
    assert unknown.status_code == 400
    assert "999 not dead-lettered: nothing redriven" in _problems(unknown.get_data(as_text=True))

    unconfirmed = _post(client, "/deadletters/purge", data={"consumer": "indexer"})
    assert unconfirmed.status_code == 400
    assert "tick the confirmation box" in _problems(unconfirmed.get_data(as_text=True))[0]
    nobody = _post(client, "/deadletters/purge", data={"consumer": "", "confirm": "yes"})
    assert "purge needs a consumer" in _problems(nobody.get_data(as_text=True))
    stranger = _post(client, "/deadletters/purge", data={"consumer": "auditor", "confirm": "yes"})
    assert "unknown consumer 'auditor'" in _problems(stranger.get_data(as_text=True))[0]
    purged = _post(client, "/deadletters/purge", data={"consumer": "indexer", "confirm": "yes"})
    assert "purged 1 dead letters of indexer" in purged.get_data(as_text=True)
    assert not backend.broker.parked("indexer") and backend.broker.parked("thumbnailer")


def test_an_unknown_order_or_trace_says_so(client: FlaskClient) -> None:
    answer = client.get("/orders/ord_nope")
    assert answer.status_code == 404 and "no order ord_nope" in answer.get_data(as_text=True)
    trace = client.get("/trace", query_string={"id": "nobody"}).get_data(as_text=True)
    assert "no event with correlation id 'nobody' is recorded" in _problems(trace)


def test_without_the_orders_api_the_order_form_says_so(client: FlaskClient) -> None:
    answer = _post(client, "/orders", data={"email": "ann@example.com"})
    assert answer.status_code == 503
    assert _problems(answer.get_data(as_text=True)) == ["the orders API is not running"]


def test_the_live_stream_sends_each_new_delivery_once(
    client: FlaskClient, backend: LocalBackend
) -> None:
    backend.upload("a.jpg", samples.jpeg_with_exif((64, 48)), content_type="image/jpeg")
    backend.run(max_seconds=30)
    response = client.get("/deliveries/stream?after=-1", buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = response.response
    assert next(chunks).startswith(b"retry:")
    backend.upload("b.jpg", samples.jpeg_with_exif((64, 48)), content_type="image/jpeg")
    backend.run(max_seconds=30)
    received = [next(chunks).decode(), next(chunks).decode()]
    response.close()
    consumers = sorted(re.search(r'"consumer": "(\w+)"', c).group(1) for c in received)
    assert consumers == ["indexer", "thumbnailer"]
    assert all('"outcome": "acknowledged"' in c and '"attempt": 1' in c for c in received)


def test_a_cross_site_form_or_a_rebound_host_name_is_refused(
    client: FlaskClient, backend: LocalBackend
) -> None:
    """Another site open in the same browser can post to 127.0.0.1 but cannot know the form
    token; a DNS-rebound name reaches the port but is not one of this machine's names."""
    backend.upload("notes.jpg", samples.not_an_image(), content_type="image/jpeg")
    backend.run(max_seconds=30)
    forged = client.post("/deadletters/purge", data={"consumer": "indexer", "confirm": "yes"})
    assert forged.status_code == 403 and "stale form" in forged.get_data(as_text=True)
    assert backend.broker.parked("indexer"), "a forged purge must delete nothing"
    rebound = client.get("/deadletters", headers={"Host": "attacker.example:8080"})
    assert rebound.status_code == 421 and "notes.jpg" not in rebound.get_data(as_text=True)
    for name in ("127.0.0.1:8080", "localhost:8080", "[::1]:8080", "[::1]", "127.0.0.2"):
        assert client.get("/deadletters", headers={"Host": name}).status_code == 200, name
    for name in ("[::1", "[::1].attacker.example", "::1.attacker.example:80"):
        assert not _host_allowed(name, {"localhost"}), name


def test_a_reconnecting_stream_resumes_after_the_last_delivery_it_saw(
    client: FlaskClient, backend: LocalBackend
) -> None:
    backend.upload("a.jpg", samples.jpeg_with_exif((64, 48)), content_type="image/jpeg")
    backend.run(max_seconds=30)
    first, second = backend.broker.recent_deliveries()
    response = client.get("/deliveries/stream", headers={"Last-Event-ID": str(first.log_id)})
    chunks = response.response
    assert next(chunks).startswith(b"retry:")
    assert next(chunks).decode().startswith(f"id: {second.log_id}\n")
    response.close()
    from_start = client.get("/deliveries/stream?after=0")
    chunks = from_start.response
    next(chunks)
    assert next(chunks).decode().startswith(f"id: {first.log_id}\n")
    from_start.close()


def test_no_page_can_be_framed_and_an_email_loads_nothing_from_elsewhere(
    client: FlaskClient,
) -> None:
    for page in ("/", "/deliveries", "/emails", "/orders/ord_nope", "/catalog"):
        answer = client.get(page)
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy, page
        assert "img-src 'self' data:" in policy and "default-src 'self'" in policy, page
        assert answer.headers["X-Frame-Options"] == "DENY", page


def test_a_stored_object_keeps_its_sandbox_policy(
    client: FlaskClient, backend: LocalBackend
) -> None:
    backend.upload("a.jpg", samples.jpeg_with_exif((64, 48)), content_type="image/jpeg")
    answer = client.get("/objects/uploads/uploads/a.jpg")
    assert answer.status_code == 200 and answer.headers["Content-Security-Policy"] == "sandbox"


@pytest.mark.parametrize("key", ["uploads/../x.jpg", "uploads/%00.jpg", "uploads//a.jpg"])
def test_a_bad_object_key_is_not_found_not_a_failure(
    client: FlaskClient, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    answer = client.get(f"/objects/uploads/{key}")
    assert answer.status_code == 404, answer.get_data(as_text=True)
    assert not [r for r in caplog.records if r.name == "eventsuite.console"]


def test_a_form_token_that_is_not_ascii_is_refused_not_a_failure(client: FlaskClient) -> None:
    answer = client.post("/deadletters/purge", data={"consumer": "indexer", "token": "jeton-é"})
    assert answer.status_code == 403 and "stale form" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_which_bind_addresses_are_this_machine_only(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_console_on_ipv6_loopback_keeps_the_host_check_and_a_valid_url(
    backend: LocalBackend,
) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        console = start_console(backend.home, backend, host="::1", port=0, endpoint_ports={})
    except OSError as exc:
        pytest.skip(f"cannot bind ::1 here: {exc}")
    try:
        assert console.context.allowed_hosts == frozenset()
        assert console.url == f"http://[::1]:{console.port}/"
        with urllib.request.urlopen(console.url + "catalog", timeout=10) as page:
            assert page.status == 200
        rebound = urllib.request.Request(console.url, headers={"Host": "attacker.example"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound, timeout=10)
        refused.value.close()
        assert refused.value.code == 421
    finally:
        console.stop()


def test_the_orders_page_shows_the_newest_orders_when_a_status_has_more_than_it_shows(
    client: FlaskClient, backend: LocalBackend
) -> None:
    orders = backend.ports.orders
    assert orders is not None
    for n in range(ORDERS_SHOWN + 20):
        orders.create(
            order_record(
                f"ord_{n:04d}",
                customer_name=None,
                amount_minor=500,
                items=({"sku": "mug", "quantity": 1, "unit_price_minor": 500},),
                placed_at=f"2026-03-01T10:{n // 60:02d}:{n % 60:02d}.000Z",
            )
        )
    page = client.get("/orders").get_data(as_text=True)
    shown = re.findall(r'<a href="/orders/(ord_\d+)">', page)
    newest = [f"ord_{n:04d}" for n in reversed(range(20, ORDERS_SHOWN + 20))]
    assert shown == newest


def test_an_indexed_upload_is_never_listed_as_missing_from_the_index(
    client: FlaskClient, backend: LocalBackend
) -> None:
    """More indexed uploads than a search page holds (50): each is looked up in the index."""
    index = backend.ports.index
    assert index is not None
    bucket = backend.settings.uploads_bucket
    for n in range(55):
        key = f"uploads/indexed-{n:02d}.jpg"
        backend.objects.put(bucket, key, b"not read", content_type="image/jpeg")
        index.put({"image_id": image_id(bucket, key), "bucket": bucket, "key": key})
    backend.objects.put(bucket, "uploads/waiting.jpg", b"not read", content_type="image/jpeg")
    page = client.get("/images").get_data(as_text=True)
    listed = re.search(r'<ul id="unindexed">(.*?)</ul>', page, re.S)
    assert listed is not None
    assert re.findall(r"<code>(.*?)</code>", listed.group(1)) == ["uploads/waiting.jpg"]
    missing = run_cli(["--home", str(backend.home), "index", "missing"])
    assert missing.code == 0 and missing.out.split() == ["uploads/waiting.jpg"]


def test_the_flow_page_streams_from_the_newest_delivery_it_rendered(
    client: FlaskClient, backend: LocalBackend
) -> None:
    """The diagram is drawn before the stream opens: deliveries in between are not lost."""
    assert "deliveries/stream?after=0'" in html.unescape(client.get("/").get_data(as_text=True))
    backend.upload("a.jpg", samples.jpeg_with_exif((64, 48)), content_type="image/jpeg")
    backend.run(max_seconds=30)
    newest = backend.broker.recent_deliveries(limit=1)[-1].log_id
    page = html.unescape(client.get("/").get_data(as_text=True))
    assert f"deliveries/stream?after={newest}'" in page


def test_a_stream_asked_to_resume_beyond_the_log_starts_from_its_newest_delivery(
    client: FlaskClient, backend: LocalBackend
) -> None:
    """A browser's Last-Event-ID from before the state was deleted is newer than the log."""
    backend.upload("a.jpg", samples.jpeg_with_exif((64, 48)), content_type="image/jpeg")
    backend.run(max_seconds=30)
    response = client.get("/deliveries/stream", headers={"Last-Event-ID": "100000"})
    chunks = response.response
    assert next(chunks).startswith(b"retry:")
    backend.upload("b.jpg", samples.jpeg_with_exif((64, 48)), content_type="image/jpeg")
    backend.run(max_seconds=30)
    received = [next(chunks).decode(), next(chunks).decode()]
    response.close()
    newest = backend.broker.recent_deliveries(limit=2)
    assert [c.split("\n", 1)[0] for c in received] == [f"id: {d.log_id}" for d in newest]


def test_stopping_the_console_ends_its_open_streams_before_the_backend_closes(
    backend: LocalBackend,
) -> None:
    console = start_console(backend.home, backend, host="127.0.0.1", port=0, endpoint_ports={})
    streams = console.context.streams
    try:
        answer = urllib.request.urlopen(console.url + "deliveries/stream", timeout=10)
        assert answer.readline() == b"retry: 2000\n"
        deadline = time.monotonic() + 5
        while streams.open != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert streams.open == 1
    finally:
        started = time.monotonic()
        console.stop()
    assert streams.open == 0 and time.monotonic() - started < 3
    assert answer.read() in (b"", b"\n")  # the stream ended: end of the response
    answer.close()


def test_an_upload_is_typed_from_its_name_as_the_cli_does(
    client: FlaskClient, backend: LocalBackend
) -> None:
    answer = _post(
        client,
        "/images/upload",
        data={"file": (io.BytesIO(samples.jpeg_with_exif((64, 48))), "x.jpg", "text/html")},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200
    stored = backend.objects.get(backend.settings.uploads_bucket, "uploads/x.jpg")
    assert stored.content_type == "image/jpeg"


def test_dead_letters_are_counted_and_traced_beyond_the_first_page(
    client: FlaskClient, backend: LocalBackend
) -> None:
    def park(n: int, correlation: str) -> None:
        event = {
            "specversion": "1.0",
            "id": f"evt-{n}",
            "type": "io.eventsuite.ImageUploaded",
            "source": "/tests",
            "correlationid": correlation,
            "data": {"key": f"uploads/{n}.jpg"},
        }
        backend.broker.dead_letter(
            consumer="indexer", event=event, raw=None, reason="not an image", attempts=5
        )

    for n in range(DEAD_LETTERS_SHOWN + 50):
        park(n, "corr-bulk")
    park(9999, "corr-late")  # newer than the first page of every list
    total = DEAD_LETTERS_SHOWN + 51
    page = client.get("/deadletters").get_data(as_text=True)
    assert f'<span class="badge">{total}</span>' in page
    assert f"The oldest {DEAD_LETTERS_SHOWN} of {total} are shown" in page
    activity = client.get("/").get_data(as_text=True)
    row = re.search(r"<tr><td>indexer</td>(.*?)</tr>", activity, re.S)
    assert row is not None and re.findall(r"<td>(?:<a [^>]*>)?(\d+)", row.group(1))[-1] == str(
        total
    )
    assert cli.count_dead_letters(local_target(backend.home, backend))["indexer"] == total
    found = cli.find_dead_letters(
        local_target(backend.home, backend), correlation_id="corr-late", limit=5
    )
    assert [m.event_id for m in found] == ["evt-9999"]
    trace = client.get("/trace", query_string={"id": "corr-late"}).get_data(as_text=True)
    assert f"dead letter {found[0].id}" in trace and trace.count("dead letter ") == 1
    listed = run_cli(
        ["--home", str(backend.home), "--json", "dlq", "list", "--correlation-id", "corr-late"]
    )
    assert [m["event_id"] for m in json.loads(listed.out)] == ["evt-9999"]


def test_a_closed_tab_ends_its_stream_at_the_next_heartbeat(
    backend: LocalBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_app, "STREAM_HEARTBEAT_SECONDS", 0.2)
    console = start_console(backend.home, backend, host="127.0.0.1", port=0, endpoint_ports={})
    streams = console.context.streams
    try:
        with socket.create_connection(("127.0.0.1", console.port), timeout=10) as tab:
            tab.sendall(b"GET /deliveries/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            received = b""
            while b"retry: 2000" not in received:
                chunk = tab.recv(4096)
                assert chunk, received
                received += chunk
            assert streams.open == 1
        deadline = time.monotonic() + 10
        while streams.open and time.monotonic() < deadline:
            time.sleep(0.1)
        assert streams.open == 0, "the stream of a closed tab kept running"
    finally:
        console.stop()
