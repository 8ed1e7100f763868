"""Shared fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from shared.ports import Ports
from tests.builders import image_event, order_v1, order_v2
from tests.fakes import fake_ports

# The data builders moved to tests/builders.py; these names stay importable from here so that
# tests written against the old location keep working (import them from tests.builders).
__all__ = ["image_event", "order_v1", "order_v2", "ports"]

# Emulators started once per session, shared by tests/contract and tests/integration.
pytest_plugins = ["tests.emulators"]


@pytest.fixture
def ports() -> Ports:
    """A complete set of in-memory fake ports."""
    return fake_ports()


def pytest_report_header(config: Any) -> str:
    """The fault suite's seed and size, so that any run can be replayed (tests/fault)."""
    from tests.fault.harness import fault_seed, fault_size

    return (
        f"fault suite: EVENTSUITE_FAULT_SEED={fault_seed()} "
        f"EVENTSUITE_FAULT_ORDERS={fault_size(0) or 'default'} (set them to replay a run)"
    )
