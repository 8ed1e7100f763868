"""One error policy: the same failure gets the same HTTP answer on AWS, GCP, Azure and local.

Each backend is driven through its own platform translation (an API Gateway v2 event, a
functions-framework app of ``functions/gcp/main.py`` and of ``functions/local/ff_main.py``, an
Azure v2-model function) over the same fake ports.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from functions.common.runtime import Runtime
from shared.ports import OrderRecord, Ports
from tests.fakes import FakeOrderStore, fake_ports
from tests.support import ROOT

ORDER = {
    "customer": {"email": "ann@example.com"},
    "currency": "EUR",
    "items": [{"sku": "mug", "quantity": 1, "unit_price_minor": 1250}],
}


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: dict[str, Any]


Call = Callable[[Ports, str, bytes], Answer]


def via_aws(ports: Ports, path: str, body: bytes) -> Answer:
    from functions.aws.functions import HttpFunction

    function = HttpFunction(Runtime(ports).endpoint("orders_api"))
    event = {"requestContext": {"http": {"method": "POST"}}, "rawPath": path, "body": body.decode()}
    response = function(event, None)
    return Answer(
        response["statusCode"], response["headers"]["Content-Type"], json.loads(response["body"])
    )


def _flask_answer(client: Any, path: str, body: bytes) -> Answer:
    response = client.post(path, data=body, headers={"Content-Type": "application/json"})
    return Answer(response.status_code, response.headers["Content-Type"], response.get_json())


def via_gcp(ports: Ports, path: str, body: bytes) -> Answer:
    from functions.gcp import bootstrap
    from tests.integration.gcp.conftest import make_app

    bootstrap.install(ports, endpoint="orders_api")
    try:
        return _flask_answer(make_app("handle_http", endpoint="orders_api"), path, body)
    finally:
        bootstrap.reset()


def via_local(ports: Ports, path: str, body: bytes) -> Answer:
    import functions_framework

    @dataclass
    class Backend:
        runtime: Runtime

    source = ROOT / "functions" / "local" / "ff_main.py"
    # functions-framework registers the loaded source under its file name's stem.
    saved_path, saved_module = list(sys.path), sys.modules.get("ff_main")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EVENTSUITE_ENDPOINT", "orders_api")
        try:
            app = functions_framework.create_app("handle_http", str(source), "http")
            module = sys.modules["ff_main"]
            patch.setattr(module, "bootstrap", lambda: Backend(Runtime(ports)))
            return _flask_answer(app.test_client(), path, body)
        finally:
            sys.path[:] = saved_path
            if saved_module is None:
                sys.modules.pop("ff_main", None)
            else:
                sys.modules["ff_main"] = saved_module


def via_azure(ports: Ports, path: str, body: bytes) -> Answer:
    import azure.functions as func

    from functions.azure import bootstrap
    from tests.unit.azure.app_support import user_function

    names = ("objects", "orders", "publisher", "clock", "settings")
    bootstrap.configure({}, overrides={name: getattr(ports, name) for name in names})
    try:
        request = func.HttpRequest(
            method="POST", url=f"https://app.example{path}", headers={}, body=body
        )
        response = user_function("orders_api")(request)
    finally:
        bootstrap.reset()
    return Answer(response.status_code, response.mimetype, json.loads(response.get_body()))


BACKENDS: dict[str, Call] = {
    "aws": via_aws,
    "gcp": via_gcp,
    "azure": via_azure,
    "local": via_local,
}


class BrokenOrders(FakeOrderStore):
    def create(self, order: OrderRecord) -> tuple[OrderRecord, bool]:
        raise RuntimeError("connection pool exploded at 10.1.2.3")


CASES: dict[str, tuple[Callable[[], Ports], str, bytes, int, str]] = {
    "schema-invalid body": (fake_ports, "/orders", b'{"customer": {}}', 400, "invalid order"),
    "unknown route": (fake_ports, "/no/such/route", json.dumps(ORDER).encode(), 404, "not found"),
    "unexpected exception": (
        lambda: fake_ports(orders=BrokenOrders()),
        "/orders",
        json.dumps(ORDER).encode(),
        500,
        "internal error",
    ),
    "oversize body": (fake_ports, "/orders", b" " * 70_000 + b"{}", 413, "body too large"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_failure_gets_the_same_answer_everywhere(case: str) -> None:
    make_ports, path, body, status, title = CASES[case]
    answers = {name: call(make_ports(), path, body) for name, call in BACKENDS.items()}
    for name, answer in answers.items():
        assert answer.status == status, (name, answer)
        assert answer.content_type.startswith("application/problem+json"), (name, answer)
        assert answer.body["title"] == title and answer.body["status"] == status, (name, answer)
        assert "10.1.2.3" not in json.dumps(answer.body) and "Traceback" not in json.dumps(
            answer.body
        )
    bodies = {name: answer.body for name, answer in answers.items()}
    assert len({json.dumps(b, sort_keys=True) for b in bodies.values()}) == 1, bodies
