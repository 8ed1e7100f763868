"""``functions/local/ff_main.py`` for the fault suite's ``make serve`` run (test code).

functions-framework loads this file by path in every consumer and endpoint process that
:mod:`tests.fault.serve_launcher` starts. It serves ``ff_main``'s own targets; only the
backend is opened with the idempotency lease the test asks for (``EVENTSUITE_FAULT_LEASE``),
so that a run can make the lease outlive the broker's redeliveries without waiting 46 s.
"""

from __future__ import annotations

import os
import sys
from functools import cache
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from functions.local import ff_main  # noqa: E402
from functions.local.backend import DEMO_WEBHOOK_SECRET, LocalBackend  # noqa: E402
from shared.observability import configure_logging  # noqa: E402
from shared.ports import Settings  # noqa: E402


@cache
def bootstrap() -> LocalBackend:
    """The process's backend, with the test's lease."""
    configure_logging()
    settings = Settings(
        webhook_secrets=(DEMO_WEBHOOK_SECRET,),
        idempotency_lease_seconds=float(os.environ["EVENTSUITE_FAULT_LEASE"]),
    )
    return LocalBackend.open(Path(os.environ["EVENTSUITE_HOME"]), settings=settings)


ff_main.bootstrap = bootstrap
handle_event = ff_main.handle_event
handle_http = ff_main.handle_http
