"""Shared helpers of the benchmarks: rows of the one table, medians, child processes, memory."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Row:
    """One line of the benchmark table.

    ``verdict`` is "met", "missed", "PASS", "FAIL", "n/a" or "not available"; ``note`` says
    what the baseline is or why something could not be measured.
    """

    area: str
    case: str
    metric: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    verdict: str = ""
    note: str = ""
    data: dict[str, Any] = field(default_factory=dict)


def not_available(area: str, case: str, reason: str, metric: str = "-") -> Row:
    """A row saying what could not be measured and why (never a made-up number)."""
    return Row(area, case, metric, "not available", verdict="not available", note=reason)


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    return float(statistics.median(values))


def verdict(ok: bool) -> str:
    """Target verdict word."""
    return "met" if ok else "missed"


def check(ok: bool) -> str:
    """Assert-style verdict word."""
    return "PASS" if ok else "FAIL"


def ms(seconds: float) -> str:
    """Seconds as milliseconds text."""
    return f"{seconds * 1000:.1f} ms"


def mb(size: float) -> str:
    """Bytes as MiB text."""
    return f"{size / 1048576:.1f} MB"


def python() -> str:
    """The interpreter running the benchmark (the project's virtualenv)."""
    return sys.executable


def child_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: the repository on the path, no user site."""
    env = dict(os.environ)
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env["PYTHONNOUSERSITE"] = "1"
    env.update(extra)
    return env


def run_child(
    args: Sequence[str], *, env: dict[str, str] | None = None, timeout: float = 300
) -> Any:
    """Run ``python args...`` in a fresh process and parse the JSON it prints last."""
    completed = subprocess.run(
        [python(), *args],
        cwd=ROOT,
        env=env or child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"child {' '.join(args[:3])} failed: {' | '.join(tail)}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# -- memory of the current process (Linux /proc) --------------------------------------------


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field_name} not in /proc/self/status")


def rss_bytes() -> int:
    """Current resident set size."""
    return _status_kib("VmRSS") * 1024


def peak_rss_bytes() -> int:
    """Peak resident set size (since start, or since :func:`reset_peak_rss`)."""
    return _status_kib("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5); False if not permitted."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def pin_to_one_cpu() -> int | None:
    """Pin this process to one CPU (the last one); return it, or None where unsupported."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return cpus[-1]
