"""``make serve``: every consumer and HTTP endpoint under functions-framework, on local ports,
with the local broker delivering CloudEvents to them over HTTP, an upload port
(``PUT /uploads/<file name>``) that stores a file the way a cloud upload would, and the
console (``functions/local/console``, http://127.0.0.1:8080/ by default).

Every port is checked before anything starts: a taken one stops ``serve`` at once with the
port and what to do (``--base-port 0`` picks free ports and prints them). A child that exits
while starting stops it too. Ctrl-C or SIGTERM stops every child (each runs in its own
session, so the terminal's Ctrl-C reaches only this process, which then stops them in order).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from functions.local.backend import OUTCOME_HEADER, REASON_HEADER, LocalBackend

if TYPE_CHECKING:
    from functions.local.console.app import ConsoleServer
from functions.local.broker import Message, Verdict
from shared.catalog import default_catalog
from shared.errors import PermanentError

SOURCE = Path(__file__).with_name("ff_main.py")
HOST = "127.0.0.1"
CONSOLE_PORT = 8080
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class ServeError(Exception):
    """``serve`` cannot run as asked (a port is taken, a child did not start)."""


def port_is_free(port: int) -> bool:
    """Whether ``port`` can be bound on 127.0.0.1 (the way gunicorn binds it)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(
    target: str, signature: str, port: int, env: dict[str, str], runtime_dir: Path
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "functions_framework",
        "--source",
        str(SOURCE),
        "--target",
        target,
        "--signature-type",
        signature,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # gunicorn (25.1+) opens a control socket at $XDG_RUNTIME_DIR/gunicorn.ctl, else at
    # ~/.gunicorn/gunicorn.ctl: one path for all six servers, which then fight over it. Each
    # child gets its own short-lived directory instead.
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    child_env = {**os.environ, **env, "XDG_RUNTIME_DIR": str(runtime_dir)}
    return subprocess.Popen(command, env=child_env, start_new_session=True)


def _wait_ready(
    name: str, port: int, process: subprocess.Popen[bytes], timeout: float = 30.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServeError(
                f"{name} on port {port} exited while starting (exit {process.returncode})"
            )
        try:
            urllib.request.urlopen(f"http://{HOST}:{port}/", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise ServeError(f"{name} on port {port} did not answer within {timeout:.0f}s")


def upload_server(backend: LocalBackend, port: int) -> ThreadingHTTPServer:
    """``PUT /uploads/<file name>`` (the body is the file) -> stored under the uploads prefix of
    the uploads bucket, which publishes ``ImageUploaded`` as a cloud upload would."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet: the map says it all
            return

        def _reply(self, status: int, document: dict[str, Any]) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_PUT(self) -> None:
            prefix = "/uploads/"
            name = (
                urllib.parse.unquote(self.path[len(prefix) :])
                if self.path.startswith(prefix)
                else ""
            )
            try:
                length = int(self.headers.get("Content-Length") or -1)
            except ValueError:
                length = -1
            if not name:
                self._reply(404, {"error": "PUT /uploads/<file name> with the file as the body"})
                return
            if not 0 <= length <= MAX_UPLOAD_BYTES:
                self._reply(
                    411 if length < 0 else 413,
                    {"error": f"Content-Length 0..{MAX_UPLOAD_BYTES} required"},
                )
                return
            data = self.rfile.read(length)
            content_type = self.headers.get("Content-Type")
            try:
                key = backend.upload(name, data, content_type=content_type)
            except PermanentError as exc:
                self._reply(400, {"error": exc.reason})
                return
            self._reply(201, {"bucket": backend.settings.uploads_bucket, "key": key})

    server = ThreadingHTTPServer((HOST, port), Handler)
    threading.Thread(target=server.serve_forever, name="uploads", daemon=True).start()
    return server


def http_delivery(ports: dict[str, int]):  # type: ignore[no-untyped-def]
    """A broker deliver function that POSTs structured CloudEvents to each consumer's port."""

    def deliver(message: Message) -> Verdict:
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports[message.consumer]}/",
            data=message.body,
            method="POST",
            headers={
                "Content-Type": "application/cloudevents+json",
                "X-Delivery-Attempt": str(message.attempt),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                outcome = response.headers.get(OUTCOME_HEADER)
                reason = response.headers.get(REASON_HEADER)
                return Verdict(
                    200 <= response.status < 300,
                    urllib.parse.unquote(reason) if reason else None,
                    outcome=outcome if outcome in ("duplicate", "dead-lettered") else None,
                )
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} from {message.consumer}"
            lease = exc.headers.get("Retry-After") if exc.code == 503 else None
            return Verdict(False, reason, float(lease) if lease else None)
        except OSError as exc:
            return Verdict(False, f"{message.consumer} unreachable: {exc}")

    return deliver


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child's process group, wait, SIGKILL what is left."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def plan_ports(base_port: int, count: int) -> list[int]:
    """``count`` ports from ``base_port`` on, all free; ``base_port=0`` picks free ones.

    Raises ``ServeError`` naming the first taken port.
    """
    if base_port == 0:
        ports: list[int] = []
        while len(ports) < count:
            port = _free_port()
            if port not in ports:
                ports.append(port)
        return ports
    ports = list(range(base_port, base_port + count))
    taken = [port for port in ports if not port_is_free(port)]
    if taken:
        raise ServeError(
            f"port {taken[0]} on {HOST} is already in use"
            + (f" (and {', '.join(map(str, taken[1:]))})" if taken[1:] else "")
            + f"; serve needs {base_port}-{base_port + count - 1}. Another `make serve`? Stop it,"
            " or use other ports: `make serve SERVE_PORT=0` picks free ones and prints them"
            " (or SERVE_PORT=N for N and up)"
        )
    return ports


class _Serving:
    """The running children, the upload server, the console and the broker loop of one
    ``serve``."""

    def __init__(
        self, home: Path, planned: list[int], console: tuple[str, int] | None = None
    ) -> None:
        self.home = home
        self.catalog = catalog = default_catalog()
        self.consumer_ports = dict(zip(catalog.consumers, planned, strict=False))
        offset = len(catalog.consumers)
        self.endpoint_ports = dict(zip(catalog.endpoints, planned[offset:], strict=False))
        self.uploads_port = planned[-1]
        self.started: list[tuple[str, int, subprocess.Popen[bytes]]] = []
        self.runtime = Path(tempfile.mkdtemp(prefix="eventsuite-serve-"))
        self.uploads: ThreadingHTTPServer | None = None
        self.backend: LocalBackend | None = None
        self.console_address = console
        self.console: ConsoleServer | None = None

    def start(self) -> None:
        home = self.home.resolve()
        # Every process appends its JSON lines to one log beside the state (and to the console).
        log_file = home.with_name(home.name + ".log")
        env = {"EVENTSUITE_HOME": str(home), "EVENTSUITE_LOG_FILE": str(log_file)}
        roles = [
            *(
                ("handle_event", "cloudevent", name, port, "EVENTSUITE_CONSUMER")
                for name, port in self.consumer_ports.items()
            ),
            *(
                ("handle_http", "http", name, port, "EVENTSUITE_ENDPOINT")
                for name, port in self.endpoint_ports.items()
            ),
        ]
        for target, signature, name, port, variable in roles:
            process = _start(target, signature, port, {**env, variable: name}, self.runtime / name)
            self.started.append((name, port, process))
        for name, port, process in self.started:
            _wait_ready(name, port, process)
        self.home.mkdir(parents=True, exist_ok=True)
        self.backend = LocalBackend.open(self.home)
        self.uploads = upload_server(self.backend, self.uploads_port)
        if self.console_address is not None:
            from functions.local.console.app import start_console

            host, port = self.console_address
            try:
                self.console = start_console(
                    self.home,
                    self.backend,
                    host=host,
                    port=port,
                    endpoint_ports=self.endpoint_ports,
                )
            except OSError as exc:
                raise ServeError(f"the console cannot listen on {host}:{port}: {exc}") from exc

    def announce(self) -> None:
        for name, port in self.consumer_ports.items():
            print(f"consumer {name:<15} http://{HOST}:{port}/  (CloudEvents)")
        for name, port in self.endpoint_ports.items():
            spec = self.catalog.endpoint(name)
            print(f"endpoint {name:<15} {spec.method} http://{HOST}:{port}/  ({spec.path})")
        print(f"uploads  {'(files)':<15} PUT  http://{HOST}:{self.uploads_port}/uploads/<name>")
        ports: dict[str, Any] = {
            "consumers": self.consumer_ports,
            "endpoints": self.endpoint_ports,
            "uploads": self.uploads_port,
        }
        if self.console is not None:
            print(f"console  {'(browser)':<15} {self.console.url}")
            ports["console"] = self.console.port
        # Atomic (temp file + rename): tools and tests poll for this file and read it at once.
        partial = self.home / "ports.json.partial"
        partial.write_text(json.dumps(ports, indent=2))
        partial.replace(self.home / "ports.json")
        print(f"state in {self.home}/ - Ctrl-C to stop", flush=True)

    def loop(self, *, once: bool) -> int:
        assert self.backend is not None
        deliver = http_delivery(self.consumer_ports)
        schedules = self.catalog.schedules.values()
        every = min((s.every_minutes for s in schedules), default=0) * 60
        next_schedule = time.monotonic() + every
        while True:
            for name, port, process in self.started:
                if process.poll() is not None:
                    raise ServeError(f"{name} on port {port} stopped (exit {process.returncode})")
            self.backend.broker.run_until_idle(deliver, max_seconds=2.0)
            if once and self.backend.broker.pending() == 0:
                return 0
            if every and time.monotonic() >= next_schedule:  # the clouds' timers, locally
                self.backend.run_schedules()
                next_schedule = time.monotonic() + every
            time.sleep(0.2)

    def stop(self) -> None:
        if self.console is not None:
            self.console.stop()
        if self.uploads is not None:
            self.uploads.shutdown()
            self.uploads.server_close()
        _stop([process for _, _, process in self.started])
        if self.backend is not None:
            self.backend.close()
        shutil.rmtree(self.runtime, ignore_errors=True)
        (self.home / "ports.json").unlink(missing_ok=True)  # the map is true only while running
        print(f"stopped {len(self.started)} processes", file=sys.stderr, flush=True)


def serve(
    home: Path,
    *,
    base_port: int = 8081,
    once: bool = False,
    console_host: str = HOST,
    console_port: int | None = None,
    console: bool = True,
) -> int:
    """Start the processes, print the map, deliver until Ctrl-C (or idle with ``once``).

    ``base_port=0`` picks free ports; the map is also written to ``<home>/ports.json`` (removed
    on exit). The console listens on ``console_host:console_port`` (0: a free port; by default
    8080, or a free one with ``base_port=0``), unless ``console`` is False. Returns 2 (after
    printing why) when a port is taken or a child does not start.
    """
    catalog = default_catalog()
    if console_port is None:
        console_port = 0 if base_port == 0 else CONSOLE_PORT
    try:
        planned = plan_ports(base_port, len(catalog.consumers) + len(catalog.endpoints) + 1)
        if console and console_port and (console_port in planned or not port_is_free(console_port)):
            raise ServeError(
                f"the console's port {console_port} on {HOST} is already in use; another "
                "`make serve`? Stop it, or pick another: `make serve CONSOLE_PORT=0` (a free "
                "one, printed) or CONSOLE_PORT=N"
            )
    except ServeError as exc:
        print(f"serve: error: {exc}", file=sys.stderr)
        return 2
    # SIGTERM (from a supervisor or `kill`) must stop the children too, like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    serving = _Serving(home, planned, (console_host, console_port) if console else None)
    try:
        serving.start()
        serving.announce()
        return serving.loop(once=once)
    except ServeError as exc:
        print(f"serve: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C must not cut the cleanup short and leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        serving.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
