"""The Azure Functions app (Python v2 programming model): every function, from the catalog.

* one queue-triggered function per catalog consumer, named after it, on ``<consumer>-events``
  through the ``AzureWebJobsStorage`` connection (identity-based in Azure);
* one HTTP function per catalog endpoint, named after it, on the catalog path (``/orders``,
  ``/webhooks/payments``; host.json sets ``routePrefix`` to "" so the URL path is the catalog
  path, as on the other clouds) and the catalog method;
* one timer-triggered function per catalog schedule, named after it, firing every
  ``every_minutes`` (NCRONTAB from ``names.timer_schedule``). ``run_on_startup`` is off (every
  instance the app scales out to would otherwise run the job as it starts) and ``use_monitor``
  on (the host keeps the schedule's last run in host storage, so a tick missed while the app
  was down or being redeployed runs once, as past due). A timer function is a singleton: one
  instance of the app runs it, whatever the scale-out.

Auth levels: ``payment_webhook`` is ANONYMOUS because the provider authenticates every call
with its HMAC signature (verified in ``shared.webhooks``; a forged call gets 401) and a
function key in its URL would only leak into the provider's dashboard. Every other endpoint is
FUNCTION (a function key in ``x-functions-key``): the orders API writes data and has no
caller authentication of its own, so it is not left open by default; put API Management or
Front Door in front of it for real customers.

This module is imported at host start-up (indexing), so it imports only ``azure.functions`` and
the catalog; the adapters and SDK clients are built on the first invocation. No
``from __future__ import annotations`` here: the worker reads the parameter annotations.
"""

import azure.functions as func

from functions.azure import entrypoint
from functions.azure.names import STORAGE_CONNECTION, queue_name, route, timer_schedule
from shared.catalog import ConsumerSpec, EndpointSpec, ScheduleSpec, default_catalog

# Endpoints whose callers authenticate in the payload (signature), not with a function key.
ANONYMOUS_ENDPOINTS = frozenset({"payment_webhook"})
QUEUE_ARGUMENT = "msg"
HTTP_ARGUMENT = "req"
TIMER_ARGUMENT = "timer"

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def auth_level(endpoint: str) -> func.AuthLevel:
    """The auth level of a catalog endpoint's HTTP function (see the module docstring)."""
    return func.AuthLevel.ANONYMOUS if endpoint in ANONYMOUS_ENDPOINTS else func.AuthLevel.FUNCTION


def _register_consumer(spec: ConsumerSpec) -> None:
    consumer = spec.name  # bound per call: each closure keeps its own consumer

    def consume(msg: func.QueueMessage) -> None:
        entrypoint.handle_queue_message(consumer, msg)

    consume.__name__ = consume.__qualname__ = f"consume_{consumer.replace('-', '_')}"
    consume.__doc__ = f"Queue-triggered consumer {consumer!r}: {spec.description}"
    trigger = app.queue_trigger(
        arg_name=QUEUE_ARGUMENT, queue_name=queue_name(consumer), connection=STORAGE_CONNECTION
    )
    app.function_name(name=consumer)(trigger(consume))


def _register_endpoint(spec: EndpointSpec) -> None:
    endpoint = spec.name

    def serve(req: func.HttpRequest) -> func.HttpResponse:
        return entrypoint.handle_http(endpoint, req)

    serve.__name__ = serve.__qualname__ = f"serve_{endpoint}"
    serve.__doc__ = f"HTTP endpoint {endpoint!r}: {spec.description}"
    trigger = app.route(
        route=route(spec.path),
        methods=[spec.method],
        auth_level=auth_level(endpoint),
        trigger_arg_name=HTTP_ARGUMENT,
    )
    app.function_name(name=endpoint)(trigger(serve))


def _register_schedule(spec: ScheduleSpec) -> None:
    schedule = spec.name

    def run(timer: func.TimerRequest) -> None:
        entrypoint.handle_timer(schedule, timer)

    run.__name__ = run.__qualname__ = f"run_{schedule.replace('-', '_')}"
    run.__doc__ = f"Timer-triggered schedule {schedule!r}: {spec.description}"
    try:
        expression = timer_schedule(spec.every_minutes)
    except ValueError as exc:
        raise ValueError(f"schedule {schedule!r}: {exc}") from exc
    trigger = app.timer_trigger(
        schedule=expression, arg_name=TIMER_ARGUMENT, run_on_startup=False, use_monitor=True
    )
    app.function_name(name=schedule)(trigger(run))


def register_catalog() -> None:
    """Register every catalog consumer, endpoint and schedule on ``app`` (once, at import)."""
    catalog = default_catalog()
    for consumer in catalog.consumers.values():
        _register_consumer(consumer)
    for endpoint in catalog.endpoints.values():
        _register_endpoint(endpoint)
    for schedule in catalog.schedules.values():
        _register_schedule(schedule)


register_catalog()
