"""A local stand-in of the Stripe API's PaymentIntents, strict about what Stripe documents.

Serves ``POST /v1/payment_intents`` and ``GET /v1/payment_intents/{id}`` on 127.0.0.1 (a free
port) for the official SDK pointed at it (``base_addresses={"api": url}``). Facts from Stripe's
published OpenAPI description (github.com/stripe/openapi, ``spec3``) and the SDK's
``PaymentIntentCreateParams``: the create endpoint's form parameters, and the shape of a
``payment_intent`` object and of an error (``{"error": {"type", "code", "decline_code",
"message", "param", "payment_intent"}}``). It refuses what Stripe would refuse or what the
suite must never send:

* a parameter the endpoint does not document (400 ``parameter_unknown``), a missing amount or
  currency (400 ``parameter_missing``), an unknown nested key of ``automatic_payment_methods``;
* a POST without ``Idempotency-Key`` (the suite's contract: a retried charge is one charge);
  the same key with other parameters (400 ``idempotency_error``), as Stripe does;
* a request without ``Authorization: Bearer sk_test_...`` (401).

Test payment methods behave like Stripe's test mode: ``pm_card_visa`` succeeds,
``pm_card_chargeDeclined`` -> 402 ``card_declined``, ``pm_card_chargeDeclinedInsufficientFunds``
-> 402 ``insufficient_funds``, ``pm_card_authenticationRequired`` with
``error_on_requires_action`` -> 402 ``authentication_required``; an unknown ``pm_`` is 400
``resource_missing``. Tests queue failures (``fail_next``: 429, 500, ...) or a ``processing``
outcome (``process_next``).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# POST /v1/payment_intents: every form parameter Stripe documents (OpenAPI spec3).
CREATE_PARAMETERS = frozenset(
    {
        "allowed_payment_method_types", "amount", "amount_details", "application_fee_amount",
        "automatic_payment_methods", "capture_method", "confirm", "confirmation_method",
        "confirmation_token", "currency", "customer", "customer_account", "description",
        "error_on_requires_action", "excluded_payment_method_types", "expand", "hooks",
        "mandate", "mandate_data", "metadata", "off_session", "on_behalf_of", "payment_details",
        "payment_method", "payment_method_configuration", "payment_method_data",
        "payment_method_options", "radar_options", "receipt_email", "return_url",
        "setup_future_usage", "shipping", "statement_descriptor", "statement_descriptor_suffix",
        "transfer_data", "transfer_group", "use_stripe_sdk",
    }
)  # fmt: skip
AUTOMATIC_PAYMENT_METHODS = frozenset({"enabled", "allow_redirects"})
RETRIEVE_PARAMETERS = frozenset({"client_secret", "expand"})
TEST_CARDS = {
    "pm_card_visa": None,
    "pm_card_mastercard": None,
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": (
        "card_declined",
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    "pm_card_authenticationRequired": (
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}


@dataclass
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, str]


@dataclass
class StripeStandIn:
    """State and knobs of a running stand-in."""

    url: str = ""
    api_key: str = "sk_test_standin"
    requests: list[Recorded] = field(default_factory=list)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    process_next: int = 0
    _replies: dict[str, tuple[dict[str, str], int, dict[str, Any]]] = field(default_factory=dict)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def creates(self) -> list[Recorded]:
        """The POSTs that reached the create endpoint."""
        return [r for r in self.requests if r.method == "POST"]

    # -- the endpoints -------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], raw: str) -> tuple[int, Any]:
        """Status and JSON body for one request."""
        url = urlsplit(path)
        params = dict(parse_qsl(raw if method == "POST" else url.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(Recorded(method, url.path, headers, params))
            if headers.get("authorization") != f"Bearer {self.api_key}":
                return 401, _error("invalid_request_error", None, "Invalid API Key provided")
            if self.fail_next:
                status = self.fail_next.pop(0)
                kind = "rate_limit_error" if status == 429 else "api_error"
                return status, _error(kind, None, f"stand-in answers {status}")
            if method == "POST" and url.path == "/v1/payment_intents":
                return self._create(headers, params)
            if method == "GET" and url.path.startswith("/v1/payment_intents/"):
                return self._retrieve(url.path.rsplit("/", 1)[1], params)
        return 404, _error("invalid_request_error", "resource_missing", "Unrecognized request URL")

    def _create(self, headers: dict[str, str], params: dict[str, str]) -> tuple[int, Any]:
        key = headers.get("idempotency-key")
        if not key:
            return 400, _error("invalid_request_error", None, "the stand-in needs Idempotency-Key")
        if key in self._replies:
            first, status, body = self._replies[key]
            if first != params:
                message = "Keys for idempotent requests can only be used with the same parameters"
                return 400, _error("idempotency_error", None, message)
            return status, body
        status, body = self._new_intent(params)
        self._replies[key] = (params, status, body)
        return status, body

    def _new_intent(self, params: dict[str, str]) -> tuple[int, Any]:
        for name in params:
            top, _, nested = name.partition("[")
            if top not in CREATE_PARAMETERS:
                return 400, _error(
                    "invalid_request_error",
                    "parameter_unknown",
                    f"Received unknown parameter: {name}",
                    name,
                )
            if (
                top == "automatic_payment_methods"
                and nested.rstrip("]") not in AUTOMATIC_PAYMENT_METHODS
            ):
                return 400, _error(
                    "invalid_request_error",
                    "parameter_unknown",
                    f"Received unknown parameter: {name}",
                    name,
                )
        for required in ("amount", "currency"):
            if required not in params:
                return 400, _error(
                    "invalid_request_error",
                    "parameter_missing",
                    f"Missing required param: {required}",
                    required,
                )
        if (
            not params["amount"].isdigit()
            or len(params["currency"]) != 3
            or params["currency"] != params["currency"].lower()
        ):
            return 400, _error(
                "invalid_request_error",
                "parameter_invalid_integer",
                "Invalid amount or currency",
                "amount",
            )
        method = params.get("payment_method")
        if method is not None and method not in TEST_CARDS:
            return 400, _error(
                "invalid_request_error",
                "resource_missing",
                f"No such PaymentMethod: '{method}'",
                "payment_method",
            )
        intent = self._intent(params)
        self.intents[intent["id"]] = intent
        outcome = TEST_CARDS.get(method or "")
        if outcome is not None and params.get("confirm") == "true":
            code, decline_code, message = outcome
            if (
                code == "authentication_required"
                and params.get("error_on_requires_action") != "true"
            ):
                intent["status"] = "requires_action"
                return 200, intent
            error = {
                "code": code,
                "decline_code": decline_code,
                "message": message,
                "type": "card_error",
            }
            intent.update(status="requires_payment_method", last_payment_error=error)
            return 402, {
                "error": {**error, "charge": f"ch_{intent['id'][3:]}", "payment_intent": intent}
            }
        if params.get("confirm") == "true" and method:
            if self.process_next:
                self.process_next -= 1
                intent["status"] = "processing"
            else:
                intent.update(
                    status="succeeded",
                    amount_received=intent["amount"],
                    latest_charge=f"ch_{intent['id'][3:]}",
                )
        return 200, intent

    def _retrieve(self, intent_id: str, params: dict[str, str]) -> tuple[int, Any]:
        unknown = set(params) - RETRIEVE_PARAMETERS
        if unknown:
            return 400, _error(
                "invalid_request_error",
                "parameter_unknown",
                f"Received unknown parameter: {sorted(unknown)[0]}",
            )
        if intent_id not in self.intents:
            return 404, _error(
                "invalid_request_error",
                "resource_missing",
                f"No such payment_intent: '{intent_id}'",
                "intent",
            )
        return 200, self.intents[intent_id]

    def _intent(self, params: dict[str, str]) -> dict[str, Any]:
        """A ``payment_intent`` shaped like Stripe's documented example (fixtures3)."""
        number = next(self._ids)
        intent_id = f"pi_3Standin{number:016d}"
        metadata = {
            name[len("metadata[") : -1]: value
            for name, value in params.items()
            if name.startswith("metadata[")
        }
        return {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": None,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": params.get("capture_method", "automatic"),
            "client_secret": f"{intent_id}_secret_standin",
            "confirmation_method": "automatic",
            "created": 1_767_225_600 + number,
            "currency": params["currency"],
            "customer": None,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": metadata,
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": params.get("payment_method"),
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": None,
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_confirmation"
            if params.get("payment_method")
            else "requires_payment_method",
            "transfer_data": None,
            "transfer_group": None,
        }


def _error(kind: str, code: str | None, message: str, param: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": kind, "message": message}
    if code:
        error["code"] = code
    if param:
        error["param"] = param
    return {"error": error}


@contextmanager
def stripe_standin() -> Iterator[StripeStandIn]:
    """Run a stand-in on 127.0.0.1 (a free port) for the duration of the block."""
    state = StripeStandIn()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode() if length else ""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, body = state.handle(method, self.path, headers, raw)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_standin{len(state.requests)}")
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            self._answer("POST")

        def do_GET(self) -> None:
            self._answer("GET")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
