"""The one runtime every backend runs its functions through.

A backend contributes two small things: the dependencies (an adapter factory, see
:class:`shared.inject.Container`) and a translator from its platform's deliveries to
:class:`~shared.dispatch.Delivery` / :class:`~shared.http.HttpRequest` and back. Everything
else is here, once: the per-record batch loop with its deadline margin, the HTTP error policy
(the same failure gets the same status, problem+json body and log record on every backend),
the schedule report, and one JSON log line per delivery, request and schedule run.

Handlers are bound when their function is first built (``runtime.consumer(name)`` ...): a
handler that needs something the backend cannot provide fails then, naming what is missing,
not at its first event. :meth:`Runtime.check` does that for the whole catalog at once.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from shared.catalog import Catalog, ConsumerSpec, EndpointSpec, ScheduleSpec
from shared.dispatch import Delivery, DeliveryResult, Dispatcher, resolve_handler
from shared.errors import TransientError
from shared.http import (
    CORRELATION_HEADER,
    MAX_BODY_BYTES,
    HttpRequest,
    HttpResponse,
    problem,
    problem_for,
)
from shared.inject import Dependencies, MissingDependency, bind, check_needs
from shared.ports import DeadLetterSink

logger = logging.getLogger("eventsuite.runtime")

# Stop starting new records when less time is left than the slowest record of this invocation
# took, and never with less than this: the rest are reported as failures and redelivered,
# instead of the whole batch timing out (which would redeliver the finished records too).
DEADLINE_MARGIN_MS = 3000.0


class ConsumerFunction:
    """A catalog consumer: platform deliveries -> dispatcher -> per-record outcomes."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.name = dispatcher.spec.name

    def deliver(self, delivery: Delivery) -> DeliveryResult | None:
        """Process one delivery; None when it is not for us (acknowledged and logged)."""
        if delivery.decode is None:
            logger.info(
                "%s: ignored %s: %s",
                self.name,
                delivery.message_id,
                delivery.ignored,
                extra={"consumer": self.name, "message_id": delivery.message_id},
            )
            return None
        return self.dispatcher.deliver(delivery.decode, attempt=delivery.attempt, raw=delivery.raw)

    def run_batch(
        self,
        deliveries: Iterable[Delivery],
        time_left_ms: Callable[[], float] | None = None,
        postpone: Callable[[Delivery, float], None] | None = None,
    ) -> list[str]:
        """Process a batch record by record; return the message ids to redeliver.

        One bad record never fails the others. With ``time_left_ms`` (the platform's
        remaining invocation time), records that would probably not finish are not started:
        they are returned for redelivery. That still costs them an attempt on platforms that
        count receives (SQS), so a record is skipped only when the next one likely would not
        finish. ``postpone(delivery, seconds)`` lets the platform hold back a record that only
        waits for another attempt's lease until that lease has expired.
        """
        left = time_left_ms or (lambda: math.inf)
        failed: list[str] = []
        slowest_ms = 0.0
        for delivery in deliveries:
            before = left()
            if before < max(DEADLINE_MARGIN_MS, slowest_ms):
                failed.append(delivery.message_id)
                continue
            result = self.deliver(delivery)
            if math.isfinite(before):
                slowest_ms = max(slowest_ms, before - left())
            if result is not None and not result.acknowledged:
                failed.append(delivery.message_id)
                if result.retry_after is not None and postpone is not None:
                    postpone(delivery, result.retry_after)
        return failed


def _route_pattern(path: str) -> re.Pattern[str]:
    """``/orders/{order_id}`` -> a regex with one named group per placeholder (one segment)."""
    parts = re.split(r"(\{[a-z_]+\})", path)
    regex = "".join(
        f"(?P<{part[1:-1]}>[^/]+)" if part.startswith("{") else re.escape(part) for part in parts
    )
    return re.compile(regex)


class EndpointFunction:
    """A catalog HTTP endpoint with the one error policy.

    ``root_is_route``: the platform gives this function a URL of its own (a Cloud Function,
    a ``make serve`` port), so a request to ``/`` is a request to the endpoint's route.
    """

    def __init__(self, spec: EndpointSpec, handler: Callable[[HttpRequest], HttpResponse]) -> None:
        self.spec = spec
        self.handler = handler
        self._route = _route_pattern(spec.path)

    def __call__(
        self,
        request: HttpRequest,
        *,
        request_id: str | None = None,
        root_is_route: bool = False,
    ) -> HttpResponse:
        """Answer one request; never raises, never leaks a stack trace."""
        started = time.perf_counter()
        path = request.path or "/"
        if root_is_route and path == "/":
            path = self.spec.path
        route = self._route.fullmatch(path)
        try:
            if route is None:
                response = problem(404, "not found", [f"no route {path}"])
            elif request.method.upper() != self.spec.method:
                response = problem(405, "method not allowed", headers={"Allow": self.spec.method})
            elif len(request.body) > MAX_BODY_BYTES:
                response = problem(413, "body too large", [f"limit is {MAX_BODY_BYTES} bytes"])
            else:
                response = self.handler(dataclasses.replace(request, params=route.groupdict()))
        except Exception as exc:  # the one mapping from failures to answers
            response = problem_for(exc, request_id)
            if response.status >= 500 and not isinstance(exc, TransientError):
                logger.exception(
                    "%s: unexpected error", self.spec.name, extra={"endpoint": self.spec.name}
                )
            elif isinstance(exc, TransientError):
                logger.warning(
                    "%s: dependency unavailable: %s",
                    self.spec.name,
                    exc.reason,
                    extra={"endpoint": self.spec.name},
                )
        self._log(request, response, started)
        return response

    def _log(self, request: HttpRequest, response: HttpResponse, started: float) -> None:
        correlation = response.headers.get(CORRELATION_HEADER) or request.header(CORRELATION_HEADER)
        event_id = response.body.get("event_id") if isinstance(response.body, Mapping) else None
        logger.log(
            logging.WARNING if response.status >= 500 else logging.INFO,
            "%s %s %s -> %d",
            self.spec.name,
            request.method,
            self.spec.path,
            response.status,
            extra={
                "endpoint": self.spec.name,
                "method": request.method,
                "route": self.spec.path,
                "status": response.status,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "correlation_id": correlation,
                "event_id": event_id,
                "traceparent": request.header("traceparent"),
            },
        )


class ScheduleFunction:
    """A catalog schedule's job; returns the one report format of every backend."""

    def __init__(self, spec: ScheduleSpec, job: Callable[[], Any]) -> None:
        self.spec = spec
        self.job = job

    def __call__(self) -> dict[str, Any]:
        """Run the job once: ``{"schedule": name, "report": {...}}``; failures propagate
        (each platform retries a failed run its own way) after one error log line."""
        started = time.perf_counter()
        extra: dict[str, Any] = {"schedule": self.spec.name}
        try:
            report = report_dict(self.job())
        except Exception:
            extra["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
            logger.exception("schedule %s failed", self.spec.name, extra=extra)
            raise
        extra["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        logger.info("schedule %s ran: %s", self.spec.name, report, extra=extra)
        return {"schedule": self.spec.name, "report": report}


def report_dict(report: Any) -> dict[str, Any]:
    """A job's report as a JSON-ready dict (dataclass fields; tuples become lists)."""
    if report is None:
        return {}
    if dataclasses.is_dataclass(report) and not isinstance(report, type):
        fields = {f.name: getattr(report, f.name) for f in dataclasses.fields(report)}
    elif isinstance(report, Mapping):
        fields = dict(report)
    else:
        fields = {"result": report}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


class Runtime:
    """Builds and caches the consumer, endpoint and schedule functions of one process."""

    def __init__(self, dependencies: Dependencies, *, catalog: Catalog | None = None) -> None:
        self.dependencies = dependencies
        self.catalog = catalog or dependencies.get(Catalog)
        self._lock = threading.RLock()
        self._consumers: dict[str, ConsumerFunction] = {}
        self._endpoints: dict[str, EndpointFunction] = {}
        self._schedules: dict[str, ScheduleFunction] = {}

    def consumer(self, name: str) -> ConsumerFunction:
        """The consumer function ``name`` (bound on first use)."""
        with self._lock:
            if name not in self._consumers:
                self._require_dead_letters(name)
                dispatcher = Dispatcher(name, self.dependencies, catalog=self.catalog)
                self._consumers[name] = ConsumerFunction(dispatcher)
            return self._consumers[name]

    def endpoint(self, name: str) -> EndpointFunction:
        """The HTTP endpoint function ``name`` (bound on first use)."""
        with self._lock:
            if name not in self._endpoints:
                spec = self.catalog.endpoint(name)
                self._endpoints[name] = EndpointFunction(spec, self._bind("endpoint", spec, 1))
            return self._endpoints[name]

    def answer(
        self,
        endpoint: str,
        request: HttpRequest,
        *,
        request_id: str | None = None,
        root_is_route: bool = False,
    ) -> HttpResponse:
        """Answer ``request`` with endpoint ``endpoint``; a function that cannot start (a
        missing setting) answers 500 like any unexpected failure, with the reason logged."""
        try:
            function = self.endpoint(endpoint)
        except Exception as exc:
            logger.exception("endpoint %s cannot start", endpoint, extra={"endpoint": endpoint})
            return problem_for(exc, request_id)
        return function(request, request_id=request_id, root_is_route=root_is_route)

    def schedule(self, name: str) -> ScheduleFunction:
        """The scheduled job ``name`` (bound on first use)."""
        with self._lock:
            if name not in self._schedules:
                spec = self.catalog.schedule(name)
                self._schedules[name] = ScheduleFunction(spec, self._bind("schedule", spec, 0))
            return self._schedules[name]

    def _require_dead_letters(self, consumer: str) -> None:
        """Every consumer parks what it cannot process with its reason: a consumer deployed
        without its dead-letter destination refuses to start rather than lose the reasons."""
        if not self.dependencies.provides(DeadLetterSink):
            reason = self.dependencies.missing_reason(DeadLetterSink)
            raise MissingDependency(
                f"consumer {consumer!r} cannot start: dead_letters: DeadLetterSink ({reason})"
            )

    def _bind(self, kind: str, spec: EndpointSpec | ScheduleSpec, leading: int) -> Any:
        role = f"{kind} {spec.name!r}"
        return bind(resolve_handler(spec.handler), self.dependencies, leading=leading, role=role)

    def check(self, roles: Iterable[str] | None = None) -> None:
        """Fail now (``MissingDependency``) if any catalog function could not be built.

        ``roles`` limits the check to ``kind:name`` entries (``consumer:payments``); nothing
        is built, only the handlers' signatures are compared with what is provided.
        """
        for kind, name, reference, leading in catalog_roles(self.catalog):
            role = f"{kind}:{name}"
            if roles is not None and role not in roles:
                continue
            extra = None
            if kind == "consumer":
                self._require_dead_letters(name)
                extra = {ConsumerSpec: self.catalog.consumer(name)}
            check_needs(
                resolve_handler(reference),
                self.dependencies,
                leading=leading,
                role=role,
                extra=extra,
            )


def catalog_roles(catalog: Catalog) -> list[tuple[str, str, str, int]]:
    """Every function of the catalog: (kind, name, handler reference, leading arguments)."""
    roles = [("consumer", n, s.handler, 1) for n, s in catalog.consumers.items()]
    roles += [("endpoint", n, s.handler, 1) for n, s in catalog.endpoints.items()]
    roles += [("schedule", n, s.handler, 0) for n, s in catalog.schedules.items()]
    return roles


class Runtimes:
    """A process's runtimes by role, each composed on first use by ``compose()``.

    A cloud function instance serves one role, so one runtime; tests :meth:`install` their own
    dependencies for a role and :meth:`reset` afterwards.
    """

    def __init__(self, compose: Callable[[], Dependencies]) -> None:
        self._compose = compose
        self._lock = threading.Lock()
        self._runtimes: dict[str, Runtime] = {}

    def get(self, role: str = "") -> Runtime:
        """The runtime of ``role``, composed now if it was not yet."""
        with self._lock:
            if role not in self._runtimes:
                self._runtimes[role] = Runtime(self._compose())
            return self._runtimes[role]

    def install(self, dependencies: Dependencies, role: str = "") -> Runtime:
        """Serve ``role`` from ``dependencies`` from now on."""
        with self._lock:
            self._runtimes[role] = Runtime(dependencies)
            return self._runtimes[role]

    def reset(self) -> None:
        """Forget every runtime: the next call composes again."""
        with self._lock:
            self._runtimes.clear()
