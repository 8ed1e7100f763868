"""The local console (Flask): what ``make serve`` runs, seen in the browser.

Dead letters, orders, the image index and uploads are read and acted on through the operator
CLI's operations (``functions.ops.cli``) on the same :class:`~functions.ops.targets.Target` the
CLI builds (thumbnails and stored files come from that Target's object store); the event flow's
activity, the live deliveries and the traces from the broker's own record of events and
deliveries; emails from the outbox mailer's folder. Orders are placed through the running
orders API over HTTP, like any client. Bad input gets the reason on the page (the API's problem+json
``problems``, or the CLI's usage error), never a stack trace.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.serving import BaseWSGIServer, make_server

from functions.local.backend import LocalBackend
from functions.local.broker import LoggedDelivery
from functions.local.console.flow import flow_graph, mermaid
from functions.local.outbox import OutboxMailer
from functions.ops import cli
from functions.ops.targets import Target, local_target
from shared.errors import ObjectNotFound, PermanentError
from shared.ports import IndexQuery

logger = logging.getLogger("eventsuite.console")
HERE = Path(__file__).parent
STREAM_POLL_SECONDS = 0.3
STREAM_HEARTBEAT_SECONDS = 5.0  # a closed tab is noticed at the next write
STREAM_STOP_SECONDS = 5.0
ORDERS_SHOWN = 100
DEAD_LETTERS_SHOWN = 200
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
# Pages are never framed by another site (clickjacking), and an HTML email shown on a page
# loads nothing from elsewhere (no tracking pixels).
CONTENT_SECURITY_POLICY = (
    "default-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 with or without brackets) is this machine
    only."""
    name = host.strip().lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


class StreamRegistry:
    """Counts the open live streams and tells them to end."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._open = 0
        self._changed = threading.Condition()

    @property
    def open(self) -> int:
        """Streams still running."""
        with self._changed:
            return self._open

    def opened(self) -> None:
        """A stream started."""
        with self._changed:
            self._open += 1

    def closed(self) -> None:
        """A stream ended (the client left, or the console is stopping)."""
        with self._changed:
            self._open -= 1
            self._changed.notify_all()

    def stop(self, timeout: float) -> bool:
        """Tell every stream to end; True when all did within ``timeout`` seconds."""
        self.stopping.set()
        with self._changed:
            return self._changed.wait_for(lambda: self._open == 0, timeout)


@dataclass
class ConsoleContext:
    """What the pages read and act on."""

    home: Path
    backend: LocalBackend
    target: Target
    endpoint_ports: dict[str, int] = field(default_factory=dict)
    allowed_hosts: frozenset[str] = frozenset()
    """Host names the pages answer to besides loopback (``*``: any, when shared on purpose)."""
    streams: StreamRegistry = field(default_factory=StreamRegistry)
    """The open live streams, ended by :meth:`ConsoleServer.stop` before the backend closes."""

    @property
    def outbox(self) -> OutboxMailer:
        """The local mailer's folder (the emails it wrote)."""
        return OutboxMailer(self.home / "outbox", sender=self.backend.settings.mail_from)


class FormError(Exception):
    """A form's input was refused; ``problems`` are shown on the page."""

    def __init__(self, title: str, problems: list[str] | None = None) -> None:
        super().__init__(title)
        self.title = title
        self.problems = problems or []


HOST_HEADER = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[^:\[\]]+)(?::[0-9]{1,5})?")


def _host_allowed(host_header: str, allowed: set[str]) -> bool:
    host = HOST_HEADER.fullmatch(host_header.strip().lower())
    return host is not None and (host["name"] in allowed or is_loopback(host["name"]))


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _delivery_json(delivery: LoggedDelivery) -> dict[str, Any]:
    return {
        "id": delivery.log_id,
        "time": _when(delivery.started_at)[11:23],  # the time of day; the page is about now
        "event_type": delivery.event_type,
        "event_id": delivery.event_id,
        "consumer": delivery.consumer,
        "outcome": delivery.outcome,
        "attempt": delivery.attempt,
        "latency_ms": round(delivery.latency_ms, 1),
        "reason": delivery.reason,
    }


def _email_view(message: EmailMessage) -> dict[str, Any]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return {
        "subject": message["Subject"],
        "to": message["To"],
        "from": message["From"],
        "date": message["Date"],
        "event_type": message["X-Event-Type"],
        "correlation_id": message["X-Correlation-Id"],
        "text": text.get_content() if text is not None else "",
        "html": html.get_content() if html is not None else None,
    }


def _optional_int(form: dict[str, str], name: str, label: str, problems: list[str]) -> int | None:
    raw = form.get(name, "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        problems.append(f"{label} must be a whole number, got {raw!r}")
        return None


def index_query(form: dict[str, str]) -> IndexQuery:
    """The search form as the CLI's ``IndexQuery`` (validated by the CLI's own parsers)."""
    problems: list[str] = []
    gps_box = None
    if form.get("gps_box", "").strip():
        try:
            gps_box = cli.parse_gps_box(form["gps_box"].strip())
        except Exception as exc:  # argparse.ArgumentTypeError: the CLI's message
            problems.append(f"GPS box: {exc}")
    for name in ("captured_from", "captured_to"):
        value = form.get(name, "").strip()
        if value:
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                problems.append(f"{name.replace('_', ' ')}: {value!r} is not an ISO-8601 time")
    query = IndexQuery(
        camera=form.get("camera", "").strip() or None,
        captured_from=form.get("captured_from", "").strip() or None,
        captured_to=form.get("captured_to", "").strip() or None,
        min_width=_optional_int(form, "min_width", "minimum width", problems),
        max_width=_optional_int(form, "max_width", "maximum width", problems),
        format=form.get("format", "").strip() or None,
        gps_box=gps_box,
        limit=50,
    )
    if problems:
        raise FormError("the search was not run", problems)
    return query


def order_request(form: dict[str, str]) -> dict[str, Any]:
    """The place-order form as the orders API's JSON body (the API validates it)."""

    def number(name: str) -> Any:
        raw = form.get(name, "").strip()
        try:
            return int(raw)
        except ValueError:
            return raw  # the API says what is wrong with it

    customer: dict[str, Any] = {"email": form.get("email", "").strip()}
    if form.get("name", "").strip():
        customer["name"] = form["name"].strip()
    return {
        "customer": customer,
        "currency": form.get("currency", "").strip(),
        "items": [
            {
                "sku": form.get("sku", "").strip(),
                "quantity": number("quantity"),
                "unit_price_minor": number("unit_price_minor"),
            }
        ],
    }


def create_app(context: ConsoleContext) -> Flask:
    """The console's Flask application over an open local backend."""
    app = Flask(
        "eventsuite-console",
        root_path=str(HERE),
        template_folder="templates",
        static_folder="static",
    )
    app.config["MAX_CONTENT_LENGTH"] = int(context.backend.catalog.images["max_upload_bytes"])
    # Another site open in the same browser must not act here: every form carries this
    # process's token (no cross-site POST can know it), and a page is served only under the
    # names of this machine, so a DNS-rebound name cannot read it either.
    app.config["FORM_TOKEN"] = secrets.token_urlsafe(24)
    allowed_hosts = {*LOOPBACK_NAMES, *context.allowed_hosts}

    @app.before_request
    def same_machine_only() -> Any:
        if "*" not in allowed_hosts and not _host_allowed(request.host or "", allowed_hosts):
            return render_template(
                "error.html",
                title="unknown host",
                problems=[f"this console answers as {', '.join(sorted(allowed_hosts))}"],
            ), 421
        if request.method == "POST" and not secrets.compare_digest(
            request.form.get("token", "").encode(), app.config["FORM_TOKEN"].encode()
        ):
            return render_template(
                "error.html",
                title="stale form",
                problems=["this form is from another page or an earlier console: reload, retry"],
            ), 403
        return None

    @app.after_request
    def not_framed(response: Response) -> Response:
        # setdefault: a stored object keeps its stricter sandbox policy.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.context_processor
    def common() -> dict[str, Any]:
        return {
            "form_token": app.config["FORM_TOKEN"],
            "when": _when,
            "nav": request.endpoint,
            "catalog_name": context.backend.catalog.name,
        }

    @app.errorhandler(Exception)
    def failure(error: Exception) -> Any:
        if isinstance(error, RequestEntityTooLarge):
            limit = app.config["MAX_CONTENT_LENGTH"]
            return render_template(
                "error.html", title="too large", problems=[f"the limit is {limit} bytes"]
            ), 413
        if isinstance(error, HTTPException):
            return render_template(
                "error.html", title=error.name, problems=[error.description or ""]
            ), error.code or 500
        logger.exception("console page failed", extra={"path": request.path})
        return render_template(
            "error.html",
            title="the console could not do that",
            problems=[" ".join(str(error).split()) or type(error).__name__],
        ), 500

    for register in (
        _flow_pages,
        _delivery_pages,
        _dead_letter_pages,
        _image_pages,
        _order_pages,
    ):
        register(app, context)
    return app


def _flow_pages(app: Flask, context: ConsoleContext) -> None:
    """The event flow and the catalog."""
    catalog = context.backend.catalog

    # -- event flow and catalog ---------------------------------------------------------
    @app.get("/")
    def flow() -> str:
        counts = context.backend.broker.delivery_counts()
        parked = cli.count_dead_letters(context.target)
        activity = [
            {
                "consumer": name,
                "pending": context.backend.broker.pending(name),
                "counts": counts.get(name, {}),
                "parked": parked.get(name, 0),
            }
            for name in catalog.consumers
        ]
        newest = context.backend.broker.recent_deliveries(limit=1)
        return render_template(
            "flow.html",
            # The stream starts after what the page saw, not when the diagram is drawn.
            last_id=newest[-1].log_id if newest else 0,
            diagram=mermaid(),
            graph=flow_graph(catalog),
            activity=activity,
            event_names={event.type: event.name for event in catalog.events.values()},
        )

    @app.get("/catalog")
    def catalog_page() -> str:
        schemas = {
            event.name: {
                version.version: json.dumps(dict(version.schema), indent=2)
                for version in event.versions.values()
            }
            for event in catalog.events.values()
        }
        settings = context.backend.settings
        configuration = {
            "state folder": str(context.home),
            "uploads bucket": f"{settings.uploads_bucket} "
            f"(prefix {catalog.storage['uploads_prefix']})",
            "thumbnails bucket": f"{settings.thumbnails_bucket} "
            f"(prefix {catalog.storage['thumbnails_prefix']}, sizes "
            f"{', '.join(map(str, catalog.images['thumbnail_sizes']))} px)",
            "claims bucket": f"{settings.claims_bucket} (claim check above "
            f"{catalog.claim_check_threshold_bytes} bytes)",
            "largest upload": f"{catalog.images['max_upload_bytes']} bytes, "
            f"{catalog.images['max_pixels']} pixels",
            "mail sender": settings.mail_from,
            "payment provider": settings.payment_provider,
            "webhook secrets": f"{len(settings.webhook_secrets)} configured (not shown), "
            f"tolerance {settings.webhook_tolerance_seconds} s",
            "idempotency records kept": f"{settings.idempotency_ttl_seconds / 86400:g} days",
            **{
                f"{name} endpoint": f"http://127.0.0.1:{port}/"
                for name, port in context.endpoint_ports.items()
            },
        }
        return render_template(
            "catalog.html", catalog=catalog, schemas=schemas, configuration=configuration
        )


def _delivery_events(backend: LocalBackend, streams: StreamRegistry, after: int) -> Iterator[str]:
    """Server-sent events: each delivery logged after log id ``after``, until the client leaves
    or the console stops."""
    streams.opened()
    try:
        last, quiet_since = after, time.monotonic()
        yield "retry: 2000\n\n"
        while not streams.stopping.is_set():
            found = backend.broker.recent_deliveries(after=last, limit=200)
            for delivery in found:
                last = delivery.log_id
                yield f"id: {last}\ndata: {json.dumps(_delivery_json(delivery))}\n\n"
            if found:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > STREAM_HEARTBEAT_SECONDS:
                quiet_since = time.monotonic()
                yield ": still here\n\n"
            streams.stopping.wait(STREAM_POLL_SECONDS)
    finally:
        streams.closed()


def _delivery_pages(app: Flask, context: ConsoleContext) -> None:
    """Live deliveries and traces."""
    target, backend = context.target, context.backend

    # -- deliveries and traces ----------------------------------------------------------
    @app.get("/deliveries")
    def deliveries() -> str:
        recent = [_delivery_json(d) for d in backend.broker.recent_deliveries(limit=100)]
        events = backend.broker.recent_events(limit=30)
        return render_template(
            "deliveries.html",
            deliveries=recent,
            events=events,
            last_id=recent[-1]["id"] if recent else 0,
        )

    @app.get("/deliveries/stream")
    def delivery_stream() -> Response:
        # After the given log id (the page's newest row, or the browser's Last-Event-ID on a
        # reconnect); without one, or with a negative one, from now on.
        raw = request.headers.get("Last-Event-ID") or request.args.get("after")
        try:
            after = int(raw) if raw is not None else -1
        except ValueError:
            after = -1
        newest = backend.broker.recent_deliveries(limit=1)
        newest_id = newest[-1].log_id if newest else 0
        if after < 0 or after > newest_id:  # beyond the log: its state was deleted meanwhile
            after = newest_id
        return Response(
            _delivery_events(backend, context.streams, after),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/trace")
    def trace() -> str:
        correlation = request.args.get("id", "").strip()
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        if correlation:
            events, attempts = backend.broker.trace(correlation)
            if not events:
                problems.append(f"no event with correlation id {correlation!r} is recorded")
            start = events[0].published_at if events else 0.0
            for event in events:
                rows.append(
                    {
                        "at": event.published_at,
                        "offset_ms": (event.published_at - start) * 1000,
                        "kind": "event",
                        "what": event.event_type,
                        "detail": f"published to {event.consumers} consumer(s)",
                        "event_id": event.event_id,
                        "subject": event.subject,
                        "body": json.dumps(json.loads(event.body), indent=2),
                    }
                )
            for attempt in attempts:
                rows.append(
                    {
                        "at": attempt.started_at,
                        "offset_ms": (attempt.started_at - start) * 1000,
                        "kind": attempt.outcome,
                        "what": f"{attempt.consumer} · attempt {attempt.attempt}",
                        "detail": f"{attempt.outcome} in {attempt.latency_ms:.1f} ms"
                        + (f": {attempt.reason}" if attempt.reason else ""),
                        "event_id": attempt.event_id,
                        "subject": attempt.event_type,
                        "body": None,
                    }
                )
            for message in context.outbox.messages(correlation_id=correlation):
                view = _email_view(message)
                rows.append(
                    {
                        "at": None,
                        "offset_ms": None,
                        "kind": "email",
                        "what": f"email to {view['to']}",
                        "detail": view["subject"],
                        "event_id": "",
                        "subject": view["event_type"],
                        "body": None,
                    }
                )
            rows.sort(key=lambda row: (row["at"] is None, row["at"] or 0))
            parked = cli.find_dead_letters(target, correlation_id=correlation, limit=cli.EVERY)
        else:
            parked = []
        recent = [e for e in backend.broker.recent_events(limit=50) if e.correlation_id]
        return render_template(
            "trace.html",
            correlation=correlation,
            rows=rows,
            parked=parked,
            problems=problems,
            recent=recent,
        )


def _dead_letter_pages(app: Flask, context: ConsoleContext) -> None:
    """Dead letters: list, redrive, purge."""
    target, catalog = context.target, context.backend.catalog

    # -- dead letters ---------------------------------------------------------------------
    def dead_letters_page(
        message: str | None = None, problems: list[str] | None = None, status: int = 200
    ) -> tuple[str, int]:
        parked = cli.find_dead_letters(target, limit=DEAD_LETTERS_SHOWN)
        views = [
            {
                "message": m,
                "payload": json.dumps(m.event, indent=2, default=str)
                if m.event is not None
                else (m.body or b"").decode("utf-8", errors="replace"),
            }
            for m in parked
        ]
        return render_template(
            "deadletters.html",
            parked=views,
            total=sum(cli.count_dead_letters(target).values()),
            consumers=list(catalog.consumers),
            message=message,
            problems=problems or [],
        ), status

    @app.get("/deadletters")
    def dead_letters() -> tuple[str, int]:
        return dead_letters_page()

    @app.post("/deadletters/redrive")
    def redrive() -> tuple[str, int]:
        try:
            chosen = cli.choose_dead_letters(
                target,
                consumer=request.form.get("consumer") or None,
                ids=request.form.getlist("id"),
                every=request.form.get("all") == "1",
            )
        except cli.UsageError as exc:
            return dead_letters_page(problems=[str(exc)], status=400)
        if not chosen:
            return dead_letters_page(message="nothing to redrive")
        result = cli.redrive_dead_letters(target, chosen)
        by_id = {m.id: m for m in chosen}
        done = [
            f"redriven {i} (event {by_id[i].event_id}) to {by_id[i].consumer}"
            for i in result.redriven
        ]
        failed = [f"{i} not redriven, still parked: {why}" for i, why in result.failed]
        return dead_letters_page(
            message="; ".join(done) or None, problems=failed, status=502 if failed else 200
        )

    @app.post("/deadletters/purge")
    def purge() -> tuple[str, int]:
        consumer = request.form.get("consumer") or None
        try:
            purged = cli.purge_dead_letters(
                target, consumer, confirmed=request.form.get("confirm") == "yes"
            )
        except cli.UsageError as exc:
            text = str(exc).replace("add --yes", "tick the confirmation box")
            return dead_letters_page(problems=[text], status=400)
        return dead_letters_page(message=f"purged {purged} dead letters of {consumer}")


def _image_pages(app: Flask, context: ConsoleContext) -> None:
    """Images: index search, uploads, thumbnails."""
    target, backend, catalog = context.target, context.backend, context.backend.catalog
    settings = backend.settings

    # -- images ---------------------------------------------------------------------------
    def thumbnails_of(document: dict[str, Any]) -> list[str]:
        key = str(document.get("key", ""))
        uploads = catalog.storage["uploads_prefix"]
        relative = key[len(uploads) :] if key.startswith(uploads) else key
        prefix = f"{catalog.storage['thumbnails_prefix']}{relative}/"
        return target.objects.list_keys(settings.thumbnails_bucket, prefix)

    def images_page(
        message: str | None = None, problems: list[str] | None = None, status: int = 200
    ) -> tuple[str, int]:
        form = {name: request.args.get(name, "") for name in request.args}
        search_problems: list[str] = []
        try:
            found = cli.search_index(target, index_query(form))
        except FormError as exc:
            found, search_problems = [], [f"{exc.title}: {p}" for p in exc.problems]
        images = [{"document": d, "thumbnails": thumbnails_of(d)} for d in found]
        searched = any(value.strip() for value in form.values())
        unindexed = [] if searched or search_problems else cli.unindexed_uploads(target, limit=200)
        return render_template(
            "images.html",
            images=images,
            unindexed=unindexed,
            form=form,
            message=message,
            problems=[*(problems or []), *search_problems],
            thumbnails_bucket=settings.thumbnails_bucket,
        ), (400 if search_problems and status == 200 else status)

    @app.get("/images")
    def images() -> tuple[str, int]:
        return images_page()

    @app.post("/images/upload")
    def upload() -> tuple[str, int]:
        chosen = request.files.get("file")
        if chosen is None or not chosen.filename:
            return images_page(problems=["choose an image file to upload"], status=400)
        data = chosen.read()
        if not data:
            return images_page(problems=[f"{chosen.filename} is empty"], status=400)
        try:
            # As the CLI does: the type guessed from the name, not what the browser claims.
            key = cli.upload_file(target, Path(chosen.filename).name, data)
        except (cli.UsageError, PermanentError) as exc:
            reason = exc.reason if isinstance(exc, PermanentError) else str(exc)
            return images_page(problems=[f"upload refused: {reason}"], status=400)
        return images_page(
            message=f"uploaded {key}: ImageUploaded is on its way to the thumbnailer and indexer"
        )

    @app.get("/objects/<bucket>/<path:key>")
    def stored_object(bucket: str, key: str) -> Response:
        if bucket not in (settings.thumbnails_bucket, settings.uploads_bucket):
            abort(404)
        try:
            stored = target.objects.get(bucket, key)
        except (ObjectNotFound, PermanentError):  # PermanentError: not a valid object key
            abort(404)
        return Response(
            stored.data,
            mimetype=stored.content_type or "application/octet-stream",
            headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"},
        )


def _order_pages(app: Flask, context: ConsoleContext) -> None:
    """Orders and the outbox's emails."""
    target = context.target

    # -- orders and emails ----------------------------------------------------------------
    def orders_page(
        message: str | None = None,
        problems: list[str] | None = None,
        status: int = 200,
        form: dict[str, str] | None = None,
        placed: str | None = None,
    ) -> tuple[str, int]:
        return render_template(
            "orders.html",
            orders=cli.list_orders(target, newest_first=True, limit=ORDERS_SHOWN),
            orders_shown=ORDERS_SHOWN,
            message=message,
            problems=problems or [],
            form=form or {"currency": "EUR", "quantity": "1"},
            idempotency_key=uuid.uuid4().hex,
            placed=placed,
        ), status

    @app.get("/orders")
    def orders() -> tuple[str, int]:
        return orders_page()

    @app.post("/orders")
    def place_order() -> Any:
        form = {name: request.form.get(name, "") for name in request.form}
        port = context.endpoint_ports.get("orders_api")
        if port is None:
            return orders_page(problems=["the orders API is not running"], status=503, form=form)
        headers = {"Content-Type": "application/json"}
        key = form.get("idempotency_key", "")
        if key:
            headers["Idempotency-Key"] = key
        call = urllib.request.Request(
            f"http://127.0.0.1:{port}/",
            data=json.dumps(order_request(form)).encode(),
            method="POST",
            headers=headers,
        )
        try:
            with urllib.request.urlopen(call, timeout=30) as answer:  # noqa: S310 - loopback
                body = json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                problem = json.loads(exc.read() or b"{}")
            except ValueError:
                problem = {}
            title = problem.get("title") or f"HTTP {exc.code}"
            problems = [str(p) for p in problem.get("problems", [])] or [
                str(problem.get("detail") or title)
            ]
            return orders_page(
                problems=[f"the orders API refused the order ({title}): {p}" for p in problems],
                status=400 if exc.code < 500 else 502,
                form=form,
            )
        except OSError as exc:
            return orders_page(
                problems=[f"the orders API did not answer: {exc}"], status=502, form=form
            )
        order_id = str(body.get("order_id", ""))
        return redirect(url_for("order", order_id=order_id, placed=1), code=303)

    @app.get("/orders/<order_id>")
    def order(order_id: str) -> tuple[str, int]:
        try:
            record = cli.find_order(target, order_id)
        except cli.UsageError as exc:
            return render_template("error.html", title="unknown order", problems=[str(exc)]), 404
        transitions = [
            (name, at)
            for name, at in (
                ("PLACED", record.placed_at),
                ("PAID", record.paid_at),
                ("PAYMENT_FAILED", record.payment_failed_at),
                ("REFUNDED", record.refunded_at),
            )
            if at
        ]
        emails = (
            [_email_view(m) for m in context.outbox.messages(correlation_id=record.correlation_id)]
            if record.correlation_id
            else []
        )
        return render_template(
            "order.html",
            order=record,
            transitions=transitions,
            emails=emails,
            placed=request.args.get("placed") == "1",
        ), 200

    @app.get("/emails")
    def emails() -> str:
        messages = [_email_view(m) for m in reversed(context.outbox.messages())]
        return render_template("emails.html", emails=messages)


class ConsoleServer:
    """The console on its own thread (a threaded WSGI server: the live stream holds one)."""

    def __init__(self, context: ConsoleContext, host: str, port: int) -> None:
        self.context = context
        self.server: BaseWSGIServer = make_server(host, port, create_app(context), threaded=True)
        self.host, self.port = host, self.server.server_port
        self._thread = threading.Thread(
            target=self.server.serve_forever, name="console", daemon=True
        )

    @property
    def url(self) -> str:
        """Where to point the browser."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Serve in the background."""
        self._thread.start()

    def stop(self) -> None:
        """End the live streams, stop serving and release the port (before the backend the
        streams read is closed)."""
        if not self.context.streams.stop(STREAM_STOP_SECONDS):
            logger.warning("a live stream did not end", extra={"open": self.context.streams.open})
        self.server.shutdown()
        self.server.server_close()


def start_console(
    home: Path, backend: LocalBackend, *, host: str, port: int, endpoint_ports: dict[str, int]
) -> ConsoleServer:
    """Start the console over ``backend`` (the one ``serve`` opened) on ``host:port``."""
    shared = frozenset() if is_loopback(host) else frozenset({"*"})
    context = ConsoleContext(
        home, backend, local_target(home, backend), dict(endpoint_ports), shared
    )
    console = ConsoleServer(context, host, port)
    console.start()
    return console
