"""Helpers for the Azure tests: the app's registered functions and the sample events.

``FunctionApp.get_functions()`` records every name it builds and raises on a second call (the
host calls it exactly once when indexing), so tests share one result per process.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events" / "azure"


@cache
def registered() -> dict[str, Any]:
    """Function name -> ``azure.functions.decorators.function_app.Function``."""
    from functions.azure.function_app import app

    return {function.get_function_name(): function for function in app.get_functions()}


def user_function(name: str) -> Any:
    """The Python callable registered under ``name`` (what the worker invokes)."""
    return registered()[name].get_user_function()


def sample(name: str) -> bytes:
    """A captured Azure event from ``tests/events/azure``."""
    return (EVENTS / name).read_bytes()
