"""The fault suite's soak: a seeded workload driven through supervised, fault-injecting
worker processes to idle, and every invariant checked on what it left (see
``test_local_faults.py``)."""

from __future__ import annotations

import io
import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from functions.local.backend import DEMO_WEBHOOK_SECRET, LocalBackend
from shared.ids import derived_event_id
from shared.orders.webhooks import SIGNATURE_HEADER, sign
from shared.ports import OrderStatus, Settings
from tests.fault.harness import JournalView, Supervisor, integrity, rows
from tests.fault.worker import KILL_POINTS


@dataclass(frozen=True)
class PlannedOrder:
    """One order the driver places: its key, body and the outcome the gateway must give."""

    key: str
    body: bytes
    declined: bool
    posts: int


def plan_orders(rng: random.Random, count: int) -> list[PlannedOrder]:
    """Orders with a seeded mix: 10 % declined cards, 40 % posted again with the same key."""
    planned = []
    for n in range(count):
        declined = rng.random() < 0.1
        email = f"c{n}@decline.test" if declined else f"c{n}@example.com"
        body = {
            "customer": {"email": email, "name": f"Customer {n}"},
            "currency": "EUR",
            "items": [
                {"sku": f"sku-{n % 7}", "quantity": rng.randint(1, 3), "unit_price_minor": 250}
            ],
        }
        posts = rng.choices([1, 2, 3], weights=[6, 3, 1])[0]
        planned.append(
            PlannedOrder(
                f"key-{n:06d}-{rng.getrandbits(32):08x}", json.dumps(body).encode(), declined, posts
            )
        )
    return planned


def tiny_png(n: int) -> bytes:
    """A distinct small PNG (fast to thumbnail)."""
    buffer = io.BytesIO()
    Image.new("RGB", (24 + n % 8, 16), (n % 256, 80, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def wait_until_idle(api: LocalBackend, supervisor: Supervisor, *, timeout: float) -> None:
    """Tend the workers until nothing is pending (twice in a row), or fail."""
    deadline = time.monotonic() + timeout
    quiet = 0
    while time.monotonic() < deadline:
        supervisor.tend()
        quiet = quiet + 1 if api.broker.pending() == 0 else 0
        if quiet >= 3:
            return
        time.sleep(0.1)
    raise AssertionError(
        f"broker not idle after {timeout}s: {api.broker.pending()} pending (seed {supervisor.seed})"
    )


@dataclass
class Run:
    """Everything a soak run leaves behind for the assertions."""

    home: Path
    orders: list[PlannedOrder]
    order_ids: dict[str, str]
    refunded: set[str]
    images: list[str]
    supervisor: Supervisor
    journal: JournalView
    seconds: float


def soak(
    home: Path,
    *,
    seed: int,
    orders: int,
    images: int,
    planned_kills: int,
    external_kills: int,
    kill_points: tuple[str, ...] = KILL_POINTS,
    lease_seconds: float,
    visibility_timeout: float,
    base_backoff: float,
    timeout: float,
) -> Run:
    """Drive one fault run to idle and return what it left."""
    rng = random.Random(seed)
    started = time.monotonic()
    settings = Settings(
        webhook_secrets=(DEMO_WEBHOOK_SECRET,), idempotency_lease_seconds=lease_seconds
    )
    api = LocalBackend.open(home, settings=settings)
    planned = plan_orders(rng, orders)
    calls = [order for order in planned for _ in range(order.posts)]
    rng.shuffle(calls)
    answers: dict[str, set[str]] = {}
    base = {
        "lease_seconds": lease_seconds,
        "visibility_timeout": visibility_timeout,
        "base_backoff": base_backoff,
        "transient_rate": 0.05,
    }
    supervisor = Supervisor(
        home, seed, count=3, planned_kills=planned_kills, points=kill_points, base=base
    )
    # At random moments while the orders pour in (about 150 a second are posted).
    kill_times = sorted(rng.uniform(0.5, 1.0 + orders / 150) for _ in range(external_kills))

    def post(order: PlannedOrder) -> tuple[str, int, dict[str, Any]]:
        response = api.http("orders_api", order.body, {"Idempotency-Key": order.key})
        return order.key, response.status, dict(response.body)

    refunded: set[str] = set()
    image_keys: list[str] = []
    uploaded: list[Any] = []
    publish = api.broker.publish

    def capture(events: Any) -> None:
        uploaded.extend(events)
        publish(events)

    api.broker.publish = capture  # type: ignore[method-assign]
    try:
        with supervisor:
            with ThreadPoolExecutor(3) as pool:
                futures = [pool.submit(post, order) for order in calls]
                for n in range(images):
                    key = api.upload(f"img-{n}.png", tiny_png(n))
                    image_keys.append(key)
                api.broker.publish = publish  # type: ignore[method-assign]
                for future in futures:
                    key, status, body = future.result()
                    assert status in (200, 202), (key, status, body)
                    answers.setdefault(key, set()).add(body["order_id"])
                    supervisor.tend()
                    while kill_times and time.monotonic() - started > kill_times[0]:
                        kill_times.pop(0)
                        supervisor.kill_one_at_random()
            # Duplicate ids: every image event published once more, as a redelivered
            # storage notification would be.
            api.broker.publish(uploaded)
            while kill_times:
                kill_times.pop(0)
                supervisor.kill_one_at_random()
                supervisor.tend()
            wait_until_idle(api, supervisor, timeout=timeout)
            # Phase 2: refunds for a tenth of the paid orders, each webhook sent twice.
            paid = sorted(answers[o.key].copy().pop() for o in planned if not o.declined)
            for order_id in rng.sample(paid, max(1, len(paid) // 10)):
                refunded.add(order_id)
                body = json.dumps(
                    {
                        "id": f"evt_refund_{order_id}",
                        "type": "payment.refunded",
                        "data": {"order_id": order_id},
                    }
                ).encode()
                for _ in range(2):
                    signature = sign(body, DEMO_WEBHOOK_SECRET, int(time.time()))
                    response = api.http("payment_webhook", body, {SIGNATURE_HEADER: signature})
                    assert response.status == 202, response.body
            wait_until_idle(api, supervisor, timeout=timeout)
    finally:
        api.close()
    order_ids = {}
    for key, ids in answers.items():
        assert len(ids) == 1, f"one Idempotency-Key, several orders: {key} -> {ids}"
        order_ids[key] = ids.pop()
    return Run(
        home,
        planned,
        order_ids,
        refunded,
        image_keys,
        supervisor,
        JournalView.read(supervisor.journal_path),
        time.monotonic() - started,
    )


def expected_emails(run: Run) -> dict[str, str]:
    """Event id -> what the notifier must have mailed for it (once, or more after a crash)."""
    expected = {}
    for order in run.orders:
        order_id = run.order_ids[order.key]
        expected[derived_event_id("OrderPlaced", order_id)] = f"OrderPlaced {order_id}"
        outcome = "PaymentFailed" if order.declined else "PaymentReceived"
        expected[derived_event_id(outcome, order_id)] = f"{outcome} {order_id}"
        if order_id in run.refunded:
            expected[derived_event_id("PaymentRefunded", order_id)] = f"refund {order_id}"
    return expected


def check(run: Run) -> None:
    """Every invariant of a fault run (see the module docstring)."""
    seed = run.supervisor.seed
    state, broker = run.home / "state.db", run.home / "broker.db"
    context = f"seed {seed}; journal {run.journal.by_kind()}"

    # Nothing pending and no false dead letter: every fault here was survivable.
    assert rows(broker, "SELECT COUNT(*) FROM deliveries") == [(0,)], context
    letters = rows(broker, "SELECT consumer, event_type, attempts, reason FROM dead_letters")
    assert letters == [], f"false dead letters: {letters[:5]} ({context})"

    # Orders: one per key, each in the state the gateway's rules give it.
    stored = dict(rows(state, "SELECT order_id, status FROM orders"))
    assert len(stored) == len(run.orders) == len(set(run.order_ids.values())), context
    for order in run.orders:
        order_id = run.order_ids[order.key]
        want = (
            OrderStatus.PAYMENT_FAILED
            if order.declined
            else OrderStatus.REFUNDED
            if order_id in run.refunded
            else OrderStatus.PAID
        )
        assert stored[order_id] == want.value, (order_id, stored[order_id], want, context)

    # Charges: exactly one per order, whatever was retried or killed.
    charges = rows(state, "SELECT idempotency_key FROM charges")
    assert sorted(k for (k,) in charges) == sorted(f"{i}:charge" for i in stored), context

    # Status transitions: never one twice (compare-and-set), and every one happened.
    transitions = run.journal.count("transition", "order", "status")
    doubled = {k: n for k, n in transitions.items() if n > 1}
    assert doubled == {}, f"doubled transitions {doubled} ({context})"

    # Payments ran every order's OrderPlaced and every refund webhook to completion.
    payments = {
        key.split(":", 1)[1]
        for (key,) in rows(state, "SELECT key FROM claims WHERE state = 'completed'")
        if key.startswith("payments:")
    }
    wanted = {derived_event_id("OrderPlaced", order_id) for order_id in stored} | {
        derived_event_id("PaymentWebhookReceived", f"evt_refund_{order_id}")
        for order_id in run.refunded
    }
    assert payments == wanted, context

    # Announcements: the notifier ran each expected event exactly once in effect (its
    # completed claims), and nothing it did not expect (no PaymentFailed for a paid order).
    expected = expected_emails(run)
    claims = {
        key.split(":", 1)[1]
        for (key,) in rows(state, "SELECT key FROM claims WHERE state = 'completed'")
        if key.startswith("notifier:")
    }
    assert claims == set(expected), (
        f"missing {sorted(set(expected) - claims)[:3]}, "
        f"unexpected {sorted(claims - set(expected))[:3]} ({context})"
    )

    # Emails: every expected one is in the outbox; a copy more only where a SIGKILL hit the
    # notifier after it sent and before it completed (the documented at-least-once window).
    outbox = {p.name.split(".")[0] for p in (run.home / "outbox").glob("*.eml")}
    assert outbox == set(expected), context
    sends = Counter(line[0].split(".")[0] for line in run.journal.of("send"))
    kills = run.journal.kills_by_event()
    beyond = {event: n for event, n in sends.items() if n > 1 + kills[("notifier", event)]}
    assert beyond == {}, f"emails sent more often than crashes explain: {beyond} ({context})"

    # Images: thumbnails and an index document for every upload.
    thumbnails = {
        p.relative_to(run.home / "objects").as_posix()
        for p in (run.home / "objects").rglob("*")
        if p.is_file() and not p.name.endswith(".meta.json")
    }
    for key in run.images:
        name = key.split("/", 1)[1]
        assert any(f"thumbnails/{name}/" in t for t in thumbnails), (key, context)
    assert rows(state, "SELECT COUNT(*) FROM images") == [(len(run.images),)], context

    # The databases survived every SIGKILL.
    assert integrity(state) == "ok" and integrity(broker) == "ok", context


def summary(run: Run) -> str:
    """One line for the log: size, faults fired, time."""
    fired = Counter(line[0] for line in run.journal.of("kill"))
    return (
        f"seed={run.supervisor.seed} orders={len(run.orders)} images={len(run.images)} "
        f"deliveries={len(run.journal.of('begin'))} transient={len(run.journal.of('transient'))} "
        f"kills={run.supervisor.kills_fired} points={dict(fired)} "
        f"armed={sorted(line[1] for line in run.journal.of('start') if line[1] != 'None')} "
        f"external={len(run.journal.of('external-kill'))} "
        f"restarts={run.supervisor.restarts} seconds={run.seconds:.1f}"
    )
