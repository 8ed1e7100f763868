"""The AWS Terraform for catalog schedules, read with the offline parser (terraform/tools).

`terraform plan` cannot run here, so these pin what the plan would contain: every schedule
resource is driven by the catalog (`for_each` over the schedules the root reads from
catalog.json), the scheduler is exact and retried with a dead-letter queue, and each role may
do only what the job needs. The catalog parity gate (tfcheck.py parity) covers consumers only.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from functions.aws.adapters.dynamodb import ORDERS_OUTBOX_INDEX
from shared.catalog import default_catalog
from tests.integration.aws.topology import resource_names

ROOT = Path(__file__).resolve().parents[3]
TOOLS = ROOT / "terraform" / "tools"
MODULE = ROOT / "terraform" / "modules" / "aws-suite"
ROOT_CONFIG = ROOT / "terraform" / "aws"

if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))
tfcheck = pytest.importorskip("tfcheck")

SCHEDULE_RESOURCES = {
    ("aws_sqs_queue", "schedule_dlq"),
    ("aws_lambda_function_event_invoke_config", "schedule"),
    ("aws_iam_role", "scheduler"),
    ("aws_iam_role_policy", "scheduler"),
    ("aws_scheduler_schedule", "schedule"),
    ("aws_cloudwatch_metric_alarm", "schedule_errors"),
    ("aws_cloudwatch_metric_alarm", "schedule_dlq_depth"),
}


@pytest.fixture(scope="module")
def module() -> Any:
    return tfcheck.load_module(MODULE)


def resource(module: Any, rtype: str, name: str) -> Any:
    (found,) = [b for b in module.top("resource") if b.labels == [rtype, name]]
    return found


def local(module: Any, name: str) -> str:
    (found,) = [b.attrs[name].text for b in module.top("locals") if name in b.attrs]
    return str(found)


def block(parent: Any, name: str) -> Any:
    (found,) = [b for b in parent.blocks if b.type == name]
    return found


def test_the_root_feeds_the_catalog_schedules_to_the_module() -> None:
    root = tfcheck.load_module(ROOT_CONFIG)
    (call,) = root.top("module")
    assert call.attrs["schedules"].text == "try(local.catalog.schedules, {})"
    groups = "\n".join(b.attrs["groups"].text for b in root.top("locals") if "groups" in b.attrs)
    assert "local.catalog.schedules" in groups  # the schedule's group zip is packaged
    outputs = {b.labels[0] for b in root.top("output")}
    assert {"schedule_function_names", "schedules"} <= outputs


def test_every_schedule_resource_is_for_each_over_the_catalog_schedules(module: Any) -> None:
    assert "for name, s in var.schedules" in local(module, "schedules")
    for rtype, name in SCHEDULE_RESOURCES:
        assert resource(module, rtype, name).attrs["for_each"].text == "local.schedules", name
    # The function, its role, policy, log group and X-Ray attachment are the shared ones.
    functions = local(module, "functions")
    assert "for name, s in local.schedules" in functions
    assert '"functions.aws.entrypoint.handle_schedule"' in functions
    assert "EVENTSUITE_SCHEDULE = name" in functions
    variable = next(b for b in module.top("variable") if b.labels == ["schedules"])
    assert len([b for b in variable.blocks if b.type == "validation"]) >= 4


def test_names_match_the_python_topology(module: Any) -> None:
    schedules = local(module, "schedules")
    for template in (
        'function_name       = "${var.name_prefix}-${name}"',
        'schedule_name       = "${var.name_prefix}-${name}"',
        'dlq_name            = "${var.name_prefix}-${name}-dlq"',
    ):
        assert template in schedules, template
    names = resource_names("p", account_id="111122223333", region="eu-west-1")
    for name, own in names.schedules.items():
        assert (own.function, own.schedule, own.dlq) == (f"p-{name}", f"p-{name}", f"p-{name}-dlq")


def test_the_schedule_is_exact_retried_and_dead_lettered(module: Any) -> None:
    schedule = resource(module, "aws_scheduler_schedule", "schedule")
    assert block(schedule, "flexible_time_window").attrs["mode"].text == '"OFF"'
    assert schedule.attrs["schedule_expression"].text == "each.value.expression"
    expression = local(module, "schedules")
    assert '"rate(1 minute)"' in expression and '"rate(${s.every_minutes} minutes)"' in expression
    target = block(schedule, "target")
    assert target.attrs["arn"].text == "aws_lambda_function.function[each.key].arn"
    assert target.attrs["role_arn"].text == "aws_iam_role.scheduler[each.key].arn"
    retry = block(target, "retry_policy")
    assert retry.attrs["maximum_event_age_in_seconds"].text == "each.value.invoke_max_age_seconds"
    dead = block(target, "dead_letter_config")
    assert dead.attrs["arn"].text == "aws_sqs_queue.schedule_dlq[each.key].arn"
    dlq = resource(module, "aws_sqs_queue", "schedule_dlq")
    assert dlq.attrs["sqs_managed_sse_enabled"].text == "true"
    # The function's own asynchronous failures land in the same queue.
    function = resource(module, "aws_lambda_function", "function")
    (dynamic,) = [b for b in function.blocks if b.labels == ["dead_letter_config"]]
    assert "aws_sqs_queue.schedule_dlq" in dynamic.attrs["for_each"].text


def _statements(text: str) -> list[str]:
    return re.findall(r"\{[^{}]*Action[^{}]*\}", text)


def test_the_scheduler_role_may_only_invoke_its_function_and_dead_letter(module: Any) -> None:
    trust = resource(module, "aws_iam_role", "scheduler").attrs["assume_role_policy"].text
    assert '"scheduler.amazonaws.com"' in trust and '"aws:SourceAccount"' in trust
    assert "aws_scheduler_schedule_group.this[0].arn" in trust  # its own group, not "default"
    policy = resource(module, "aws_iam_role_policy", "scheduler").attrs["policy"].text
    statements = _statements(policy)
    assert len(statements) == 2
    invoke, dead_letter = statements
    assert '["lambda:InvokeFunction"]' in invoke
    assert "[aws_lambda_function.function[each.key].arn]" in invoke
    assert '["sqs:SendMessage"]' in dead_letter
    assert "[aws_sqs_queue.schedule_dlq[each.key].arn]" in dead_letter
    assert "*" not in policy


def test_the_schedule_function_queries_only_the_outbox_index(module: Any) -> None:
    # grants.tf: the relay's orders port is a Query on the sparse outbox index, then a read and
    # an update of each pending order; no Scan, no delete.
    grants = local(module, "port_grants")
    (schedule,) = re.findall(r"schedule = \[\n(.*?)\n\s*\]", grants, flags=re.DOTALL)
    assert '["dynamodb:Query"]' in schedule and '["table:orders_outbox_index"]' in schedule
    assert '["dynamodb:GetItem", "dynamodb:UpdateItem"]' in schedule
    assert "Scan" not in schedule and "Delete" not in schedule
    targets = local(module, "grant_targets")
    outbox_index = "${aws_dynamodb_table.orders.arn}/index/${local.orders_outbox_index}"
    assert f'"table:orders_outbox_index" = ["{outbox_index}"]' in targets
    assert local(module, "orders_outbox_index") == json.dumps(ORDERS_OUTBOX_INDEX)


def test_the_orders_table_declares_the_status_and_outbox_indexes(module: Any) -> None:
    orders = resource(module, "aws_dynamodb_table", "orders")
    indexes = {b.attrs["name"].text: b for b in orders.blocks if b.type == "global_secondary_index"}
    outbox = indexes["local.orders_outbox_index"]
    assert (outbox.attrs["hash_key"].text, outbox.attrs["range_key"].text) == (
        '"outbox_pending"',
        '"updated_at"',
    )
    status = indexes["local.orders_status_index"]
    assert (status.attrs["hash_key"].text, status.attrs["range_key"].text) == (
        '"status"',
        '"placed_at"',
    )
    assert status.attrs["projection_type"].text == '"ALL"'
    attributes = {b.attrs["name"].text for b in orders.blocks if b.type == "attribute"}
    assert {'"status"', '"placed_at"'} <= attributes


def test_the_errors_alarm_watches_the_schedule_function(module: Any) -> None:
    alarm = resource(module, "aws_cloudwatch_metric_alarm", "schedule_errors")
    assert (alarm.attrs["namespace"].text, alarm.attrs["metric_name"].text) == (
        '"AWS/Lambda"',
        '"Errors"',
    )
    assert alarm.attrs["threshold"].text == "0"
    assert alarm.attrs["comparison_operator"].text == '"GreaterThanThreshold"'
    dimensions = alarm.attrs["dimensions"].text
    assert "aws_lambda_function.function[each.key].function_name" in dimensions


def test_the_catalog_schedules_fit_the_module_variable() -> None:
    """What the module's validations demand, checked on today's catalog."""
    for name, spec in default_catalog().schedules.items():
        assert re.fullmatch(r"[a-z][a-z0-9_-]{0,31}", name)
        assert spec.group == "orders"
        assert 1 <= spec.every_minutes <= 1440
        assert 1 <= spec.timeout_seconds <= 900 and 128 <= spec.memory_mb <= 10240
        assert name not in default_catalog().consumers and name not in default_catalog().endpoints
