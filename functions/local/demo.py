"""``make demo``: the whole system on the embedded backend, start to finish, with a summary."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from functions.local import samples
from functions.local.backend import DEMO_WEBHOOK_SECRET, LocalBackend
from functions.local.sqlite import SqliteMetadataIndex, SqliteOrderStore
from shared.orders.webhooks import SIGNATURE_HEADER, sign
from shared.ports import IndexQuery

SAMPLES: dict[str, tuple[Callable[[], bytes], str]] = {
    "harbour.jpg": (samples.jpeg_with_exif, "image/jpeg"),
    "logo.png": (samples.png_with_alpha, "image/png"),
    "animation.gif": (samples.gif_animation, "image/gif"),
    "print-cmyk.jpg": (samples.cmyk_jpeg, "image/jpeg"),
    "scan-16bit.png": (samples.png_16bit, "image/png"),
    "broken.jpg": (samples.truncated_jpeg, "image/jpeg"),
    "notes.jpg": (samples.not_an_image, "image/jpeg"),
}

ORDERS: list[tuple[str, dict[str, Any]]] = [
    (
        "demo-order-approved",
        {
            "customer": {"email": "ann@example.com", "name": "Ann"},
            "currency": "EUR",
            "items": [
                {"sku": "mug-blue", "name": "Blue mug", "quantity": 2, "unit_price_minor": 1250}
            ],
        },
    ),
    (
        "demo-order-declined",
        {
            "customer": {"email": "bob@decline.test", "name": "Bob"},
            "currency": "EUR",
            "items": [{"sku": "poster-a2", "quantity": 1, "unit_price_minor": 1900}],
        },
    ),
]


def run_demo(
    home: Path, *, fresh: bool = True, out: Callable[[str], None] = print
) -> dict[str, int]:
    """Run the scenario under ``home``; return the summary counts."""
    if fresh and home.exists():
        shutil.rmtree(home)  # a rerun starts clean, so every figure below is this run's own
    started = time.perf_counter()
    backend = LocalBackend.open(home, base_backoff=0.05)
    try:
        out(f"eventsuite demo - embedded local backend in {home}/")
        for name, (make, content_type) in SAMPLES.items():
            backend.upload(name, make(), content_type=content_type)
        out(f"  uploaded {len(SAMPLES)} images (2 of them hostile: truncated, not an image)")

        order_ids = {}
        for key, body in ORDERS:
            response = backend.http(
                "orders_api",
                json.dumps(body).encode(),
                {"Idempotency-Key": key, "Content-Type": "application/json"},
            )
            order_ids[key] = response.body["order_id"]
            out(
                f"  POST /orders ({body['customer']['email']}) -> {response.status} "
                f"{response.body.get('order_id')}"
            )
        # A client retry with the same key must not create a second order.
        retry = backend.http(
            "orders_api", json.dumps(ORDERS[0][1]).encode(), {"Idempotency-Key": ORDERS[0][0]}
        )
        out(
            f"  POST /orders retried with the same Idempotency-Key -> {retry.status} "
            f"{retry.body.get('order_id')} (same order)"
        )

        stats = backend.run(max_seconds=120)
        refund = {
            "id": "evt_demo_refund_1",
            "type": "payment.refunded",
            "data": {
                "order_id": order_ids["demo-order-approved"],
                "amount_minor": 2500,
                "currency": "EUR",
            },
        }
        refund_body = json.dumps(refund).encode()
        forged = backend.http("payment_webhook", refund_body, {SIGNATURE_HEADER: "t=1,v1=deadbeef"})
        out(f"  POST /webhooks/payments with a forged signature -> {forged.status}")
        signed = backend.http(
            "payment_webhook",
            refund_body,
            {SIGNATURE_HEADER: sign(refund_body, DEMO_WEBHOOK_SECRET, int(time.time()))},
        )
        out(f"  POST /webhooks/payments signed (refund) -> {signed.status}")
        more = backend.run(max_seconds=60)
        return _summary(
            backend, stats.delivered + more.delivered, time.perf_counter() - started, out
        )
    finally:
        backend.close()


def _summary(
    backend: LocalBackend, deliveries: int, seconds: float, out: Callable[[str], None]
) -> dict[str, int]:
    settings, objects = backend.settings, backend.objects
    thumbnails = objects.list_keys(settings.thumbnails_bucket)
    index = cast(SqliteMetadataIndex, backend.ports.index)
    documents = index.search(IndexQuery(limit=1000))
    orders = cast(SqliteOrderStore, backend.ports.orders).all()
    outbox = sorted((backend.home / "outbox").glob("*.eml"))
    dead = backend.broker.dead_letters()
    out("")
    out(f"summary ({deliveries} deliveries in {seconds:.1f}s)")
    out(f"  thumbnails: {len(thumbnails)} in {objects.root / settings.thumbnails_bucket}/")
    for key in thumbnails:
        out(f"    {key}")
    out(f"  index documents: {len(documents)} in {backend.database.path}")
    fuji = index.search(
        IndexQuery(
            camera="fujifilm", captured_from="2026-08-01", captured_to="2026-08-31", min_width=1000
        )
    )
    out(
        f"    search camera=fujifilm, August 2026, width>=1000 -> "
        f"{[d['key'] for d in fuji]} gps={fuji[0]['gps'] if fuji else None}"
    )
    out(f"  orders: {len(orders)}")
    for order in orders:
        out(
            f"    {order.order_id} {order.customer_email:<20} {order.status.value}"
            f"{' (' + order.decline_code + ')' if order.decline_code else ''}"
        )
    out(f"  emails: {len(outbox)} in {backend.home / 'outbox'}/")
    out(f"  dead letters: {len(dead)}")
    for letter in dead:
        subject = json.loads(letter.body).get("subject") if letter.body else None
        out(f"    [{letter.consumer}] {subject}: {letter.reason}")
    out(f"  pending deliveries: {backend.broker.pending()}")
    out(f"  structured logs: {backend.home.with_name(backend.home.name + '.log')}")
    if dead:
        _operator_hints(backend, out)
    return {
        "thumbnails": len(thumbnails),
        "documents": len(documents),
        "orders": len(orders),
        "emails": len(outbox),
        "dead_letters": len(dead),
        "pending": backend.broker.pending(),
    }


def _operator_hints(backend: LocalBackend, out: Callable[[str], None]) -> None:
    """How to inspect and redrive this run's dead letters (the ids are this run's own)."""
    first = backend.broker.parked(limit=1)[0]
    cli = f"eventsuite --home {backend.home}"
    out("")
    out("next: inspect and redrive the dead letters (`make dlq`; the CLI is .venv/bin/eventsuite)")
    out(f"  {cli} dlq list")
    out(f"  {cli} dlq show {first.id}")
    out(f"  {cli} dlq redrive --consumer {first.consumer} --all --dry-run")
    out(
        f"  (fix the cause, redrive without --dry-run, then deliver: "
        f"python -m functions.local --home {backend.home} run)"
    )
    out(f"  {cli} dlq purge --consumer {first.consumer} --yes")
