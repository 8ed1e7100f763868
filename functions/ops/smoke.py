"""``make smoke-<backend>``: one scenario against a deployed stack, a pass/fail table, an exit code.

The scenario: upload an image, place an order through the orders API (authenticated as the
root's auth mode requires), wait for the payment, send a signed refund webhook, then wait, each
with the same timeout, for the thumbnails, the index entry, the order's final status and the
customer's emails, and check that every dead-letter destination is empty.

Targets come from ``terraform output -json`` of ``terraform/<cloud>`` (or, for the local
backend, from the ``ports.json`` a running ``make serve`` writes); the storage, orders, index and
dead letters are reached through the operator CLI's targets (:mod:`functions.ops.targets`).

:func:`run_smoke` also returns the scenario's **outcome**: what each check saw, normalised so
that two backends can be compared field by field (:func:`compare_outcomes`). What is
normalised, because it must differ between runs or backends: the run id, the upload key and
bucket, the image id (derived from them), the order id, the payment id (derived from the
idempotency key), correlation ids, timestamps and ETags, the dead-letter ids, CRLF line ends of
mail that crossed SMTP, and a parked upload notification's platform form (Event Grid's blob
subject and ``BlobCreated`` type, Cloud Storage's ``objects/`` subject and finalized type:
the object key and the catalog's upload event).
"""

from __future__ import annotations

import argparse
import email
import email.policy
import hashlib
import io
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol, TextIO

from functions.ops.targets import Target, TargetError, local_home, local_target
from shared.catalog import default_catalog
from shared.orders.webhooks import SIGNATURE_HEADER, sign
from shared.ports import OrderRecord, OrderStatus, ParkedMessage

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
DEFAULT_TIMEOUT = 120.0
DEFAULT_EMAIL = "smoke@example.com"
# The order every smoke places: one line, EUR, approved by the simulated gateway.
ORDER_ITEMS: tuple[dict[str, Any], ...] = (
    {"sku": "smoke-mug", "quantity": 2, "unit_price_minor": 1250},
)
ORDER_CURRENCY = "EUR"


class SmokeError(Exception):
    """The smoke cannot start (missing target, secret or credentials)."""


# -- how requests are authenticated ---------------------------------------------------------


class RequestAuth(Protocol):
    """Adds the headers the orders API's authorizer wants."""

    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        """Headers for one request."""
        ...


@dataclass(frozen=True)
class NoAuth:
    """An open route (local backend, ``mode = "NONE"``, or a webhook: its HMAC is its auth)."""

    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        """None."""
        return {}


@dataclass(frozen=True)
class HeaderAuth:
    """A fixed header: ``Authorization: Bearer <token>`` (JWT, Entra ID, Google OIDC identity
    token) or ``x-functions-key`` (Azure ``function_key`` mode)."""

    name: str
    value: str = field(repr=False)

    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        """The header, refused if it carries CR or LF."""
        if "\r" in self.value or "\n" in self.value:
            raise SmokeError(f"the {self.name} value contains a line break")
        return {self.name: self.value}


@dataclass(frozen=True)
class SigV4Auth:
    """AWS Signature V4 for ``execute-api`` (the HTTP API's ``AWS_IAM`` routes), with the
    operator's credentials (:func:`aws_credentials`)."""

    region: str
    credentials: Any = field(repr=False)

    def headers(self, method: str, url: str, body: bytes) -> dict[str, str]:
        """``Authorization``, ``X-Amz-Date`` (and the session token) for this request."""
        from botocore.auth import SigV4Auth as BotoSigV4
        from botocore.awsrequest import AWSRequest

        request = AWSRequest(
            method=method, url=url, data=body, headers={"Content-Type": "application/json"}
        )
        BotoSigV4(self.credentials, "execute-api", self.region).add_auth(request)
        return {k: v for k, v in request.headers.items() if k.lower() != "content-type"}


def aws_credentials() -> Any:
    """The operator's AWS credentials from botocore's default chain, resolved before anything
    is uploaded: none is a setup error, not a failed order."""
    import botocore.exceptions
    import botocore.session

    try:
        credentials = botocore.session.Session().get_credentials()
    except botocore.exceptions.BotoCoreError as error:  # a missing profile, a bad config
        raise SmokeError(f"cannot read the AWS credentials (AWS_IAM): {error}") from None
    if credentials is None:
        raise SmokeError(
            "no AWS credentials to sign the orders API requests (AWS_IAM): set AWS_PROFILE "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        )
    return credentials


def _token(env: Mapping[str, str], what: str) -> str:
    token = env.get("EVENTSUITE_SMOKE_TOKEN", "")
    if not token:
        raise SmokeError(f"the orders API needs {what}: set EVENTSUITE_SMOKE_TOKEN")
    return token


def auth_for(cloud: str, mode: str, env: Mapping[str, str], *, endpoint: str = "") -> RequestAuth:
    """The orders API's authentication for a root's auth mode."""
    normalised = mode.upper()
    if normalised in ("NONE", "PUBLIC", ""):
        return NoAuth()
    if cloud == "aws" and normalised == "AWS_IAM":
        host = endpoint.split("://", 1)[-1].split("/", 1)[0]
        parts = host.split(".")
        region = parts[2] if len(parts) > 3 and parts[1] == "execute-api" else env.get("AWS_REGION")
        if not region:
            raise SmokeError(f"cannot tell the AWS region of {endpoint}: set AWS_REGION")
        return SigV4Auth(region, aws_credentials())
    if normalised == "FUNCTION_KEY":
        key = env.get("EVENTSUITE_SMOKE_FUNCTION_KEY", "")
        if not key:
            raise SmokeError(
                "the orders API needs a function key: set EVENTSUITE_SMOKE_FUNCTION_KEY"
            )
        return HeaderAuth("x-functions-key", key)
    if normalised in ("JWT", "ENTRA", "OIDC"):
        return HeaderAuth("Authorization", f"Bearer {_token(env, f'a {normalised} bearer token')}")
    raise SmokeError(f"unknown orders API auth mode {mode!r} on {cloud}")


# -- where the emails are read back ---------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """One email as the customer would read it."""

    to: str
    subject: str
    body: str


class MailSource(Protocol):
    """Where the smoke reads the emails the notifier sent."""

    @property
    def description(self) -> str:
        """Where the messages are read."""
        ...

    def messages(self) -> list[Mail]:
        """Every message seen so far."""
        ...

    def close(self) -> None:
        """Stop listening."""
        ...


def _parse(raw: bytes) -> Mail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(preferencelist=("plain",))
    body = str(part.get_content() if part is not None else "")
    # SMTP carries CRLF line ends, a file keeps the LF the template has: the same text.
    return Mail(str(message["To"] or ""), str(message["Subject"] or ""), body.replace("\r\n", "\n"))


@dataclass
class OutboxMail:
    """The local backend's ``.eml`` outbox folder."""

    folder: Path

    @property
    def description(self) -> str:
        """Where."""
        return f"outbox {self.folder}"

    def messages(self) -> list[Mail]:
        """Every ``.eml`` file."""
        if not self.folder.is_dir():
            return []
        return [_parse(path.read_bytes()) for path in sorted(self.folder.glob("*.eml"))]

    def close(self) -> None:
        """Nothing to stop."""


class SmtpSinkMail:
    """An SMTP server (aiosmtpd) the deployment's SMTP relay setting points at: it accepts and
    keeps every message (for a stack deployed with ``mailer = "smtp"`` and a relay that
    reaches this machine)."""

    def __init__(self, host: str, port: int) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise SmokeError("an SMTP sink needs aiosmtpd: run `make setup-dev`") from None

        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._messages: list[Mail] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                raw = envelope.original_content or envelope.content
                with sink._lock:
                    sink._messages.append(_parse(raw))
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname=host, port=port)
        self._controller.start()

    @property
    def description(self) -> str:
        """Where."""
        return f"SMTP sink {self.host}:{self.port}"

    def messages(self) -> list[Mail]:
        """Every message received."""
        with self._lock:
            return list(self._messages)

    def close(self) -> None:
        """Stop the server."""
        self._controller.stop()


def mail_source(spec: str) -> MailSource | None:
    """``outbox:DIR``, ``smtp-sink:HOST:PORT`` or ``none``."""
    kind, _, rest = spec.partition(":")
    if kind == "none":
        return None
    if kind == "outbox" and rest:
        return OutboxMail(Path(rest))
    if kind == "smtp-sink":
        host, _, port = rest.rpartition(":")
        if host and port.isdigit():
            try:
                return SmtpSinkMail(host, int(port))
            except OSError as error:
                raise SmokeError(f"cannot listen for mail on {host}:{port}: {error}") from None
    raise SmokeError(f"--mail {spec!r}: use outbox:DIR, smtp-sink:HOST:PORT or none")


# -- the stack under test -------------------------------------------------------------------


@dataclass
class SmokeStack:
    """Everything the smoke touches on one deployment."""

    backend: str
    target: Target
    thumbnails_bucket: str
    orders_url: str
    webhook_url: str
    webhook_secret: str = field(repr=False)
    auth: RequestAuth = field(default_factory=NoAuth)
    mail: MailSource | None = None

    def __post_init__(self) -> None:
        checked_url(self.orders_url)
        checked_url(self.webhook_url)


def _endpoint_url(base: str, path: str) -> str:
    return base.rstrip("/") + path


def _webhook_secret(env: Mapping[str, str], fallback: Callable[[], str | None]) -> str:
    secret = env.get("EVENTSUITE_WEBHOOK_SECRET", "").split(",")[0] or fallback()
    if not secret:
        raise SmokeError("set EVENTSUITE_WEBHOOK_SECRET (the secret the webhook endpoint checks)")
    return secret


def stack_from_outputs(
    cloud: str,
    outputs: Mapping[str, Any],
    env: Mapping[str, str],
    *,
    clients: Any = None,
    mail: MailSource | None = None,
) -> SmokeStack:
    """A cloud's stack from its root's outputs (the shape of ``terraform output -json``)."""
    from functions.ops.targets import aws_target, azure_target, gcp_target

    catalog = default_catalog()
    orders_path = catalog.endpoint("orders_api").path
    webhook_path = catalog.endpoint("payment_webhook").path
    values = dict(outputs)
    try:
        if cloud == "aws":
            target = aws_target(env, lambda: values, clients)
            base = values["api_endpoint"]
            mode = values.get("http_route_authorization", {}).get("orders_api", "AWS_IAM")

            def aws_secret() -> str | None:
                arn = values.get("webhook_secret_arn")
                if not arn:
                    return None
                from functions.aws.clients import AwsClients

                aws = clients or AwsClients(
                    region=env.get("AWS_REGION") or None,
                    endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
                )
                secret: str = aws.secretsmanager.get_secret_value(SecretId=arn)["SecretString"]
                return secret.split(",", maxsplit=1)[0]

            return SmokeStack(
                "aws",
                target,
                values["thumbnails_bucket"],
                _endpoint_url(base, orders_path),
                _endpoint_url(base, webhook_path),
                _webhook_secret(env, aws_secret),
                auth_for("aws", mode, env, endpoint=base),
                mail,
            )
        if cloud == "gcp":
            target = gcp_target(env, lambda: values, clients)
            urls = values["http_endpoint_uris"]
            return SmokeStack(
                "gcp",
                target,
                values["buckets"]["thumbnails"],
                urls["orders_api"],
                urls["payment_webhook"],
                _webhook_secret(env, lambda: None),
                # Only signature-checking endpoints may be public: the orders API takes a
                # Google identity token of a member of http_invoker_members.
                auth_for("gcp", "OIDC", env),
                mail,
            )
        if cloud == "azure":
            # With a connection string or account URL in the environment the CLI's target
            # reads names from variables only: give it the outputs' names that way too.
            named = dict(env)
            tables = values.get("table_names") or {}
            containers = values.get("container_names") or {}
            for variable, value in (
                ("EVENTSUITE_ORDERS_TABLE", tables.get("orders")),
                ("EVENTSUITE_INDEX_TABLE", tables.get("index")),
                ("EVENTSUITE_UPLOADS_BUCKET", containers.get("uploads")),
                ("EVENTSUITE_DEADLETTER_CONTAINER", containers.get("deadletter")),
            ):
                if value:
                    named.setdefault(variable, value)
            target = azure_target(named, lambda: values, clients)
            urls = values["http_endpoint_urls"]
            return SmokeStack(
                "azure",
                target,
                (values.get("container_names") or {}).get("thumbnails", "thumbnails"),
                urls["orders_api"],
                urls["payment_webhook"],
                _webhook_secret(env, lambda: None),
                auth_for("azure", values.get("orders_api_auth_mode", "entra"), env),
                mail,
            )
    except KeyError as missing:
        raise SmokeError(
            f"the {cloud} outputs have no {missing}: deploy the current root"
        ) from None
    raise SmokeError(f"unknown cloud {cloud!r}")


def local_stack(home: Path, *, mail: MailSource | None = None) -> SmokeStack:
    """A running ``make serve`` under ``home`` (its ``ports.json`` lists the endpoints)."""
    from functions.local.backend import DEMO_WEBHOOK_SECRET

    ports_file = home / "ports.json"
    if not ports_file.is_file():
        raise SmokeError(f"no running `make serve` in {home}/ (no ports.json): start it first")
    ports = json.loads(ports_file.read_text(encoding="utf-8"))["endpoints"]
    target = local_target(home)
    secret = _webhook_secret(os.environ, lambda: DEMO_WEBHOOK_SECRET)
    if mail is None and os.environ.get("EVENTSUITE_MAILER", "outbox") != "smtp":
        mail = OutboxMail(home / "outbox")
    return SmokeStack(
        "local",
        target,
        "thumbnails",
        f"http://127.0.0.1:{ports['orders_api']}/",
        f"http://127.0.0.1:{ports['payment_webhook']}/",
        secret,
        NoAuth(),
        mail,
    )


# -- the run --------------------------------------------------------------------------------


@dataclass
class Check:
    """One row of the table."""

    name: str
    status: str
    seconds: float
    detail: str


@dataclass
class SmokeReport:
    """The table and the normalised outcome."""

    backend: str
    run_id: str
    checks: list[Check]
    outcome: dict[str, Any]

    @property
    def passed(self) -> bool:
        """No check failed (a skipped one does not fail the run)."""
        return all(c.status != FAIL for c in self.checks)

    def failures(self) -> list[Check]:
        """The failed checks."""
        return [c for c in self.checks if c.status == FAIL]

    def table(self) -> str:
        """The pass/fail table with timings."""
        rows = [("CHECK", "RESULT", "SECONDS", "DETAIL")] + [
            (c.name, c.status, f"{c.seconds:.1f}", c.detail) for c in self.checks
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            "  ".join([*(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)), row[3]])
            for row in rows
        ]
        verdict = "PASS" if self.passed else f"FAIL ({len(self.failures())} failed)"
        return "\n".join([*lines, f"smoke {self.backend} run {self.run_id}: {verdict}"])


class _Failed(Exception):
    """A step failed; its message is the row's detail."""


def wait_for(
    what: str,
    probe: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.5,
    seen: Callable[[], str] | None = None,
) -> Any:
    """Call ``probe`` until it returns something truthy; fail naming ``what`` at the timeout,
    and what was last seen instead (``seen``)."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while True:
        try:
            value = probe()
        except _Failed:
            raise
        except Exception as error:  # a backend hiccup is retried until the deadline
            value, last_error = None, f" (last error: {type(error).__name__}: {error})"
        if value:
            return value
        if time.monotonic() >= deadline:
            instead = seen() if seen is not None else ""
            instead = f"; {instead}" if instead else ""
            raise _Failed(f"timed out after {timeout:.0f}s waiting for {what}{instead}{last_error}")
        time.sleep(interval)


_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def checked_url(url: str) -> str:
    """``url`` if it is HTTPS, or plain HTTP to this machine (``make serve``, emulators):
    credentials and signed bodies never cross a network in clear text."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return url
    raise SmokeError(f"refusing {url!r}: only https, or http to this machine")


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx comes back as an ``HTTPError``: following it would re-send the credentials and
    the signed body to an address ``checked_url`` never saw."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        """No new request: ``urllib`` then raises the 3xx as an ``HTTPError``."""


def _opener(url: str) -> urllib.request.OpenerDirector:
    """No redirects; plain ``http`` (only ever to this machine, ``checked_url``) never through
    a proxy: ``HTTP_PROXY`` would carry the token or signed body across a network in clear
    text. ``https`` keeps the environment's proxy (the tunnel is end-to-end TLS)."""
    if urllib.parse.urlsplit(url).scheme == "http":
        return urllib.request.build_opener(urllib.request.ProxyHandler({}), _RefuseRedirects)
    return urllib.request.build_opener(_RefuseRedirects)


def _post(url: str, body: bytes, headers: Mapping[str, str], *, timeout: float) -> tuple[int, Any]:
    request = urllib.request.Request(  # noqa: S310 - checked_url: https or loopback http
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    try:
        with _opener(url).open(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            location = (error.headers.get("Location") or "no Location")[:200]
            error.close()
            raise _Failed(
                f"POST {url} answered {error.code} to {location!r}; "
                "the smoke does not follow redirects"
            ) from None
        status, raw = error.code, error.read()
    except OSError as error:
        raise _Failed(f"POST {url} failed: {error}") from None
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode("utf-8", "replace")[:200]


def smoke_image() -> bytes:
    """The uploaded photo: a JPEG with EXIF camera, capture time and GPS, byte-identical on
    every run (no random noise, unlike the demo's samples), so backends compare by hash."""
    from PIL import Image, ImageDraw

    width, height = 1600, 1200
    sky = Image.linear_gradient("L").resize((width, height))
    image = Image.merge(
        "RGB", (sky.point(lambda v: 90 + v // 3), sky, sky.point(lambda v: 255 - v))
    )
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, height * 2 // 3, width, height), fill=(20, 70, 120))
    draw.ellipse((1000, 150, 1300, 450), fill=(250, 210, 90))
    for x in range(0, width, 40):  # texture the thumbnails' resampling must carry
        draw.line((x, height * 2 // 3, x + 20, height), fill=(40, 90, 150), width=3)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Fujifilm", "X-T5"  # Make, Model
    exif.get_ifd(0x8769)[0x9003] = "2026:08:14 18:32:05"  # DateTimeOriginal
    exif.get_ifd(0x8825).update({1: "N", 2: (38.0, 43.0, 20.28), 3: "W", 4: (9.0, 8.0, 21.48)})
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=exif)
    return buffer.getvalue()


class _Scenario:
    def __init__(
        self,
        stack: SmokeStack,
        run_id: str,
        timeout: float,
        customer: str,
        interval: float,
        *,
        request_timeout: float | None = None,
    ) -> None:
        self.stack, self.run_id, self.timeout = stack, run_id, timeout
        self.request_timeout = timeout if request_timeout is None else request_timeout
        self.customer, self.interval = customer, interval
        catalog = default_catalog()
        self.storage, self.images = catalog.storage, catalog.images
        self.upload_key = f"{stack.target.uploads_prefix}smoke-{run_id}.jpg"
        self.order_id = ""
        self.payment_id = ""
        self.correlation_ids: set[str] = set()
        self.outcome: dict[str, Any] = {}
        self.checks: list[Check] = []

    def step(self, name: str, action: Callable[[], str]) -> bool:
        started = time.monotonic()
        try:
            detail, status = action(), PASS
        except _Failed as failure:
            detail, status = str(failure), FAIL
        except Exception as error:
            detail, status = f"{type(error).__name__}: {error}", FAIL
        self.checks.append(Check(name, status, time.monotonic() - started, detail))
        return status == PASS

    def skip(self, name: str, reason: str) -> None:
        self.checks.append(Check(name, SKIP, 0.0, reason))

    def wait(self, what: str, probe: Callable[[], Any], seen: dict[str, str] | None = None) -> Any:
        """``wait_for`` with the run's timeout; ``seen["now"]`` is what the probe saw last."""
        return wait_for(
            what,
            probe,
            timeout=self.timeout,
            interval=self.interval,
            seen=(lambda: seen.get("now", "")) if seen is not None else None,
        )

    # the steps

    def upload(self) -> str:
        data = smoke_image()
        bucket = self.stack.target.uploads_bucket
        self.stack.target.objects.put(bucket, self.upload_key, data, content_type="image/jpeg")
        return f"{len(data)} bytes to {bucket}/{self.upload_key}"

    def place_order(self) -> str:
        body = json.dumps(
            {
                "customer": {"email": self.customer, "name": "Smoke Test"},
                "currency": ORDER_CURRENCY,
                "items": list(ORDER_ITEMS),
            }
        ).encode()
        headers = {
            "Idempotency-Key": f"smoke-{self.run_id}",
            **self.stack.auth.headers("POST", self.stack.orders_url, body),
        }
        status, answer = _post(self.stack.orders_url, body, headers, timeout=self.request_timeout)
        if status != 202 or not isinstance(answer, dict) or "order_id" not in answer:
            raise _Failed(f"POST {self.stack.orders_url} answered {status}: {answer}")
        self.order_id = answer["order_id"]
        self.outcome["order_api"] = {"status": status, "fields": sorted(answer)}
        return f"202 {self.order_id}"

    def _order(self) -> OrderRecord | None:
        return self.stack.target.orders.get(self.order_id)

    def _wait_status(
        self, wanted: OrderStatus, refused: set[OrderStatus], *, relayed: bool = False
    ) -> OrderRecord:
        """Wait for ``wanted`` (and, when ``relayed``, for its outbox to be announced)."""

        seen: dict[str, str] = {}

        def probe() -> OrderRecord | None:
            order = self._order()
            seen["now"] = "no such order yet" if order is None else f"it is {order.status.value}"
            if order is not None and order.outbox:
                seen["now"] += f" with {len(order.outbox)} announcement(s) not relayed"
            if order is not None and order.status in refused:
                raise _Failed(f"order {self.order_id} is {order.status.value}, not {wanted.value}")
            if order is None or order.status != wanted or (relayed and order.outbox):
                return None
            return order

        what = f"order {self.order_id} to be {wanted.value}"
        order: OrderRecord = self.wait(
            what + (" with its outbox relayed" if relayed else ""), probe, seen
        )
        return order

    def paid(self) -> str:
        order = self._wait_status(OrderStatus.PAID, {OrderStatus.PAYMENT_FAILED})
        self.payment_id = order.payment_id or ""
        return f"{order.status.value} {self.payment_id}"

    def webhook(self) -> str:
        body = json.dumps(
            {
                "id": f"evt_smoke_{self.run_id}",
                "type": "payment.refunded",
                "data": {
                    "order_id": self.order_id,
                    "amount_minor": _amount(),
                    "currency": ORDER_CURRENCY,
                },
            }
        ).encode()
        header = sign(body, self.stack.webhook_secret, int(time.time()))
        status, answer = _post(
            self.stack.webhook_url, body, {SIGNATURE_HEADER: header}, timeout=self.request_timeout
        )
        if status not in (200, 202):
            raise _Failed(f"POST {self.stack.webhook_url} answered {status}: {answer}")
        self.outcome["webhook_api"] = {"status": status}
        return f"{status} (signed refund)"

    def refunded(self) -> str:
        order = self._wait_status(OrderStatus.REFUNDED, set(), relayed=True)
        if order.correlation_id:
            self.correlation_ids.add(order.correlation_id)
        self.outcome["order"] = self._order_outcome(order)
        return " -> ".join(self.outcome["order"]["transitions"])

    def thumbnails(self) -> str:
        prefix = self.upload_key[len(self.storage["uploads_prefix"]) :]
        folder = f"{self.storage['thumbnails_prefix']}{prefix}/"
        objects = self.stack.target.objects
        wanted = len(self.images["thumbnail_sizes"])

        seen: dict[str, str] = {}

        def probe() -> list[str] | None:
            keys = objects.list_keys(self.stack.thumbnails_bucket, folder)
            seen["now"] = f"found {len(keys)}" + (f": {', '.join(keys)}" if keys else "")
            return keys if len(keys) >= wanted else None

        keys = self.wait(f"{wanted} thumbnails under {folder}", probe, seen)
        found = {}
        for key in keys:
            data = objects.get(self.stack.thumbnails_bucket, key).data
            found[key[len(folder) :]] = {**_image_facts(data), "sha256": _sha(data)}
        self.outcome["thumbnails"] = found
        return ", ".join(f"{n} {f['width']}x{f['height']}" for n, f in sorted(found.items()))

    def index_entry(self) -> str:
        from shared.images.metadata import image_id

        identifier = image_id(self.stack.target.uploads_bucket, self.upload_key)
        document = self.wait(
            f"index entry {identifier} ({self.upload_key})",
            lambda: self.stack.target.index.get(identifier),
        )
        if document.get("correlation_id"):
            self.correlation_ids.add(str(document["correlation_id"]))
        self.outcome["index"] = self._normalise(_plain(document))
        return f"{document.get('format')} {document.get('width')}x{document.get('height')}"

    def emails(self) -> str:
        mail = self.stack.mail
        assert mail is not None
        wanted = ("We received your order", "Payment received", "Refund issued")

        seen: dict[str, str] = {}

        def ours() -> list[Mail] | None:
            found = [
                m for m in mail.messages() if m.to == self.customer and self.order_id in m.subject
            ]
            subjects = {m.subject for m in found}
            missing = [w for w in wanted if not any(s.startswith(w) for s in subjects)]
            seen["now"] = f"missing: {', '.join(repr(w) for w in missing)}"
            return found if not missing else None

        found = self.wait(
            f"{len(wanted)} emails to {self.customer} about {self.order_id}", ours, seen
        )
        unique = {(m.subject, m.body): m for m in found}  # at-least-once: a resend is a copy
        self.outcome["emails"] = sorted(
            (
                {"to": "<customer>", "subject": self._text(m.subject), "body": self._text(m.body)}
                for m in unique.values()
            ),
            key=lambda m: m["subject"],
        )
        return f"{len(unique)} via {mail.description}"

    def dead_letters(self) -> str:
        admin = self.stack.target.dead_letters
        parked = [p for c in admin.consumers for p in admin.parked(c)]
        self.outcome["dead_letters"] = sorted(
            (self._parked(p) for p in parked),
            key=lambda d: (d["consumer"], d["subject"] or "", d["reason"]),
        )
        if parked:
            names = ", ".join(
                f"{p.consumer}: {object_key(p.subject or '') or p.event_type or p.id} ({p.reason})"
                for p in parked
            )
            raise _Failed(f"{len(parked)} dead letter(s): {names}")
        return f"none in {len(admin.consumers)} consumers' dead-letter destinations"

    # normalisation

    def _text(self, text: str) -> str:
        replacements = {
            self.run_id: "<run>",
            self.order_id: "<order_id>",
            self.payment_id: "<payment_id>",
        }
        for correlation in self.correlation_ids:
            replacements[correlation] = "<correlation_id>"
        for value, placeholder in replacements.items():
            if value:
                text = text.replace(value, placeholder)
        return text

    def _normalise(self, document: Any) -> Any:
        if isinstance(document, dict):
            return {
                k: "<varies>" if k in VARYING_FIELDS else self._normalise(v)
                for k, v in sorted(document.items())
            }
        if isinstance(document, list):
            return [self._normalise(v) for v in document]
        if isinstance(document, str):
            return self._text(document)
        return document

    def _order_outcome(self, order: OrderRecord) -> dict[str, Any]:
        reached = [
            (at, status.value)
            for at, status in (
                (order.placed_at, OrderStatus.PLACED),
                (order.paid_at, OrderStatus.PAID),
                (order.payment_failed_at, OrderStatus.PAYMENT_FAILED),
                (order.refunded_at, OrderStatus.REFUNDED),
            )
            if at
        ]
        return {
            "status": order.status.value,
            "transitions": [status for _, status in sorted(reached)],
            "amount_minor": order.amount_minor,
            "currency": order.currency,
            "items": self._normalise(_plain(list(order.items))),
            "customer_email": "<customer>" if order.customer_email == self.customer else "?",
            "customer_name": order.customer_name,
            "payment_id": "<payment_id>" if order.payment_id else None,
            "decline_code": order.decline_code,
            "failure_reason": order.failure_reason,
            "outbox_pending": len(order.outbox),
        }

    def _parked(self, parked: ParkedMessage) -> dict[str, Any]:
        return {
            "consumer": parked.consumer,
            "event_type": default_catalog().event("ImageUploaded").type
            if parked.event_type in _UPLOAD_NOTIFICATIONS
            else parked.event_type,
            "subject": self._text(object_key(parked.subject)) if parked.subject else None,
            "reason": self._text(parked.reason),
        }


# A storage notification parked as it came names the object in the platform's form.
_STORAGE_SUBJECTS = (
    re.compile(r"/blobServices/default/containers/[^/]+/blobs/(?P<key>.+)\Z"),  # Event Grid
    re.compile(r"objects/(?P<key>.+)\Z"),  # Cloud Storage (Eventarc)
)


# Where a platform parks an upload's notification as it came (so that a redrive resends it),
# its type is the platform's: the same fact as the catalog's upload event.
_UPLOAD_NOTIFICATIONS = frozenset(
    {"Microsoft.Storage.BlobCreated", "google.cloud.storage.object.v1.finalized", "OBJECT_FINALIZE"}
)


def object_key(subject: str) -> str:
    """The object key of a dead letter's subject, whichever platform's form it has."""
    for pattern in _STORAGE_SUBJECTS:
        found = pattern.fullmatch(subject)
        if found:
            return found["key"]
    return subject


# Index fields that hold ids, times or storage details of one run on one backend.
VARYING_FIELDS = frozenset(
    {"image_id", "bucket", "key", "etag", "indexed_at", "uploaded_at", "correlation_id"}
)


def _amount() -> int:
    return sum(int(i["quantity"]) * int(i["unit_price_minor"]) for i in ORDER_ITEMS)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _image_facts(data: bytes) -> dict[str, Any]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return {
            "format": image.format,
            "width": image.width,
            "height": image.height,
            "bytes": len(data),
        }


def _plain(value: Any) -> Any:
    """JSON-shaped values (DynamoDB answers ``Decimal``)."""
    return json.loads(json.dumps(value, default=_number))


def _number(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def run_smoke(
    stack: SmokeStack,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    run_id: str | None = None,
    customer: str = DEFAULT_EMAIL,
    interval: float = 0.5,
    request_timeout: float | None = None,
) -> SmokeReport:
    """Run the scenario once; every check gets a row, a failed step skips what depends on it.

    ``timeout`` bounds each wait and, unless ``request_timeout`` is given, each request."""
    scenario = _Scenario(
        stack,
        run_id or uuid.uuid4().hex[:12],
        timeout,
        customer,
        interval,
        request_timeout=request_timeout,
    )
    uploaded = scenario.step("upload image", scenario.upload)
    placed = scenario.step("place order", scenario.place_order)
    if uploaded:
        scenario.step("thumbnails", scenario.thumbnails)
        scenario.step("index entry", scenario.index_entry)
    else:
        scenario.skip("thumbnails", "no upload")
        scenario.skip("index entry", "no upload")
    paid = placed and scenario.step("order paid", scenario.paid)
    signed = paid and scenario.step("payment webhook", scenario.webhook)
    if signed:
        scenario.step("order refunded", scenario.refunded)
    else:
        for name in ("order paid", "payment webhook", "order refunded")[int(placed) + int(paid) :]:
            scenario.skip(name, "an earlier order step failed")
    if stack.mail is None:
        scenario.skip("emails", "no mail source (--mail outbox:DIR or smtp-sink:HOST:PORT)")
    elif placed:
        scenario.step("emails", scenario.emails)
    else:
        scenario.skip("emails", "no order")
    scenario.step("dead letters empty", scenario.dead_letters)
    return SmokeReport(stack.backend, scenario.run_id, scenario.checks, scenario.outcome)


# -- comparing two backends -----------------------------------------------------------------


def compare_outcomes(outcomes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every field where a backend's outcome differs from the first one's, named by its path."""
    names = list(outcomes)
    if not names:
        return []
    reference = names[0]
    differences: list[str] = []
    for other in names[1:]:
        for path, left, right in _diff(outcomes[reference], outcomes[other], ""):
            differences.append(f"{path}: {reference}={left!r} {other}={right!r}")
    return differences


def _diff(left: Any, right: Any, path: str) -> Iterator[tuple[str, Any, Any]]:
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        for key in sorted(set(left) | set(right), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in left or key not in right:
                yield where, left.get(key, "<missing>"), right.get(key, "<missing>")
            else:
                yield from _diff(left[key], right[key], where)
    elif isinstance(left, list) and isinstance(right, list):
        if len(left) != len(right):
            yield f"{path}.length", len(left), len(right)
        for index, (a, b) in enumerate(zip(left, right, strict=False)):
            yield from _diff(a, b, f"{path}[{index}]")
    elif left != right:
        yield path, left, right


# -- command line ---------------------------------------------------------------------------


def build_stack(
    backend: str,
    *,
    home: Path | None,
    terraform_root: Path | None,
    mail: MailSource | None,
    env: Mapping[str, str],
) -> SmokeStack:
    """The stack of a backend name: a running ``make serve`` or a cloud root's outputs."""
    if backend == "local":
        return local_stack(local_home(home, env), mail=mail)
    from functions.ops.targets import terraform_outputs

    return stack_from_outputs(backend, terraform_outputs(backend, terraform_root), env, mail=mail)


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    """``python -m functions.ops.smoke --backend B``: exit 0 on pass, 1 on fail, 2 on setup."""
    parser = argparse.ArgumentParser(prog="smoke", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("local", "aws", "gcp", "azure"), default="local")
    parser.add_argument("--home", type=Path, help="local backend: the `make serve` state folder")
    parser.add_argument("--terraform-root", type=Path, help="default: terraform/<backend>")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="per wait, s")
    parser.add_argument("--email", default=DEFAULT_EMAIL, help="the test customer's address")
    parser.add_argument(
        "--mail",
        default=os.environ.get("EVENTSUITE_SMOKE_MAIL", ""),
        help="outbox:DIR | smtp-sink:HOST:PORT | none (local: its outbox by default)",
    )
    parser.add_argument("--json", action="store_true", help="also print the outcome as JSON")
    args = parser.parse_args(argv)
    try:
        mail = mail_source(args.mail) if args.mail else None
        stack = build_stack(
            args.backend,
            home=args.home,
            terraform_root=args.terraform_root,
            mail=mail,
            env=os.environ,
        )
    except (SmokeError, TargetError) as error:
        print(f"smoke: error: {error}", file=sys.stderr)
        return 2
    try:
        report = run_smoke(stack, timeout=args.timeout, customer=args.email)
    finally:
        if stack.mail is not None:
            stack.mail.close()
        stack.target.close()
    print(report.table(), file=out)
    if args.json:
        print(json.dumps(report.outcome, indent=2, sort_keys=True), file=out)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
