"""``make serve``: every consumer and HTTP endpoint under functions-framework, on local ports,
with the local broker delivering CloudEvents to them over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from functions.local.backend import LocalBackend
from functions.local.broker import Message, Verdict
from shared.catalog import default_catalog

SOURCE = Path(__file__).with_name("ff_main.py")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _start(target: str, signature: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
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
    return subprocess.Popen(command, env={**os.environ, **env}, start_new_session=True)


def _wait_ready(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"functions-framework on port {port} did not start")


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
                return Verdict(200 <= response.status < 300)
        except urllib.error.HTTPError as exc:
            reason = f"HTTP {exc.code} from {message.consumer}"
            lease = exc.headers.get("Retry-After") if exc.code == 503 else None
            return Verdict(False, reason, float(lease) if lease else None)
        except OSError as exc:
            return Verdict(False, f"{message.consumer} unreachable: {exc}")

    return deliver


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def serve(home: Path, *, base_port: int = 8081, once: bool = False) -> int:
    """Start the processes, print the map, deliver until Ctrl-C (or idle with ``once``).

    ``base_port=0`` picks free ports; the map is also written to ``<home>/ports.json``.
    """
    catalog = default_catalog()
    # SIGTERM (from a supervisor or `kill`) must stop the children too, like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    env = {"EVENTSUITE_HOME": str(home.resolve())}
    processes: list[subprocess.Popen[bytes]] = []
    consumer_ports: dict[str, int] = {}
    ports = iter(range(base_port, base_port + 1000)) if base_port else None

    def next_port() -> int:
        return next(ports) if ports is not None else _free_port()

    try:
        for name in catalog.consumers:
            consumer_ports[name] = port = next_port()
            processes.append(
                _start("handle_event", "cloudevent", port, {**env, "EVENTSUITE_CONSUMER": name})
            )
        endpoint_ports = {}
        for name in catalog.endpoints:
            endpoint_ports[name] = port = next_port()
            processes.append(
                _start("handle_http", "http", port, {**env, "EVENTSUITE_ENDPOINT": name})
            )
        for p in [*consumer_ports.values(), *endpoint_ports.values()]:
            _wait_ready(p)
        for name, p in consumer_ports.items():
            print(f"consumer {name:<12} http://127.0.0.1:{p}/  (CloudEvents)")
        for name, p in endpoint_ports.items():
            spec = catalog.endpoint(name)
            print(f"endpoint {name:<12} {spec.method} http://127.0.0.1:{p}/  ({spec.path})")
        home.mkdir(parents=True, exist_ok=True)
        (home / "ports.json").write_text(
            json.dumps({"consumers": consumer_ports, "endpoints": endpoint_ports}, indent=2)
        )
        print(f"state in {home}/ - Ctrl-C to stop", flush=True)
        backend = LocalBackend.open(home)
        deliver = http_delivery(consumer_ports)
        every = min((s.every_minutes for s in catalog.schedules.values()), default=0) * 60
        next_schedule = time.monotonic() + every
        while True:
            backend.broker.run_until_idle(deliver, max_seconds=2.0)
            if once and backend.broker.pending() == 0:
                return 0
            if every and time.monotonic() >= next_schedule:  # the clouds' timers, locally
                backend.run_schedules()
                next_schedule = time.monotonic() + every
            time.sleep(0.2)
    except KeyboardInterrupt:
        return 0
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
