"""The Azure Functions app (Python v2 programming model): every function, from the catalog.

* one queue-triggered function per catalog consumer, named after it, on ``<consumer>-events``
  through the ``AzureWebJobsStorage`` connection (identity-based in Azure);
* one HTTP function per catalog endpoint, named after it, on the catalog path (``/orders``,
  ``/webhooks/payments``; host.json sets ``routePrefix`` to "" so the URL path is the catalog
  path, as on the other clouds) and the catalog method.

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
from functions.azure.names import STORAGE_CONNECTION, queue_name, route
from shared.catalog import ConsumerSpec, EndpointSpec, default_catalog

# Endpoints whose callers authenticate in the payload (signature), not with a function key.
ANONYMOUS_ENDPOINTS = frozenset({"payment_webhook"})
QUEUE_ARGUMENT = "msg"
HTTP_ARGUMENT = "req"

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


def register_catalog() -> None:
    """Register every catalog consumer and endpoint on ``app`` (done once, at import)."""
    catalog = default_catalog()
    for consumer in catalog.consumers.values():
        _register_consumer(consumer)
    for endpoint in catalog.endpoints.values():
        _register_endpoint(endpoint)


register_catalog()
