"""One JSON line per delivery, HTTP request and schedule run, with the ids to follow a flow."""

from __future__ import annotations

import json
import logging

import pytest

from functions.common.runtime import Runtime
from shared.envelope import new_event
from shared.http import HttpRequest
from shared.observability import JsonFormatter
from tests.builders import order_v2
from tests.fakes import fake_ports

ORDER = b'{"customer":{"email":"ann@example.com"},"currency":"EUR","items":[{"sku":"mug","quantity":1,"unit_price_minor":1250}]}'  # noqa: E501


def lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(record)) for record in caplog.records]


def test_requests_deliveries_and_schedule_runs_are_json_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ports = fake_ports()
    runtime = Runtime(ports)
    with caplog.at_level(logging.INFO, logger="eventsuite"):
        response = runtime.endpoint("orders_api")(
            HttpRequest("POST", "/orders", {"X-Correlation-Id": "corr-log-0001"}, ORDER)
        )
        event = new_event("OrderPlaced", order_v2(), source="urn:t", correlation_id="corr-log-2")
        runtime.consumer("notifier").dispatcher.deliver(event)
        runtime.schedule("order_reconciler")()
    records = lines(caplog)
    request = next(r for r in records if r.get("endpoint") == "orders_api")
    assert request["method"] == "POST" and request["route"] == "/orders"
    assert request["status"] == response.status == 202
    assert request["correlation_id"] == "corr-log-0001" and "latency_ms" in request
    assert request["event_id"] == response.body["event_id"]
    delivery = next(r for r in records if r.get("consumer") == "notifier")
    assert delivery["event_id"] == event["id"] and delivery["correlation_id"] == "corr-log-2"
    assert delivery["traceparent"] == event["traceparent"] and delivery["attempt"] == 1
    run = next(r for r in records if r.get("schedule") == "order_reconciler")
    assert "latency_ms" in run
    for record in records:
        assert record["timestamp"].endswith("+00:00") and record["severity"]
