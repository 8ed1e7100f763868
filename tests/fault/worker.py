"""A fault-injecting worker process for the fault suite (test code: production has no hooks).

``python -m tests.fault.worker CONFIG_JSON`` opens the embedded local backend on a shared home
and delivers from its SQLite broker like any worker, through the production runtime, but over
ports wrapped in :class:`Faulty` proxies that

* raise an injected ``TransientError`` before a side effect (only at early attempts, so a
  fault alone never exhausts a delivery's attempts: any dead letter is a false one);
* SIGKILL their own process at one armed kill point (inside a handler before or after a side
  effect, between an order's transition and its announcement, between the handler and the
  completion mark);
* append what really happened to a journal (one line per side effect, written after it
  returned; ``begin`` before each delivery and ``kill`` before each self-kill), which the test
  reads to count charges, transitions, announcements and emails.

Writes go to the kernel with ``os.write`` on an ``O_APPEND`` descriptor, so a SIGKILL never
loses a journal line already written.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from functions.common.runtime import Runtime
from functions.local.backend import LocalBackend
from shared.errors import TransientError
from shared.ports import Settings

# Kill points, named after the window they open. ``before:<op>`` kills inside the handler
# before the side effect; ``after:<op>`` right after it returned (the side effect is durable,
# nothing after it ran); ``before:complete`` after the handler, before the completion mark.
KILL_POINTS = (
    "before:charge",
    "after:charge",
    "after:transition",
    "before:publish",
    "after:publish",
    "after:send",
    "before:complete",
    "after:put",
)


@dataclass
class WorkerConfig:
    """What the test tells one worker process (JSON on the command line)."""

    home: str
    journal: str
    seed: str
    lease_seconds: float = 2.0
    visibility_timeout: float = 3.0
    base_backoff: float = 0.05
    batch_size: int = 4
    transient_rate: float = 0.05
    transient_max_attempt: int = 2
    kill_point: str | None = None
    kill_after: int = 0  # fire at the n-th call of the kill point (0: the first)
    kill_consumer: str | None = None
    slow_point: str | None = None  # a point (``before:charge``) where the handler dawdles
    slow_seconds: float = 0.0
    stop_file: str | None = None
    webhook_secret: str = "whsec_local_demo_only"


class Journal:
    """Append-only lines on an ``O_APPEND`` descriptor (atomic for short lines)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.pid = os.getpid()

    def write(self, *fields: object) -> None:
        """One line: ``pid field field ...``."""
        line = " ".join(str(f) for f in (self.pid, *fields)) + "\n"
        os.write(self.fd, line.encode())


class Faults:
    """The worker's fault plan and the delivery it is working on."""

    def __init__(self, config: WorkerConfig, journal: Journal) -> None:
        self.config = config
        self.journal = journal
        self.random = random.Random(config.seed)
        self.consumer = ""
        self.event_id = ""
        self.attempt = 1
        self.kill_calls = 0
        self.lock = threading.Lock()

    def point(self, name: str) -> None:
        """Maybe dawdle or die here (the armed kill point, at its n-th call)."""
        config = self.config
        if name == config.slow_point:
            time.sleep(config.slow_seconds)
        if name != config.kill_point:
            return
        if config.kill_consumer and config.kill_consumer != self.consumer:
            return
        with self.lock:
            self.kill_calls += 1
            fire = self.kill_calls > config.kill_after
        if fire:
            self.journal.write("kill", name, self.consumer, self.event_id, self.attempt)
            os.kill(os.getpid(), signal.SIGKILL)

    def transient(self, operation: str) -> None:
        """Maybe fail this side effect before it happens (early attempts only)."""
        config = self.config
        if self.attempt <= config.transient_max_attempt and (
            self.random.random() < config.transient_rate
        ):
            self.journal.write("transient", operation, self.consumer, self.event_id, self.attempt)
            raise TransientError(f"injected transient fault before {operation}")


class Faulty:
    """A port proxy: every method passes through; the listed ones get faults and a journal."""

    def __init__(self, target: Any, faults: Faults, operations: dict[str, str]) -> None:
        self._target = target
        self._faults = faults
        self._operations = operations  # method name -> operation name in the journal

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        operation = self._operations.get(name)
        if operation is None or not callable(value):
            return value
        faults = self._faults

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if operation != "complete":
                faults.transient(operation)
            faults.point(f"before:{operation}")
            result = value(*args, **kwargs)
            for line in _journal_lines(operation, args, kwargs, result):
                faults.journal.write(*line)
            faults.point(f"after:{operation}")
            return result

        return wrapped


def _journal_lines(
    operation: str, args: tuple[Any, ...], kwargs: dict[str, Any], result: Any
) -> list[tuple[object, ...]]:
    if operation == "charge":
        return [
            ("charge", kwargs["idempotency_key"], "approved" if result.approved else "declined")
        ]
    if operation == "transition":
        if not result:
            return []
        order_id = args[0] if args else kwargs["order_id"]
        return [("transition", order_id, kwargs["to_status"].value)]
    if operation == "publish":
        return [("publish", str(e["type"]), str(e["id"])) for e in args[0]]
    if operation == "send":
        return [("send", args[0].message_id.strip("<>"))]
    if operation == "put":
        return [("put", args[0], args[1])]
    if operation == "create":
        stored, created = result
        return [("create", stored.order_id, int(created))]
    return []


def faulty_backend(config: WorkerConfig, journal: Journal) -> tuple[LocalBackend, Faults]:
    """The local backend with every side-effecting port wrapped in a :class:`Faulty` proxy."""
    settings = Settings(
        webhook_secrets=(config.webhook_secret,), idempotency_lease_seconds=config.lease_seconds
    )
    backend = LocalBackend.open(
        Path(config.home), base_backoff=config.base_backoff, settings=settings
    )
    backend.broker.visibility_timeout = config.visibility_timeout
    faults = Faults(config, journal)
    ports = backend.ports
    wrapped = replace(
        ports,
        orders=Faulty(ports.orders, faults, {"transition": "transition", "create": "create"}),
        payments=Faulty(ports.payments, faults, {"charge": "charge"}),
        publisher=Faulty(ports.publisher, faults, {"publish": "publish"}),
        mailer=Faulty(ports.mailer, faults, {"send": "send"}),
        objects=Faulty(ports.objects, faults, {"put": "put"}),
        idempotency=Faulty(ports.idempotency, faults, {"complete": "complete"}),
    )
    backend.ports = wrapped
    backend.runtime = Runtime(wrapped)
    deliver = backend.deliver_in_process

    def deliver_with_faults(message: Any, *args: Any, **kwargs: Any) -> Any:
        faults.consumer, faults.event_id = message.consumer, message.event_id
        faults.attempt = message.attempt
        journal.write("begin", message.consumer, message.event_id, message.attempt)
        result = deliver(message, *args, **kwargs)
        journal.write("end", message.consumer, message.event_id, message.attempt)
        return result

    backend.deliver_in_process = deliver_with_faults  # type: ignore[method-assign]
    return backend, faults


def main(argv: list[str]) -> int:
    """Deliver until the stop file appears (or forever)."""
    config = WorkerConfig(**json.loads(argv[0]))
    journal = Journal(config.journal)
    backend, _ = faulty_backend(config, journal)
    journal.write("start", config.seed, config.kill_point)
    stop = Path(config.stop_file) if config.stop_file else None
    while stop is None or not stop.exists():
        stats = backend.broker.run_until_idle(
            backend.deliver_in_process, max_seconds=1.0, batch_size=config.batch_size
        )
        if stats.delivered == 0:
            time.sleep(0.05)
    backend.close()
    journal.write("exit")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
