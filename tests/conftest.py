"""Shared fixtures."""

from __future__ import annotations

import pytest

from shared.ports import Ports
from tests.fakes import fake_ports

# Emulators started once per session, shared by tests/contract and tests/integration.
pytest_plugins = ["tests.emulators"]


@pytest.fixture
def ports() -> Ports:
    """A complete set of in-memory fake ports."""
    return fake_ports()
