"""What a cloud platform does around the deployed functions, for the smoke's emulator stacks.

``HttpFront`` plays the HTTP front door (API Gateway, Cloud Run's URL, the Functions host): a
real HTTP server on 127.0.0.1 that turns each request into the platform's request shape and
calls the function. ``Pump`` plays the event delivery (event source mappings, push
subscriptions, queue triggers, storage notifications): a background thread that runs one
delivery round after another; a consumer can be paused to simulate it not running.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support import LOOPBACK

# (method, path, headers, body) -> (status, headers, body)
Route = Callable[[str, str, Mapping[str, str], bytes], tuple[int, Mapping[str, str], bytes]]


class HttpFront:
    """A threaded HTTP server routing ``(METHOD, path)`` to a function call."""

    def __init__(self, routes: Mapping[tuple[str, str], Route]) -> None:
        self.routes = dict(routes)
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                route = front.routes.get(("POST", path))
                if route is None:
                    status, headers, answer = 404, {}, b"no route"
                else:
                    try:
                        status, headers, answer = route(
                            "POST", path, dict(self.headers.items()), body
                        )
                    except Exception as error:  # the platform's own 500
                        status, headers, answer = 500, {}, repr(error).encode()
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{LOOPBACK}:{self.server.server_address[1]}"

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


class Pump:
    """Runs ``step(paused)`` in a loop until closed; ``paused`` names consumers not running."""

    def __init__(self, step: Callable[[set[str]], Any], *, interval: float = 0.05) -> None:
        self.step, self.interval = step, interval
        self.paused: set[str] = set()
        self.errors: list[str] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="pump")
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(set(self.paused))
            except Exception as error:  # kept for the test's report; delivery goes on
                self.errors.append(f"{type(error).__name__}: {error}")
            time.sleep(self.interval)

    def close(self) -> None:
        """Stop after the current round."""
        self._stop.set()
        self.thread.join(timeout=60)
