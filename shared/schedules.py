"""Scheduled jobs named in the catalog's ``schedules`` section, run the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.catalog import default_catalog
from shared.dispatch import resolve_handler
from shared.ports import Ports


def run_schedule(name: str, ports: Ports) -> Any:
    """Run catalog schedule ``name`` with the given ports; returns the job's report."""
    spec = default_catalog().schedule(name)
    job: Callable[[Ports], Any] = resolve_handler(spec.handler)  # type: ignore[assignment]
    return job(ports)
