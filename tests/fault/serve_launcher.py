"""``make serve`` for the fault suite: ``functions.local.serve.serve`` itself, with its
functions-framework processes loading :mod:`tests.fault.ff_serve` (test code).

``python -m tests.fault.serve_launcher HOME`` (``EVENTSUITE_FAULT_LEASE`` in the environment).
"""

from __future__ import annotations

import sys
from pathlib import Path

from functions.local import serve

if __name__ == "__main__":
    serve.SOURCE = Path(__file__).with_name("ff_serve.py")
    sys.exit(serve.serve(Path(sys.argv[1]), base_port=0))
