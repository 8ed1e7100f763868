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
# (headers, body) -> why the request is refused, or None
Route = Callable[[str, str, Mapping[str, str], bytes], tuple[int, Mapping[str, str], bytes]]
Refusal = Callable[[Mapping[str, str], bytes], str | None]


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
        self.rounds = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="pump")
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(set(self.paused))
            except Exception as error:  # kept for the test's report; delivery goes on
                self.errors.append(f"{type(error).__name__}: {error}")
            self.rounds += 1
            time.sleep(self.interval)

    def pause(self, consumer: str) -> None:
        """Stop delivering to ``consumer`` from now on: returns once a round that started
        after the call has finished (the round in flight may still have delivered)."""
        self.paused.add(consumer)
        target = self.rounds + 2
        deadline = time.monotonic() + 60
        while self.rounds < target and time.monotonic() < deadline:
            time.sleep(self.interval)

    def close(self) -> None:
        """Stop after the current round."""
        self._stop.set()
        self.thread.join(timeout=60)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, whatever the case the client spelled it in."""
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def requiring(route: Route, refusal: Refusal) -> Route:
    """``route`` behind an authorizer: 401 with the reason when ``refusal`` gives one."""

    def call(
        method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        reason = refusal(headers, body)
        if reason:
            return 401, {"Content-Type": "text/plain"}, reason.encode()
        return route(method, path, headers, body)

    return call


def bearer(token: str) -> Refusal:
    """An identity-token check (Cloud Run IAM, Entra ID): the exact bearer token."""

    def refusal(headers: Mapping[str, str], body: bytes) -> str | None:
        return None if header(headers, "Authorization") == f"Bearer {token}" else "bad token"

    return refusal


def function_key(key: str) -> Refusal:
    """The Functions host's key check."""

    def refusal(headers: Mapping[str, str], body: bytes) -> str | None:
        return None if header(headers, "x-functions-key") == key else "bad function key"

    return refusal


def sigv4(url: str, region: str, credentials: Any) -> Refusal:
    """API Gateway's ``AWS_IAM`` authorizer for a POST to ``url``: recompute the Signature V4
    over the headers the caller signed (botocore's signer, the caller's time) and compare.
    The signature covers the body's hash, so a changed body is refused too."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    def refusal(headers: Mapping[str, str], body: bytes) -> str | None:
        authorization = header(headers, "Authorization") or ""
        stamp = header(headers, "X-Amz-Date") or ""
        prefix = "AWS4-HMAC-SHA256 Credential="
        if not authorization.startswith(prefix) or not stamp:
            return "missing SigV4 Authorization or X-Amz-Date"
        fields = dict(
            part.strip().split("=", 1)
            for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(",")
        )
        scope = fields["Credential"].split("/", 1)[1]
        if scope != f"{stamp[:8]}/{region}/execute-api/aws4_request":
            return f"wrong credential scope {scope}"
        signed = fields["SignedHeaders"].split(";")
        request = AWSRequest(
            method="POST",
            url=url,
            data=body,
            headers={name: header(headers, name) or "" for name in signed},
        )
        request.context["timestamp"] = stamp
        signer = SigV4Auth(credentials, "execute-api", region)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        return None if expected == fields["Signature"] else "SigV4 signature does not match"

    return refusal
