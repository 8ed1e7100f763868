"""Throughput of the local backend on one core: events per second through broker and dispatch.

Each scenario runs in a child process pinned to one CPU (``sched_setaffinity``), on a fresh
backend in a temporary directory, and is timed from the first publish to the broker being idle
(publish, lease, decode, validate, idempotency claim, handler, complete, ack):

* **order events**: ``PaymentReceived`` events -> the notifier, three times: with the in-memory
  fake mailer (no mail I/O: the broker's own cost), the default ``.eml`` outbox mailer, and the
  SMTP mailer sending to a local relay (aiosmtpd's ``Sink`` in its own process on 127.0.0.1).
  Mail rendering (what the mailer calls: ``render_message`` for the outbox, ``to_message`` +
  smtplib's CRLF flattening for SMTP) is timed alone and set against the CPU per delivery.
* **order flow**: ``POST /orders`` -> ``OrderPlaced`` -> payments (SQLite orders, simulated
  gateway) + notifier -> ``PaymentReceived`` -> notifier; reported as orders and deliveries/s.
* **image pipeline**: 12 MP JPEG uploads (real-photograph mosaics) -> ``ImageUploaded`` ->
  thumbnailer (two renditions) + indexer, through the filesystem object store and SQLite
  index; CPU against the pure ``render_thumbnails`` of the same photos (one decode per image
  per function: the indexer reads header and bytes only).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.bench.common import (
    ROOT,
    Row,
    child_env,
    median,
    not_available,
    pin_to_one_cpu,
    python,
    run_child,
    verdict,
)

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


def _backend(home: Path, mailer: str = "outbox") -> Any:
    """A local backend; ``mailer`` is "fake" (in-memory), "outbox" (the default ``.eml``
    folder) or "smtp" (the SMTP mailer, configured from the environment like production)."""
    from functions.local.backend import LocalBackend

    if mailer == "fake":
        from tests.fakes import FakeMailer

        return LocalBackend.open(home, mailer=FakeMailer())
    return LocalBackend.open(home)  # default_mailer(): EVENTSUITE_MAILER picks outbox or smtp


def _render_seconds(mailer: str, events: list[Any]) -> float:
    """Median time to render one email the way ``mailer`` does (0 for the in-memory fake)."""
    if mailer == "fake":
        return 0.0
    from email.generator import BytesGenerator

    from shared.envelope import decode
    from shared.mail import render_message, to_message
    from shared.notifications import render

    emails = [render(decode(event)) for event in events[:200]]
    times = []
    for mail in emails:
        start = time.perf_counter()
        if mailer == "outbox":
            render_message(mail, "shop@example.test")
        else:  # what SmtpMailer + smtplib.send_message do: build, then flatten with CRLF
            BytesGenerator(io.BytesIO()).flatten(
                to_message(mail, "shop@example.test"), linesep="\r\n"
            )
        times.append(time.perf_counter() - start)
    return median(times)


def _orders_child(count: int, mailer: str) -> dict[str, Any]:
    events = _payment_events(count)
    with tempfile.TemporaryDirectory() as home:
        backend = _backend(Path(home), mailer)
        backend.consumer("notifier")  # build once outside the timing, like a warm worker
        start, cpu = time.perf_counter(), time.process_time()
        for first in range(0, count, 100):
            backend.broker.publish(events[first : first + 100])
        stats = backend.run(max_seconds=300)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        if mailer == "fake":
            mails = len(backend.ports.mailer.sent)
        elif mailer == "outbox":
            mails = len(list((Path(home) / "outbox").glob("*.eml")))
        else:  # every SMTP send either got 250 or raised (and the delivery was retried)
            mails = stats.acknowledged if stats.retried == stats.dead_lettered == 0 else -1
        backend.close()
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "render": _render_seconds(mailer, events),
        "ok": stats.acknowledged == count and mails == count,
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
        sent = len(list((Path(home) / "outbox").glob("*.eml")))
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


def _photos(count: int) -> tuple[list[bytes], str]:
    """``count`` different 12 MP JPEGs: real-photograph mosaics, or synthetic detail."""
    from tests.bench.images import mosaic, photo_directory, synthetic_detail

    folder = photo_directory()
    photos = []
    for i in range(count):
        image = (
            mosaic(4240, 2832, 100 + i, folder) if folder else synthetic_detail(4240, 2832, 100 + i)
        )
        out = io.BytesIO()
        image.save(out, "JPEG", quality=90)
        photos.append(out.getvalue())
    what = "real-photograph mosaics" if folder else "SYNTHETIC detail (scikit-image missing)"
    return photos, f"12 MP JPEG uploads (4240x2832 q90, {what})"


def _small_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.linear_gradient("L").resize((640, 480)).convert("RGB").save(out, "JPEG")
    return out.getvalue()


def _images_child(count: int) -> dict[str, Any]:
    from shared.catalog import default_catalog
    from shared.images.thumbnails import render_thumbnails

    photos, what = _photos(count)
    images = default_catalog().images
    with tempfile.TemporaryDirectory() as home:
        backend = _backend(Path(home))
        # One small upload first, through both consumers: what a process does once (imports,
        # building the functions, libvips' start) is not pipeline cost per image, and the
        # pure render below runs warm too.
        backend.upload("warm-up.jpg", _small_jpeg(), content_type="image/jpeg")
        backend.run(max_seconds=60)
        start, cpu = time.perf_counter(), time.process_time()
        for i, data in enumerate(photos):
            backend.upload(f"bench-{i}.jpg", data, content_type="image/jpeg")
        stats = backend.run(max_seconds=300)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        thumbs = [
            key
            for key in backend.objects.list_keys(backend.settings.thumbnails_bucket)
            if "warm-up" not in key
        ]
        backend.close()
        with sqlite3.connect(Path(home) / "state.db") as state:
            indexed = state.execute("SELECT COUNT(*) FROM images").fetchone()[0] - 1
    # Baseline: the pure render of the same photos (what the thumbnailer must do anyway).
    start_cpu = time.process_time()
    for data in photos:
        render_thumbnails(
            data,
            images["thumbnail_sizes"],
            max_pixels=images["max_pixels"],
            quality=images["jpeg_quality"],
        )
    render_cpu = time.process_time() - start_cpu
    return {
        "elapsed": elapsed,
        "cpu": cpu,
        "render_cpu": render_cpu,
        "ok": len(thumbs) == 2 * count and indexed == count and stats.dead_lettered == 0,
        "count": count,
        "delivered": stats.delivered,
        "thumbnails": len(thumbs),
        "indexed": indexed,
        "what": what,
    }


def main(argv: list[str]) -> None:
    """Child entry point: ``orders COUNT MAILER``, ``flow COUNT`` or ``images COUNT``."""
    cpu = pin_to_one_cpu()
    if argv[0] == "orders":
        result = _orders_child(int(argv[1]), argv[2])
    else:
        result = {"flow": _flow_child, "images": _images_child}[argv[0]](int(argv[1]))
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


@contextlib.contextmanager
def smtp_relay() -> Iterator[dict[str, str] | str]:
    """A local SMTP relay (aiosmtpd's Sink, its own process on 127.0.0.1) and the environment
    that points the default mailer at it; or the reason it cannot run."""
    if importlib.util.find_spec("aiosmtpd") is None:
        yield "aiosmtpd is not installed"
        return
    from tests.support import LOOPBACK, background_process, free_port

    port = free_port()
    command = [python(), "-m", "aiosmtpd", "-n", "-l", f"{LOOPBACK}:{port}"]
    with background_process([*command, "-c", "aiosmtpd.handlers.Sink"], port=port):
        yield child_env(
            EVENTSUITE_MAILER="smtp",
            EVENTSUITE_SMTP_HOST=LOOPBACK,
            EVENTSUITE_SMTP_PORT=str(port),
            EVENTSUITE_SMTP_STARTTLS="false",
        )


MAILERS = {
    "fake": "in-memory fake mailer (no mail I/O)",
    "outbox": "default mailer: one .eml file per mail in the outbox folder",
    "smtp": "SMTP mailer to a local relay (aiosmtpd Sink, own process, 127.0.0.1, no TLS)",
}


def _order_row(mailer: str, runs: list[dict[str, Any]], orders: int, base: float) -> Row:
    rate, wall = _rates(runs)
    ok = all(r["ok"] for r in runs)
    per_delivery = 1 / rate
    render = median([r["render"] for r in runs])
    share = render / per_delivery
    judged = mailer != "fake"
    return Row(
        "throughput",
        f"order events: PaymentReceived -> notifier, {mailer} mailer",
        "events/s on one core",
        f"{rate:,.0f}/s",
        f"same broker, fake mailer {base:,.0f}/s" if judged else "",
        f"mail rendering {share:.0%} of a delivery" if judged else "",
        "rendering < 25% of a delivery" if judged else "",
        verdict(share < 0.25 and ok) if judged else "",
        note=(
            f"{MAILERS[mailer]}; rendering {render * 1e6:,.0f} us of {per_delivery * 1e6:,.0f} "
            f"us CPU per delivery; wall clock {wall:,.0f}/s; SQLite broker (WAL) + SQLite "
            f"idempotency; {orders} events, publish until idle; "
            + ("all delivered once" if ok else "NOT all delivered: invalid run")
        ),
        data={"rate": rate, "wall_rate": wall, "render_s": render, "share": share, "ok": ok},
    )


def run(*, repeats: int, scale: float, log: Any) -> list[Row]:
    """Measure the scenarios; medians over ``repeats`` fresh processes.

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
    orders = max(200, int(2000 * scale))
    base: float | None = None
    for mailer in MAILERS:
        log(f"throughput: {orders} order events x {repeats}, {mailer} mailer")
        with contextlib.ExitStack() as stack:
            env = stack.enter_context(smtp_relay()) if mailer == "smtp" else child_env()
            if isinstance(env, str):
                rows.append(not_available("throughput", f"order events, {mailer} mailer", env))
                continue
            runs = [
                run_child(["-m", "tests.bench.throughput", "orders", str(orders), mailer], env=env)
                for _ in range(repeats)
            ]
        if base is None:
            base = median([r["count"] / r["cpu"] for r in runs])
        rows.append(_order_row(mailer, runs, orders, base))
    flows = max(100, int(400 * scale))
    log(f"throughput: {flows} order flows x {repeats}")
    runs = [run_child(["-m", "tests.bench.throughput", "flow", str(flows)]) for _ in range(repeats)]
    rate, wall = _rates(runs)
    deliveries, _ = _rates(runs, "delivered")
    ok = all(r["ok"] for r in runs)
    rows.append(
        Row(
            "throughput",
            "order flow: POST /orders -> payments -> notifier (outbox mailer)",
            "orders/s on one core",
            f"{rate:,.0f}/s",
            note=(
                f"wall clock {wall:,.0f}/s; {deliveries:,.0f} deliveries/s (3 per order); HTTP "
                "handler in process, SQLite orders and charges, simulated gateway, .eml outbox; "
                + ("every order paid and mailed twice" if ok else "NOT complete: invalid run")
            ),
            data={"rate": rate, "wall_rate": wall, "deliveries_rate": deliveries, "ok": ok},
        )
    )
    images = max(4, int(8 * scale))
    log(f"throughput: {images} 12 MP uploads x {max(1, repeats - 1)}")
    runs = [
        run_child(["-m", "tests.bench.throughput", "images", str(images)], timeout=900)
        for _ in range(max(1, repeats - 1))
    ]
    rate, wall = _rates(runs)
    ratio = median([r["cpu"] / r["render_cpu"] for r in runs])
    render_ms = median([r["render_cpu"] / r["count"] for r in runs]) * 1000
    ok = all(r["ok"] for r in runs)
    rows.append(
        Row(
            "throughput",
            "image pipeline: thumbnailer + indexer through the broker",
            "CPU vs the pure render",
            f"{ratio:.2f}x",
            f"render_thumbnails alone {render_ms:,.0f} ms/image",
            f"{rate:,.2f} images/s on one core",
            "<= 1.3x the pure render",
            verdict(ratio <= 1.3 and ok),
            note=(
                f"{runs[0]['what']}; {images} per run; wall clock {wall:,.2f}/s; thumbnailer "
                "(256 + 1024 px) + indexer per upload, filesystem object store, SQLite index; "
                + ("all renditions written and indexed" if ok else "NOT complete: invalid run")
            ),
            data={"ratio": ratio, "rate": rate, "wall_rate": wall, "ok": ok},
        )
    )
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])
