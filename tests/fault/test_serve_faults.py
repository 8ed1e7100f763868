"""``make serve`` under fire: the payments process SIGKILLed while it holds a claim.

``functions.local.serve`` runs every consumer and endpoint under functions-framework (gunicorn
respawns a killed worker) and the SQLite broker posts each delivery over HTTP. Orders arrive
over HTTP, some keys posted twice. The test catches the payments worker *inside* a delivery
(it SIGSTOPs the worker when the state shows a live ``payments:`` claim, checks the claim is
still held, then SIGKILLs it), so every kill lands between the claim and the completion mark;
the notifier's worker is killed at a random moment too.

The lease (15 s, ``EVENTSUITE_FAULT_LEASE``) outlives the broker's retries (0.5 s base
backoff, five attempts), the relation of the real 46 s payments lease to every backend's
retry backoff.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.ids import derived_event_id
from tests.fault.harness import fault_seed, integrity, rows
from tests.support import ROOT

pytestmark = pytest.mark.fault

LEASE = 15.0
ORDERS = 60
IN_CLAIM_KILLS = 2


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _worker_of(master: int) -> int | None:
    """The gunicorn worker serving a functions-framework master (respawned after a kill)."""
    workers = _children(master)
    return workers[0] if workers else None


@dataclass
class ServeRun:
    """What the scenario left behind."""

    home: Path
    order_ids: dict[str, str]
    declined: set[str]
    killed_claims: list[str] = field(default_factory=list)
    notifier_kills: int = 0


def _post(port: int, body: bytes, key: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def _live_payment_claims(state: Path, exclude: set[str]) -> list[str]:
    with contextlib.suppress(sqlite3.Error):
        found = rows(
            state,
            "SELECT key FROM claims WHERE state = 'in_progress' AND key LIKE 'payments:%' "
            "AND lease_expires > ?",
            (time.time(),),
        )
        return [k for (k,) in found if k not in exclude]
    return []


def _kill_inside_a_claim(state: Path, master: int, exclude: set[str]) -> str | None:
    """SIGKILL the payments worker while it holds a claim; the claim's key, or None."""
    claims = _live_payment_claims(state, exclude)
    worker = _worker_of(master)
    if not claims or worker is None:
        return None
    os.kill(worker, signal.SIGSTOP)
    still = set(_live_payment_claims(state, exclude)) & set(claims)
    if still:
        os.kill(worker, signal.SIGKILL)
        return sorted(still)[0]
    os.kill(worker, signal.SIGCONT)
    return None


@contextlib.contextmanager
def serve(home: Path) -> Iterator[dict[str, Any]]:
    """``make serve`` on free ports; stopped with SIGTERM (it stops its children)."""
    log = (home.parent / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fault.serve_launcher", str(home)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "EVENTSUITE_FAULT_LEASE": str(LEASE)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    masters: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while not (home / "ports.json").exists():
            assert process.poll() is None, (home.parent / "serve.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "make serve did not start"
            time.sleep(0.2)
        ports = json.loads((home / "ports.json").read_text())
        masters = _children(process.pid)
        by_port = {}
        for master in masters:
            command = Path(f"/proc/{master}/cmdline").read_bytes().split(b"\0")
            by_port[int(command[command.index(b"--port") + 1])] = master
        yield {"ports": ports, "masters": by_port, "process": process}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        for master in masters:  # by PID, should serve's own cleanup have missed one
            with contextlib.suppress(ProcessLookupError):
                os.killpg(master, signal.SIGKILL)
        log.close()


def _pending(broker: Path) -> int:
    with contextlib.suppress(sqlite3.Error):
        return int(rows(broker, "SELECT COUNT(*) FROM deliveries")[0][0])
    return -1


@pytest.fixture(scope="module")
def serve_run(tmp_path_factory: pytest.TempPathFactory) -> ServeRun:
    rng = random.Random(fault_seed())
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir()
    state, broker = home / "state.db", home / "broker.db"
    run = ServeRun(home, {}, set())
    with serve(home) as started:
        orders_port = started["ports"]["endpoints"]["orders_api"]
        payments = started["masters"][started["ports"]["consumers"]["payments"]]
        notifier = started["masters"][started["ports"]["consumers"]["notifier"]]

        def orders(first: int, count: int) -> list[tuple[bytes, str]]:
            calls = []
            for n in range(first, first + count):
                declined = rng.random() < 0.15
                email = f"s{n}@decline.test" if declined else f"s{n}@example.com"
                body = json.dumps(
                    {
                        "customer": {"email": email, "name": f"S {n}"},
                        "currency": "EUR",
                        "items": [{"sku": "mug", "quantity": 1, "unit_price_minor": 990}],
                    }
                ).encode()
                key = f"serve-{n:04d}-{rng.getrandbits(32):08x}"
                if declined:
                    run.declined.add(key)
                calls += [(body, key)] * rng.choice([1, 1, 2])
            rng.shuffle(calls)
            return calls

        def post(call: tuple[bytes, str]) -> tuple[str, str]:
            return call[1], _post(orders_port, *call)["order_id"]

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(post, call) for call in orders(0, ORDERS)]
            placed = ORDERS
            deadline = time.monotonic() + 90
            while len(run.killed_claims) < IN_CLAIM_KILLS and time.monotonic() < deadline:
                key = _kill_inside_a_claim(state, payments, set(run.killed_claims))
                if key:
                    run.killed_claims.append(key)
                    time.sleep(0.5)  # gunicorn respawns the worker
                if run.notifier_kills == 0 and len(run.killed_claims) == 1:
                    worker = _worker_of(notifier)
                    if worker:
                        os.kill(worker, signal.SIGKILL)
                        run.notifier_kills += 1
                if all(f.done() for f in futures) and _pending(broker) < 5:
                    # Keep payments busy until every kill has found a claim to land in.
                    futures += [pool.submit(post, call) for call in orders(placed, 10)]
                    placed += 10
            for future in futures:
                key, order_id = future.result()
                assert run.order_ids.setdefault(key, order_id) == order_id
        deadline = time.monotonic() + 120
        while _pending(broker) != 0:
            assert time.monotonic() < deadline, f"broker not idle: {_pending(broker)}"
            time.sleep(0.5)
    assert len(run.killed_claims) == IN_CLAIM_KILLS, "never caught payments inside a claim"
    return run


def test_serve_loses_and_doubles_nothing_when_workers_are_killed(serve_run: ServeRun) -> None:
    """Every order is charged at most once and ends announced, or its delivery is parked with
    a reason (never silently lost); the databases survive the SIGKILLs."""
    state, broker = serve_run.home / "state.db", serve_run.home / "broker.db"
    orders = dict(rows(state, "SELECT order_id, status FROM orders"))
    assert sorted(orders) == sorted(set(serve_run.order_ids.values()))
    charges = [k for (k,) in rows(state, "SELECT idempotency_key FROM charges")]
    assert len(charges) == len(set(charges)) <= len(orders)
    parked = {
        event_id: reason
        for event_id, reason in rows(
            broker, "SELECT event_id, reason FROM dead_letters WHERE consumer = 'payments'"
        )
    }
    assert all(parked.values())
    outbox = {p.name.split(".")[0] for p in (serve_run.home / "outbox").glob("*.eml")}
    for key, order_id in serve_run.order_ids.items():
        placed = derived_event_id("OrderPlaced", order_id)
        outcome = "PaymentFailed" if key in serve_run.declined else "PaymentReceived"
        announced = derived_event_id(outcome, order_id) in outbox
        assert announced or placed in parked, (order_id, orders[order_id])
        assert placed in outbox, order_id  # the order confirmation itself
    assert integrity(state) == integrity(broker) == "ok"


def test_serve_parks_nothing_and_announces_every_payment_after_the_kills(
    serve_run: ServeRun,
) -> None:
    state, broker = serve_run.home / "state.db", serve_run.home / "broker.db"
    assert rows(broker, "SELECT consumer, reason FROM dead_letters") == []
    orders = dict(rows(state, "SELECT order_id, status FROM orders"))
    outbox = {p.name.split(".")[0] for p in (serve_run.home / "outbox").glob("*.eml")}
    for key, order_id in serve_run.order_ids.items():
        declined = key in serve_run.declined
        assert orders[order_id] == ("PAYMENT_FAILED" if declined else "PAID")
        outcome = "PaymentFailed" if declined else "PaymentReceived"
        assert derived_event_id(outcome, order_id) in outbox, order_id
