"""Whole flows on the embedded backend: the demo, duplicates, poison, claim check, hostile input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from functions.local import samples
from functions.local.backend import DEMO_WEBHOOK_SECRET, LocalBackend, broker_delivery
from functions.local.demo import run_demo
from shared.envelope import from_structured, new_event
from shared.ids import derived_event_id
from shared.orders.webhooks import SIGNATURE_HEADER, sign
from shared.ports import IndexQuery, OrderStatus
from tests.builders import order_v2
from tests.support import ROOT, start_serve, wait_for_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def backend(tmp_path: Path) -> Any:
    instance = LocalBackend.open(tmp_path / "home", base_backoff=0.01)
    yield instance
    instance.close()


def test_demo_runs_twice_with_the_same_results(tmp_path: Path) -> None:
    lines: list[str] = []
    first = run_demo(tmp_path / "demo", out=lines.append)
    second = run_demo(tmp_path / "demo", out=lambda _: None)
    assert (
        first
        == second
        == {
            "thumbnails": 10,
            "documents": 5,
            "orders": 2,
            "emails": 5,
            "dead_letters": 4,
            "pending": 0,
        }
    )
    text = "\n".join(lines)
    assert "REFUNDED" in text and "PAYMENT_FAILED (card_declined)" in text
    assert "uploads/broken.jpg: image data is corrupt or truncated" in text
    assert "with a forged signature -> 401" in text
    # It ends by showing how to inspect and redrive the dead letters, with commands that work.
    assert f"eventsuite --home {tmp_path / 'demo'} dlq list" in text
    assert f"eventsuite --home {tmp_path / 'demo'} dlq show 1" in text


def test_image_pipeline_produces_thumbnails_and_index_without_recursion(
    backend: LocalBackend,
) -> None:
    backend.upload("harbour.jpg", samples.jpeg_with_exif((1600, 1200)), content_type="image/jpeg")
    stats = backend.run(max_seconds=30)
    assert stats.delivered == 2  # thumbnailer + indexer, and nothing for the thumbnails written
    keys = backend.objects.list_keys(backend.settings.thumbnails_bucket)
    assert keys == ["thumbnails/harbour.jpg/1024.jpg", "thumbnails/harbour.jpg/256.jpg"]
    stored = backend.objects.get(backend.settings.thumbnails_bucket, keys[1])
    assert (
        stored.content_type == "image/jpeg"
        and stored.metadata["source-key"] == "uploads/harbour.jpg"
    )
    (document,) = backend.ports.index.search(IndexQuery(camera="X-T5"))
    assert document["width"] == 1200 and document["gps"]["lat"] == pytest.approx(38.7223, abs=1e-4)
    assert backend.broker.pending() == 0


def test_duplicate_delivery_is_processed_once(backend: LocalBackend) -> None:
    event = new_event("OrderPlaced", order_v2(), source="urn:test")
    backend.ports.publisher.publish([event])
    backend.ports.publisher.publish([event])  # at-least-once: the bus repeats itself
    stats = backend.run(max_seconds=30)
    assert stats.delivered == 5 and stats.acknowledged == 5  # 2 x (payments, notifier) + receipt
    assert len(list((backend.home / "outbox").glob("*.eml"))) == 2  # OrderPlaced + PaymentReceived
    assert backend.database.query("SELECT COUNT(*) FROM charges") == [(1,)]
    order = backend.ports.orders.get(order_v2()["order_id"])
    assert order.status is OrderStatus.PAID


def test_poison_event_is_dead_lettered_after_max_attempts_and_nothing_is_lost(
    backend: LocalBackend,
) -> None:
    class DownMailer:
        def send(self, email: Any) -> None:
            from shared.errors import TransientError

            raise TransientError("relay down")

    backend.ports.mailer = DownMailer()
    backend.ports.publisher.publish([new_event("OrderPlaced", order_v2(), source="urn:test")])
    stats = backend.run(max_seconds=60)
    attempts = backend.catalog.consumer("notifier").max_delivery_attempts
    notifier_letters = backend.broker.dead_letters("notifier")
    assert len(notifier_letters) == 2  # OrderPlaced and PaymentReceived mails, both parked
    reasons = {letter.event_type.rsplit(".", 1)[-1]: letter.reason for letter in notifier_letters}
    assert reasons["OrderPlaced"] == f"gave up after {attempts} attempts: relay down"
    # The payment email never overtakes the confirmation: it waited for it, then was parked.
    assert reasons["PaymentReceived"].startswith(
        f"gave up after {attempts} attempts: waiting for the OrderPlaced email"
    )
    assert all(letter.attempts == attempts for letter in notifier_letters)
    assert stats.retried == 2 * (attempts - 1)
    parked = from_structured(notifier_letters[0].body)
    assert parked.get_data()["order_id"] == order_v2()["order_id"]  # the whole event is kept
    assert backend.broker.pending() == 0
    assert backend.ports.orders.get(order_v2()["order_id"]).status is OrderStatus.PAID


def test_claim_checked_large_event_flows_through(tmp_path: Path) -> None:
    backend = LocalBackend.open(tmp_path / "home", claim_check_threshold=2048)
    try:
        items = [
            {"sku": f"sku-{i}", "quantity": 1, "unit_price_minor": 10, "name": "n" * 100}
            for i in range(30)
        ]
        body = json.dumps(
            {"customer": {"email": "ann@example.com"}, "currency": "EUR", "items": items}
        )
        response = backend.http("orders_api", body.encode())
        assert response.status == 202
        (message,) = backend.broker.receive("payments")
        envelope = json.loads(message.body)
        assert (
            envelope["dataref"].startswith("claim://claims/claims/")
            and envelope.get("data") is None
        )
        assert len(message.body) < 2048
        backend.broker.nack(message, "peeked by the test")
        time.sleep(1.3)
        backend.run(max_seconds=30)
        order = backend.ports.orders.get(response.body["order_id"])
        assert order.status is OrderStatus.PAID and len(order.items) == 30
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("bomb.png", samples.decompression_bomb(60_000_000), "pixel"),
        ("truncated.jpg", samples.truncated_jpeg(), "truncated"),
        ("report.jpg", samples.not_an_image(), "not a supported image"),
    ],
)
def test_hostile_images_are_dead_lettered_with_their_reason(
    backend: LocalBackend, name: str, data: bytes, reason: str
) -> None:
    backend.upload(name, data, content_type="image/jpeg")
    stats = backend.run(max_seconds=30)
    assert stats.retried == 0  # permanent: no retries burnt
    letters = backend.broker.dead_letters()
    assert {letter.consumer for letter in letters} == {"thumbnailer", "indexer"}
    assert all(reason in letter.reason for letter in letters)
    assert backend.objects.list_keys(backend.settings.thumbnails_bucket) == []


def test_signed_webhook_over_the_local_backend(backend: LocalBackend) -> None:
    body = json.dumps(
        {"id": "evt_x", "type": "payment.disputed", "data": {"order_id": order_v2()["order_id"]}}
    ).encode()
    backend.ports.publisher.publish([new_event("OrderPlaced", order_v2(), source="urn:t")])
    backend.run(max_seconds=30)
    ok = backend.http(
        "payment_webhook",
        body,
        {SIGNATURE_HEADER: sign(body, DEMO_WEBHOOK_SECRET, int(time.time()))},
    )
    assert ok.status == 202
    backend.run(max_seconds=30)
    assert backend.broker.dead_letters() == []


def test_serve_runs_consumers_under_functions_framework(tmp_path: Path) -> None:
    home = tmp_path / "serve"
    process, ports = start_serve(home)
    try:
        deadline = time.monotonic() + 90
        assert set(ports["consumers"]) == {"thumbnailer", "indexer", "payments", "notifier"}
        orders_port = ports["endpoints"]["orders_api"]
        wait_for_port(orders_port, timeout=30, process=process)
        body = json.dumps(
            {
                "customer": {"email": "ann@example.com"},
                "currency": "EUR",
                "items": [{"sku": "mug", "quantity": 1, "unit_price_minor": 900}],
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{orders_port}/",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        while time.monotonic() < deadline and len(list((home / "outbox").glob("*.eml"))) < 2:
            time.sleep(0.2)
        mails = sorted((home / "outbox").glob("*.eml"))
        assert len(mails) == 2
        assert any(b"Payment received" in m.read_bytes() for m in mails)
        # Every process wrote its JSON lines into one log beside the state: the request,
        # then each consumer's delivery, all with the order's correlation id.
        lines = [json.loads(line) for line in (tmp_path / "serve.log").read_text().splitlines()]
        request = next(
            line
            for line in lines
            if line.get("endpoint") == "orders_api" and line.get("method") == "POST"
        )
        assert request["status"] == 202 and request["route"] == "/orders"
        story = [line for line in lines if line.get("correlation_id") == request["correlation_id"]]
        assert {line.get("consumer") for line in story} >= {"payments", "notifier"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout:
            process.stdout.close()


def test_an_order_whose_announcement_failed_is_charged_after_the_reconciler_runs(
    tmp_path: Path,
) -> None:
    from tests.fakes import FakeClock

    clock = FakeClock(time.time())
    backend = LocalBackend.open(tmp_path / "home", clock=clock, base_backoff=0.01)
    try:

        class DownBus:
            def publish(self, events: Any) -> None:
                from shared.errors import TransientError

                raise TransientError("bus unavailable")

        real = backend.ports.publisher
        backend.ports.publisher = DownBus()
        body = json.dumps(
            {
                "customer": {"email": "ann@example.com"},
                "currency": "EUR",
                "items": [{"sku": "mug", "quantity": 1, "unit_price_minor": 900}],
            }
        ).encode()
        response = backend.http("orders_api", body)
        assert response.status == 202 and response.body["announcement"] == "deferred"
        backend.ports.publisher = real
        order_id = backend.ports.orders.all()[0].order_id
        assert backend.run(max_seconds=10).delivered == 0  # nothing was announced
        clock.advance(400)
        reports = backend.run_schedules()
        assert reports["order_reconciler"]["order_ids"] == [order_id]
        backend.run(max_seconds=30)
        assert backend.ports.orders.get(order_id).status is OrderStatus.PAID
        assert len(list((backend.home / "outbox").glob("*.eml"))) == 2
    finally:
        backend.close()


def test_the_broker_delivering_facts_out_of_order_still_mails_in_business_order(
    backend: LocalBackend,
) -> None:
    # Publish an order's facts newest first, twice: the notifier holds each email until its
    # predecessor's went out.
    order = order_v2(order_id="ord_outoforder00000000000")
    placed = new_event("OrderPlaced", order, source="urn:test")
    amount = {"amount_minor": order["total"]["amount_minor"], "currency": "EUR"}
    received = new_event(
        "PaymentReceived",
        {
            "order_id": order["order_id"],
            "payment_id": "pay_1",
            "amount": amount,
            "customer_email": "ann@example.com",
        },
        source="urn:test",
        cause=placed_event(placed),
        event_id=derived_event_id("PaymentReceived", order["order_id"]),
    )
    refunded = new_event(
        "PaymentRefunded",
        {
            "order_id": order["order_id"],
            "payment_id": "pay_1",
            "amount": amount,
            "customer_email": "ann@example.com",
        },
        source="urn:test",
        event_id=derived_event_id("PaymentRefunded", order["order_id"]),
    )
    backend.broker.publish([refunded, received, refunded, placed, received])
    deliver = backend.consumer("notifier")
    for _ in range(200):  # the notifier alone, as its own queue sees it
        messages = backend.broker.receive("notifier")
        if not messages and backend.broker.pending("notifier") == 0:
            break
        for message in messages:
            result = deliver.deliver(broker_delivery(message))
            if result is None or result.acknowledged:
                backend.broker.ack(message)
            else:
                backend.broker.nack(message, result.reason)
        time.sleep(0.01)
    mails = sorted((backend.home / "outbox").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    kinds = [
        next(line for line in p.read_text().splitlines() if line.startswith("X-Event-Type:"))
        for p in mails
    ]
    assert [k.split(": ")[1] for k in kinds] == [
        "OrderPlaced",
        "PaymentReceived",
        "PaymentRefunded",
    ]
    assert backend.broker.dead_letters("notifier") == []


def placed_event(event: Any) -> Any:
    from shared.envelope import decode

    return decode(event)


def test_each_demo_run_starts_a_fresh_log(tmp_path: Path) -> None:
    home, log = tmp_path / "demo", tmp_path / "demo.log"
    command = [sys.executable, "-m", "functions.local", "--home", str(home), "demo"]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=120)
    first = log.read_text().splitlines()
    between = time.time()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, timeout=120)
    second = log.read_text().splitlines()
    stamps = [json.loads(line)["timestamp"] for line in second]
    assert first and second
    assert min(stamps) >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(between))
