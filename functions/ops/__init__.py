"""The operator's command line (``eventsuite`` / ``python -m functions.ops``).

Dead letters (list, show, redrive, purge), orders (show, list by status), the image index
(search) and uploads, on the local backend and on each cloud, through the same ports the
functions use (``shared.ports``), built here from each cloud's adapters and clients; and the
smoke test of a deployed stack (``smoke.py``, ``make smoke-<backend>``).
"""
