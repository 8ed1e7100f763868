"""The crash windows of issue 12, item 1, made deterministic.

The idempotency lease is realistic here (it outlives the broker's redeliveries: 10 s against
a 1 s visibility timeout and sub-second backoff, as a 46 s payments lease outlives the
clouds' retry backoffs). A retry because another attempt holds the lease must not spend the
delivery's attempts, and a state change must be announced whatever crashes.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import pytest

from functions.local.backend import DEMO_WEBHOOK_SECRET, LocalBackend
from shared.ids import derived_event_id
from shared.ports import Settings
from tests.fault.harness import JournalView, Supervisor, fault_seed, integrity, rows
from tests.fault.soak import check, soak, summary
from tests.fault.worker import WorkerConfig

pytestmark = pytest.mark.fault

LEASE = 10.0
ORDER = b'{"customer": {"email": "ann@example.com"}, "currency": "EUR", "items": [{"sku": "mug", "quantity": 1, "unit_price_minor": 1250}]}'  # noqa: E501


def _config(supervisor: Supervisor, **changes: object) -> WorkerConfig:
    config = WorkerConfig(
        home=str(supervisor.home),
        journal=str(supervisor.journal_path),
        seed=f"{supervisor.seed}:{changes.pop('name', 'w')}",
        stop_file=str(supervisor.stop_file),
        lease_seconds=LEASE,
        visibility_timeout=1.0,
        base_backoff=0.25,
        transient_rate=0.0,
    )
    return WorkerConfig(**{**asdict(config), **changes})


def _wait_for(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _idle(api: LocalBackend, supervisor: Supervisor, timeout: float) -> None:
    def quiet() -> bool:
        supervisor.tend()
        return api.broker.pending() == 0

    _wait_for(quiet, timeout, "the broker to be idle")


def _open(home: Path) -> LocalBackend:
    return LocalBackend.open(
        home,
        settings=Settings(webhook_secrets=(DEMO_WEBHOOK_SECRET,), idempotency_lease_seconds=LEASE),
    )


def _announced(home: Path, order_id: str) -> dict[str, object]:
    state, broker = home / "state.db", home / "broker.db"
    received = derived_event_id("PaymentReceived", order_id)
    return {
        "status": rows(state, "SELECT status FROM orders WHERE order_id = ?", (order_id,)),
        "dead letters": rows(broker, "SELECT consumer, attempts, reason FROM dead_letters"),
        "PaymentReceived mailed": any((home / "outbox").glob(f"{received}.*.eml")),
        "charges": rows(state, "SELECT COUNT(*) FROM charges"),
    }


def test_sigkill_between_the_transition_and_its_announcement_still_announces(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    api = _open(home)
    supervisor = Supervisor(home, fault_seed(), count=0)
    try:
        with supervisor:
            doomed = supervisor.start(
                _config(
                    supervisor,
                    name="doomed",
                    kill_point="after:transition",
                    kill_consumer="payments",
                )
            )
            order_id = api.http("orders_api", ORDER, {"Idempotency-Key": "crash-window-1"}).body[
                "order_id"
            ]
            _wait_for(lambda: doomed.process.poll() is not None, 30, "the SIGKILL")
            supervisor.start(_config(supervisor, name="survivor"))
            _idle(api, supervisor, 60)
            api.run_schedules()  # the reconciler relays whatever a crash left behind
            _idle(api, supervisor, 60)
    finally:
        api.close()
    kills = JournalView.read(supervisor.journal_path).of("kill")
    assert [k[0] for k in kills] == ["after:transition"]
    assert _announced(home, order_id) == {
        "status": [("PAID",)],
        "dead letters": [],
        "PaymentReceived mailed": True,
        "charges": [(1,)],
    }
    assert integrity(home / "state.db") == integrity(home / "broker.db") == "ok"


def test_a_duplicate_is_not_dead_lettered_while_the_lease_holder_is_still_running(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    api = _open(home)
    supervisor = Supervisor(home, fault_seed(), count=0)
    journal = supervisor.journal_path
    try:
        with supervisor:
            supervisor.start(
                _config(
                    supervisor,
                    name="slow",
                    slow_point="before:charge",
                    slow_seconds=4.0,
                    visibility_timeout=8.0,  # a live attempt keeps its message (6x timeout)
                )
            )
            _wait_for(
                lambda: "start" in journal.read_text() if journal.exists() else False, 30, "start"
            )
            response = api.http("orders_api", ORDER, {"Idempotency-Key": "duplicate-1"})
            order_id = response.body["order_id"]
            placed = derived_event_id("OrderPlaced", order_id)
            _wait_for(
                lambda: f"begin payments {placed}" in journal.read_text(), 30, "the slow claim"
            )
            supervisor.start(
                _config(supervisor, name="fast", base_backoff=0.05, visibility_timeout=8.0)
            )
            # The same key again: the API publishes the same OrderPlaced id a second time,
            # which only the fast worker can take while the slow one holds the lease.
            again = api.http("orders_api", ORDER, {"Idempotency-Key": "duplicate-1"})
            assert again.body["order_id"] == order_id
            _idle(api, supervisor, 60)
    finally:
        api.close()
    assert _announced(home, order_id) == {
        "status": [("PAID",)],
        "dead letters": [],
        "PaymentReceived mailed": True,
        "charges": [(1,)],
    }


def test_nothing_lost_when_the_lease_outlives_the_redeliveries(tmp_path: Path) -> None:
    """The soak of ``test_local_faults`` with kills inside the payments handler and a lease
    that outlives the broker's retries (the realistic relation)."""
    run = soak(
        tmp_path / "home",
        seed=fault_seed(),
        orders=200,
        images=2,
        planned_kills=4,
        external_kills=0,
        kill_points=("before:charge", "after:charge", "after:transition", "before:publish"),
        lease_seconds=LEASE,
        visibility_timeout=1.0,
        base_backoff=0.05,
        timeout=90.0,
    )
    print(summary(run))
    check(run)
