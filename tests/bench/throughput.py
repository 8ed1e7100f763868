"""Throughput of the local backend on one core: events per second through broker and dispatch.

Each scenario runs in a child process pinned to one CPU (``sched_setaffinity``), on a fresh
backend in a temporary directory, and is timed from the first publish to the broker being idle
(publish, lease, decode, validate, idempotency claim, handler, complete, ack):

* **order events**: ``PaymentReceived`` events -> the notifier (renders the email; the mailer is
  the in-memory fake, so no mail I/O is measured). Baseline: the same events through the same
  ``Dispatcher`` with the in-memory fakes of every port (tests/fakes.py), no broker, no SQLite:
  the difference is what the durable broker and the SQLite stores cost.
* **order flow**: ``POST /orders`` -> ``OrderPlaced`` -> payments (SQLite orders, simulated
  gateway) + notifier -> ``PaymentReceived`` -> notifier; reported as orders and deliveries/s.
* **image pipeline**: small JPEG uploads (640x480) -> ``ImageUploaded`` -> thumbnailer (two
  renditions) + indexer, through the filesystem object store.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.bench.common import ROOT, Row, median, not_available, pin_to_one_cpu, run_child, verdict

ORDER_TARGET = 2000.0


def _payment_events(count: int) -> list[Any]:
    from shared.envelope import new_event

    return [
        new_event(
            "PaymentReceived",
            {
                "order_id": f"ord_bench{i:08d}",
                "payment_id": f"pay_{i}",
                "amount": {"amount_minor": 1250 + i % 100, "currency": "EUR"},
                "customer_email": f"customer{i}@example.test",
            },
            source="urn:eventsuite:bench",
            event_id=f"bench-payment-{i}",
        )
        for i in range(count)
    ]


def _backend(home: Path) -> Any:
    from functions.local.backend import LocalBackend
    from tests.fakes import FakeMailer

    return LocalBackend.open(home, mailer=FakeMailer())


def _orders_child(count: int) -> dict[str, Any]:
    from shared.envelope import to_json_bytes
    from tests.fakes import FakeMailer

    events = _payment_events(count)
    with tempfile.TemporaryDirectory() as home:
        backend = _backend(Path(home))
        mailer: FakeMailer = backend.ports.mailer  # type: ignore[assignment]
        backend.dispatcher("notifier")  # build once outside the timing, like a warm worker
        start, cpu = time.perf_counter(), time.process_time()
        for first in range(0, count, 100):
            backend.broker.publish(events[first : first + 100])
        stats = backend.run(max_seconds=120)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        ok = stats.acknowledged == count and len(mailer.sent) == count
        backend.close()
    # Baseline: the same deliveries through the Dispatcher with in-memory fakes.
    from shared.dispatch import Dispatcher
    from shared.envelope import from_structured
    from tests.fakes import fake_ports

    bodies = [to_json_bytes(event) for event in events]
    dispatcher = Dispatcher("notifier", fake_ports())
    start, base_cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        dispatcher.deliver(lambda body=body: from_structured(body), raw=body)
    baseline, base_cpu = time.perf_counter() - start, time.process_time() - base_cpu
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "baseline": baseline,
        "baseline_cpu": base_cpu,
        "ok": ok,
        "count": count,
        "delivered": stats.delivered,
    }


def _flow_child(count: int) -> dict[str, Any]:
    body = json.dumps(
        {
            "customer": {"email": "flow@example.test", "name": "Bench"},
            "currency": "EUR",
            "items": [{"sku": "mug", "quantity": 2, "unit_price_minor": 1250}],
        }
    ).encode()
    with tempfile.TemporaryDirectory() as home:
        backend = _backend(Path(home))
        start, cpu = time.perf_counter(), time.process_time()
        statuses = [
            backend.http("orders_api", body, {"Content-Type": "application/json"}).status
            for _ in range(count)
        ]
        stats = backend.run(max_seconds=120)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        sent = len(backend.ports.mailer.sent)  # type: ignore[attr-defined]
        backend.close()
    ok = all(s == 202 for s in statuses) and sent == 2 * count
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "ok": ok,
        "count": count,
        "delivered": stats.delivered,
        "mails": sent,
    }


def _images_child(count: int) -> dict[str, Any]:
    from tests.bench.images import scene

    with tempfile.TemporaryDirectory() as home:
        backend = _backend(Path(home))
        photos = []
        for i in range(count):
            out = io.BytesIO()
            scene(640, 480, 1000 + i).save(out, "JPEG", quality=90)
            photos.append(out.getvalue())
        start, cpu = time.perf_counter(), time.process_time()
        for i, data in enumerate(photos):
            backend.upload(f"bench-{i}.jpg", data, content_type="image/jpeg")
        stats = backend.run(max_seconds=120)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        thumbs = backend.objects.list_keys(backend.settings.thumbnails_bucket)
        backend.close()
    # Baseline: the same two consumers through the Dispatcher with in-memory fakes.
    from shared.catalog import default_catalog
    from shared.dispatch import Dispatcher
    from shared.storage_events import image_uploaded
    from tests.fakes import fake_ports

    ports = fake_ports()
    prefix = default_catalog().storage["uploads_prefix"]
    events = []
    for i, data in enumerate(photos):
        key = f"{prefix}bench-{i}.jpg"
        ports.objects.put(ports.settings.uploads_bucket, key, data, content_type="image/jpeg")
        events.append(
            image_uploaded(
                bucket=ports.settings.uploads_bucket,
                key=key,
                size=len(data),
                content_type="image/jpeg",
                source="urn:eventsuite:bench",
            )
        )
    dispatchers = [Dispatcher("thumbnailer", ports), Dispatcher("indexer", ports)]
    start, base_cpu = time.perf_counter(), time.process_time()
    for event in events:
        for dispatcher in dispatchers:
            dispatcher.deliver(event)
    baseline, base_cpu = time.perf_counter() - start, time.process_time() - base_cpu
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "baseline": baseline,
        "baseline_cpu": base_cpu,
        "ok": len(thumbs) == 2 * count and stats.dead_lettered == 0,
        "count": count,
        "delivered": stats.delivered,
        "thumbnails": len(thumbs),
    }


def main(argv: list[str]) -> None:
    """Child entry point: ``orders|flow|images COUNT``."""
    cpu = pin_to_one_cpu()
    result = {"orders": _orders_child, "flow": _flow_child, "images": _images_child}[argv[0]](
        int(argv[1])
    )
    result["pinned_cpu"] = cpu
    print(json.dumps(result))


def _available() -> str | None:
    if not (ROOT / "functions/local/broker.py").exists():
        return "functions/local/broker.py does not exist yet"
    try:
        run_child(["-c", "from functions.local.backend import LocalBackend; print('{}')"])
    except Exception as exc:
        return f"the local backend does not import: {exc}"
    return None


def _rates(runs: list[dict[str, Any]], what: str = "count") -> tuple[float, float]:
    """(per CPU-second, per wall second) medians."""
    return (
        median([r[what] / r["cpu"] for r in runs]),
        median([r[what] / r["elapsed"] for r in runs]),
    )


def run(*, repeats: int, scale: float, log: Any) -> list[Row]:
    """Measure the three scenarios; medians over ``repeats`` fresh processes.

    Rates are per CPU-second of the pinned process (what one core sustains; SQLite in WAL
    mode with synchronous=NORMAL does not wait for fsync on commit, so the work is CPU-bound);
    the wall-clock rate, which other load on a shared machine lowers, is in the note.
    """
    problem = _available()
    if problem:
        return [
            not_available("throughput", name, problem)
            for name in ("order events", "order flow", "image pipeline")
        ]
    rows: list[Row] = []
    orders = max(200, int(3000 * scale))
    log(f"throughput: {orders} order events x {repeats}")
    runs = [
        run_child(["-m", "tests.bench.throughput", "orders", str(orders)]) for _ in range(repeats)
    ]
    rate, wall = _rates(runs)
    base = median([r["count"] / r["baseline_cpu"] for r in runs])
    ok = all(r["ok"] for r in runs)
    rows.append(
        Row(
            "throughput",
            "order events: PaymentReceived -> notifier",
            "events/s on one core",
            f"{rate:,.0f}/s",
            f"dispatch with in-memory fakes {base:,.0f}/s",
            f"{rate / base:.2f} of fakes",
            f">= {ORDER_TARGET:,.0f}/s",
            verdict(rate >= ORDER_TARGET and ok),
            note=(
                f"wall clock {wall:,.0f}/s; SQLite broker (WAL) + SQLite idempotency, fake "
                f"mailer; {orders} events, publish until idle; "
                + ("all delivered once" if ok else "NOT all delivered: invalid run")
            ),
            data={"rate": rate, "wall_rate": wall, "baseline_rate": base},
        )
    )
    flows = max(100, int(500 * scale))
    log(f"throughput: {flows} order flows x {repeats}")
    runs = [run_child(["-m", "tests.bench.throughput", "flow", str(flows)]) for _ in range(repeats)]
    rate, wall = _rates(runs)
    deliveries, _ = _rates(runs, "delivered")
    ok = all(r["ok"] for r in runs)
    rows.append(
        Row(
            "throughput",
            "order flow: POST /orders -> payments -> notifier",
            "orders/s on one core",
            f"{rate:,.0f}/s",
            "",
            "",
            "",
            "",
            note=(
                f"wall clock {wall:,.0f}/s; {deliveries:,.0f} deliveries/s (3 per order); HTTP "
                "handler in process, SQLite orders and charges, simulated gateway; "
                + ("every order paid and mailed twice" if ok else "NOT complete: invalid run")
            ),
            data={"rate": rate, "wall_rate": wall, "deliveries_rate": deliveries},
        )
    )
    images = max(10, int(40 * scale))
    log(f"throughput: {images} image uploads x {max(1, repeats - 1)}")
    runs = [
        run_child(["-m", "tests.bench.throughput", "images", str(images)])
        for _ in range(max(1, repeats - 1))
    ]
    rate, wall = _rates(runs)
    base = median([r["count"] / r["baseline_cpu"] for r in runs])
    ok = all(r["ok"] for r in runs)
    rows.append(
        Row(
            "throughput",
            "image pipeline: 640x480 JPEG uploads",
            "images/s on one core",
            f"{rate:,.1f}/s",
            f"dispatch with in-memory fakes {base:,.1f}/s",
            f"{rate / base:.2f} of fakes",
            "",
            "",
            note=(
                f"wall clock {wall:,.1f}/s; thumbnailer (256 + 1024 px) + indexer per upload, "
                "filesystem object store; "
                + ("all renditions written" if ok else "NOT complete: invalid run")
            ),
            data={"rate": rate, "wall_rate": wall, "baseline_rate": base},
        )
    )
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
