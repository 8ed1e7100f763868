"""Cloud Functions (gen2) entry points, served by functions-framework.

* ``handle_event`` (CloudEvent signature) - one deployment per catalog consumer, named by
  ``EVENTSUITE_CONSUMER``; fed by a Pub/Sub push subscription, Eventarc, or direct posts.
* ``handle_http`` (HTTP signature) - one deployment per catalog endpoint, named by
  ``EVENTSUITE_ENDPOINT`` (``orders_api``, ``payment_webhook``).
* ``handle_schedule`` (HTTP signature) - one deployment per catalog schedule, named by
  ``EVENTSUITE_SCHEDULE`` (``order_reconciler``); Cloud Scheduler POSTs to it on the catalog's
  ``every_minutes`` with an OIDC token. 200 with the job's report as JSON, 500 on failure
  (Cloud Scheduler retries).

The deployment zip has this file at its root as ``main.py`` (Cloud Functions loads
``main.py`` from the source root), next to ``functions/`` and ``shared/``; every import here
is absolute so it works from both places. Locally:
``python -m functions_framework --source functions/gcp/main.py --target handle_http``.

The role is read from the environment when the module is loaded (each function instance
serves one role); ports are built on the first invocation. See
:mod:`functions.gcp.entrypoint` for what is accepted and how failures are handled.
"""

from __future__ import annotations

import os
from typing import Any

import functions_framework

from functions.gcp import entrypoint
from shared.observability import configure_logging

if os.environ.get("K_SERVICE"):  # on Cloud Run / Cloud Functions: JSON lines for Cloud Logging
    configure_logging()


def _install_push_middleware() -> None:
    """functions-framework loads this file inside its Flask app's context: let attribute-only
    Pub/Sub push messages reach ``handle_event`` (see ``complete_attribute_only_push``)."""
    import flask

    if flask.has_app_context():
        app = flask.current_app._get_current_object()  # type: ignore[attr-defined]
        if not isinstance(app.wsgi_app, entrypoint.AttributeOnlyPushMiddleware):
            app.wsgi_app = entrypoint.AttributeOnlyPushMiddleware(app.wsgi_app)


_install_push_middleware()

CONSUMER = os.environ.get("EVENTSUITE_CONSUMER", "")
ENDPOINT = os.environ.get("EVENTSUITE_ENDPOINT", "")
SCHEDULE = os.environ.get("EVENTSUITE_SCHEDULE", "")


def _role(value: str, variable: str) -> str:
    name = value or os.environ.get(variable, "")
    if not name:
        raise RuntimeError(f"{variable} is not set: this deployment does not know its role")
    return name


@functions_framework.cloud_event
def handle_event(cloud_event: Any) -> None:
    """A Pub/Sub, Eventarc or direct CloudEvent for this consumer (500 = redeliver)."""
    entrypoint.handle_event(cloud_event, _role(CONSUMER, "EVENTSUITE_CONSUMER"))


@functions_framework.http
def handle_http(request: Any) -> tuple[bytes, int, dict[str, str]]:
    """An HTTP request for this endpoint."""
    return entrypoint.handle_http(request, _role(ENDPOINT, "EVENTSUITE_ENDPOINT"))


@functions_framework.http
def handle_schedule(request: Any) -> tuple[bytes, int, dict[str, str]]:
    """Cloud Scheduler's POST: run this catalog schedule once (500 = Cloud Scheduler retries)."""
    return entrypoint.handle_schedule(request, _role(SCHEDULE, "EVENTSUITE_SCHEDULE"))
