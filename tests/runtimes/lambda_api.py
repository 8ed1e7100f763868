"""A local Lambda Runtime API (2018-06-01) and a function process under the real ``awslambdaric``.

The documented protocol, on 127.0.0.1:

* ``GET  /2018-06-01/runtime/invocation/next`` blocks until an invocation is queued; the event
  is the body, the request id and deadline are headers (``Lambda-Runtime-Aws-Request-Id``,
  ``Lambda-Runtime-Deadline-Ms``, ``Lambda-Runtime-Invoked-Function-Arn``, trace id);
* ``POST /2018-06-01/runtime/invocation/{id}/response`` - the handler's result (202);
* ``POST /2018-06-01/runtime/invocation/{id}/error`` - an invocation failed (202);
* ``POST /2018-06-01/runtime/init/error`` - the function could not start (202); the runtime
  client exits after it.

``LambdaProcess`` starts ``python -m awslambdaric <handler>`` the way Lambda's bootstrap does
(``_HANDLER``, ``LAMBDA_TASK_ROOT``, ``AWS_LAMBDA_RUNTIME_API``, the function's environment)
with only the unzipped package and the runtime's own packages (awslambdaric, boto3) on the
path.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support import LOOPBACK

PREFIX = "/2018-06-01/runtime"
TRACE_ID = "Root=1-00000000-000000000000000000000000;Sampled=0"


@dataclass
class Outcome:
    """How one invocation ended: ``response`` or ``error`` (with its JSON body)."""

    kind: str
    body: Any
    seconds: float

    @property
    def ok(self) -> bool:
        return self.kind == "response"


class InitError(RuntimeError):
    """The function reported ``/init/error`` (or died) before it could take invocations."""

    def __init__(self, body: Any) -> None:
        super().__init__(json.dumps(body) if not isinstance(body, str) else body)
        self.body = body


@dataclass
class _Pending:
    request_id: str
    event: bytes
    deadline_ms: int
    done: threading.Event
    started: float
    outcome: Outcome | None = None


class RuntimeApi:
    """The Runtime API server: ``invoke(event)`` queues an event and waits for its outcome."""

    def __init__(self, function_arn: str) -> None:
        self.function_arn = function_arn
        self.queue: queue.Queue[_Pending] = queue.Queue()
        self.pending: dict[str, _Pending] = {}
        self.init_error: Any = None
        self.init_failed = threading.Event()
        self.polled = threading.Event()  # the runtime asked for its first invocation
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _reply(
                self, status: int, body: bytes = b"{}", headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404)
                    return
                api.polled.set()
                item = api.queue.get()
                item.started = time.perf_counter()
                self._reply(
                    200,
                    item.event,
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": item.request_id,
                        "Lambda-Runtime-Deadline-Ms": str(item.deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                        "Lambda-Runtime-Trace-Id": TRACE_ID,
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                if self.path == f"{PREFIX}/init/error":
                    api.init_error = body
                    api.init_failed.set()
                    self._reply(202)
                    return
                parts = self.path.removeprefix(f"{PREFIX}/invocation/").split("/")
                item = api.pending.get(parts[0]) if len(parts) == 2 else None
                if item is None or parts[1] not in ("response", "error"):
                    self._reply(404)
                    return
                item.outcome = Outcome(parts[1], body, time.perf_counter() - item.started)
                item.done.set()
                self._reply(202)

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.address = f"{LOOPBACK}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def invoke(
        self, event: Any, *, timeout_seconds: float, process: subprocess.Popen[bytes] | None = None
    ) -> Outcome:
        """Queue one invocation and wait for its response, error, or the process's death."""
        item = _Pending(
            request_id=str(uuid.uuid4()),
            event=json.dumps(event).encode(),
            deadline_ms=int(time.time() * 1000 + timeout_seconds * 1000),
            done=threading.Event(),
            started=time.perf_counter(),
        )
        self.pending[item.request_id] = item
        self.queue.put(item)
        give_up = time.monotonic() + timeout_seconds + 30
        while not item.done.wait(0.05):
            if self.init_failed.is_set():
                raise InitError(self.init_error)
            if process is not None and process.poll() is not None:
                raise InitError(f"the runtime process exited with {process.returncode}")
            if time.monotonic() > give_up:
                raise TimeoutError(f"no outcome for invocation {item.request_id}")
        assert item.outcome is not None
        return item.outcome

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LambdaProcess:
    """One execution environment: the unzipped package under ``awslambdaric``."""

    def __init__(
        self,
        *,
        python: str,
        task_root: Path,
        runtime_dir: Path,
        handler: str,
        function_name: str,
        environment: dict[str, str],
        memory_mb: int | None,
        timeout_seconds: int,
        python_version: str,
        log: Path,
    ) -> None:
        self.timeout_seconds = timeout_seconds
        self.api = RuntimeApi(f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}")
        env = {
            "PATH": "/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            # Lambda's layout: the package first, then the runtime's own packages.
            "PYTHONPATH": f"{task_root}{os.pathsep}{runtime_dir}",
            "LAMBDA_TASK_ROOT": str(task_root),
            "LAMBDA_RUNTIME_DIR": str(runtime_dir),
            "AWS_LAMBDA_RUNTIME_API": self.api.address,
            "AWS_EXECUTION_ENV": f"AWS_Lambda_python{python_version}",
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb or 128),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
            "_HANDLER": handler,
            **environment,
        }
        self.log_path = log
        self.log = log.open("wb")
        self.started = time.perf_counter()
        # -s -S: nothing from the interpreter's own site-packages; PYTHONPATH is the only path.
        self.process = subprocess.Popen(
            [python, "-s", "-S", "-m", "awslambdaric", handler],
            cwd=task_root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def invoke(self, event: Any) -> Outcome:
        """One invocation through the Runtime API."""
        return self.api.invoke(event, timeout_seconds=self.timeout_seconds, process=self.process)

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.api.close()
        self.log.close()

    def __enter__(self) -> LambdaProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
