"""The fault suite prints its seed and size so that any failure can be replayed exactly."""

from __future__ import annotations

from typing import Any

from tests.fault.harness import fault_seed, fault_size


def pytest_report_header(config: Any) -> str:
    """One header line: how to replay this run."""
    return (
        f"fault suite: EVENTSUITE_FAULT_SEED={fault_seed()} "
        f"EVENTSUITE_FAULT_ORDERS={fault_size(0) or 'default'} "
        "(set them to replay a run; make fault FAULT_ORDERS=... FAULT_SEED=...)"
    )
