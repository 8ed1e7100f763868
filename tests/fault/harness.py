"""Fault-suite harness: worker processes on one shared home, a supervisor that restarts them
after every SIGKILL, and the journal they write (see :mod:`tests.fault.worker`)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.fault.worker import KILL_POINTS, WorkerConfig
from tests.support import ROOT

DEFAULT_SEED = 20261207
# Which consumer each kill point is armed for (the one whose handler reaches it).
KILL_CONSUMERS = {
    "before:charge": "payments",
    "after:charge": "payments",
    "after:transition": "payments",
    "before:publish": "payments",
    "after:publish": "payments",
    "after:send": "notifier",
    "before:complete": None,  # any consumer
    "after:put": "thumbnailer",
}


def fault_seed() -> int:
    """The run's seed: ``EVENTSUITE_FAULT_SEED`` or the fixed default (printed by conftest)."""
    return int(os.environ.get("EVENTSUITE_FAULT_SEED") or DEFAULT_SEED)


def fault_size(default: int) -> int:
    """Orders per run: ``EVENTSUITE_FAULT_ORDERS`` (``make fault`` raises it) or ``default``."""
    return int(os.environ.get("EVENTSUITE_FAULT_ORDERS") or default)


@dataclass
class Worker:
    """One running worker process and the plan it was started with."""

    process: subprocess.Popen[bytes]
    config: WorkerConfig


@dataclass
class Supervisor:
    """Keeps ``count`` workers running on ``home``; each generation may carry one kill plan."""

    home: Path
    seed: int
    count: int = 3
    planned_kills: int = 0
    points: tuple[str, ...] = KILL_POINTS  # the kill points the planned kills rotate through
    base: dict[str, Any] = field(default_factory=dict)
    workers: list[Worker] = field(default_factory=list)
    generation: int = 0
    kills_fired: int = 0
    restarts: int = 0
    deaths: list[tuple[int, int | None]] = field(default_factory=list)  # (pid, returncode)

    def __post_init__(self) -> None:
        self.random = random.Random(f"supervisor:{self.seed}")
        self.journal_path = self.home / "journal.log"
        self.stop_file = self.home / "stop"
        self.home.mkdir(parents=True, exist_ok=True)
        self._plans = [self.points[i % len(self.points)] for i in range(self.planned_kills)]
        self.random.shuffle(self._plans)
        self._journal_fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def _config(self) -> WorkerConfig:
        self.generation += 1
        point = self._plans.pop() if self._plans else None
        return WorkerConfig(
            **{
                "home": str(self.home),
                "journal": str(self.journal_path),
                "seed": f"{self.seed}:{self.generation}",
                "stop_file": str(self.stop_file),
                **self.base,
                "kill_point": point,
                "kill_consumer": KILL_CONSUMERS.get(point) if point else None,
                "kill_after": self.random.randrange(0, 8) if point else 0,
            }
        )

    def start(self, config: WorkerConfig | None = None) -> Worker:
        """Start one worker process (its own session: killed by PID, never by name)."""
        config = config or self._config()
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fault.worker", json.dumps(asdict(config))],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        worker = Worker(process, config)
        self.workers.append(worker)
        return worker

    def __enter__(self) -> Supervisor:
        for _ in range(self.count):
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def tend(self) -> None:
        """Replace every worker that died (the SIGKILLs) with a fresh generation."""
        for worker in list(self.workers):
            code = worker.process.poll()
            if code is None:
                continue
            self.workers.remove(worker)
            self.deaths.append((worker.process.pid, code))
            stderr = ""
            if worker.process.stderr:
                stderr = worker.process.stderr.read().decode(errors="replace")
                worker.process.stderr.close()
            if code != -signal.SIGKILL:
                raise AssertionError(f"worker {worker.process.pid} exited with {code}:\n{stderr}")
            self.kills_fired += 1
            if not self.stop_file.exists():
                self.restarts += 1
                self.start()

    def kill_one_at_random(self) -> int | None:
        """SIGKILL a random live worker at whatever it is doing; journal it."""
        live = [w for w in self.workers if w.process.poll() is None]
        if not live:
            return None
        victim = self.random.choice(live)
        os.write(self._journal_fd, f"{victim.process.pid} external-kill\n".encode())
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait(timeout=10)
        return victim.process.pid

    def stop(self) -> None:
        """Ask every worker to finish, then kill by PID whatever did not."""
        self.stop_file.touch()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(worker.process.pid, signal.SIGKILL)
                worker.process.wait(timeout=5)
            if worker.process.stderr:
                worker.process.stderr.close()
        self.workers.clear()
        os.close(self._journal_fd)


@dataclass
class JournalView:
    """What the workers' journal says happened."""

    lines: list[list[str]]

    @classmethod
    def read(cls, path: Path) -> JournalView:
        """Parse every complete line (a line cut by a SIGKILL mid-write is ignored)."""
        text = path.read_text() if path.exists() else ""
        return cls([line.split(" ") for line in text.splitlines() if line])

    def of(self, kind: str) -> list[list[str]]:
        """Lines of one kind, without pid and kind."""
        return [line[2:] for line in self.lines if len(line) > 1 and line[1] == kind]

    def kills_by_event(self) -> Counter[tuple[str, str]]:
        """(consumer, event id) -> SIGKILLs that hit a worker while it delivered that event."""
        current: dict[str, tuple[str, str]] = {}
        kills: Counter[tuple[str, str]] = Counter()
        for line in self.lines:
            pid, kind = line[0], line[1]
            if kind == "begin":
                current[pid] = (line[2], line[3])
            elif kind == "end":
                current.pop(pid, None)
            elif kind in ("kill", "external-kill") and pid in current:
                kills[current[pid]] += 1
        return kills

    def count(self, kind: str, *fields: str) -> Counter[tuple[str, ...]]:
        """How often each distinct tuple of the first fields of ``kind`` lines occurs."""
        return Counter(tuple(line[: len(fields)]) for line in self.of(kind))

    def by_kind(self) -> dict[str, int]:
        """Line counts per kind (for the summary)."""
        counts: dict[str, int] = defaultdict(int)
        for line in self.lines:
            if len(line) > 1:
                counts[line[1]] += 1
        return dict(counts)


def integrity(path: Path) -> str:
    """``PRAGMA integrity_check`` of a SQLite file."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])


def rows(path: Path, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of a read query on a SQLite file."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return connection.execute(sql, parameters).fetchall()
