"""Shared fixtures."""

from __future__ import annotations

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
