"""boto3 implementations of the core's ports (``shared.ports``).

Each adapter module is imported only when its adapter is first built (:func:`lazy`), so a
function never imports, nor pays the cold start of, an adapter its handlers do not use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

# One PutEvents request holds 256 KiB; event data above this (the rest is the envelope around
# it) goes to the claims bucket. Kept here so that composing a function imports no adapter.
EVENTBRIDGE_MAX_INLINE_BYTES = 256 * 1024 - 8 * 1024


def lazy(module: str, name: str) -> Callable[..., Any]:
    """A constructor that imports ``functions.aws.adapters.<module>`` when first called."""

    def construct(*arguments: Any, **keywords: Any) -> Any:
        adapter = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return adapter(*arguments, **keywords)

    return construct
