"""The catalog, asserted on what Terraform plans (not on the HCL text).

For every root and every tfvars variant, `terraform show -json` of a *resolved* plan (computed
attributes hold per-resource placeholders, as after an apply; see tests/terraform/plans.py) must
contain, for each catalog consumer: its queue or subscription, its dead-letter destination with
the catalog's delivery attempts, its function with the catalog's memory and timeout (AWS, GCP), the
AWS event source mapping with ReportBatchItemFailures and the catalog's batch size, and its alarms;
for each HTTP endpoint its function (and route); for each schedule its trigger, function and alarm.
Wiring is followed through the placeholders: the mapping reads *this* queue, dead letters go to
*this* consumer's topic. A copy of the catalog with one more consumer proves the roots derive their
consumers from the catalog.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import tfgate

from tests.terraform import plans

CATALOG = json.loads(tfgate.CATALOG.read_text(encoding="utf-8"))
VARIANTS = [(root, name) for root in plans.ALL_ROOTS for name in plans.variants(root)]


def find(plan: dict[str, Any], type_: str, key: str, name: str | None = None) -> dict[str, Any]:
    """The one planned resource of `type_` (and resource `name`) for catalog key `key`."""
    found = [
        r
        for r in plans.resources(plan, type_)
        if (r.get("index") == key or f'["{key}"]' in r["address"])
        and (name is None or r["name"] == name)
    ]
    assert len(found) == 1, (
        f"expected one {type_}{'.' + name if name else ''} for {key!r}, found {len(found)}"
    )
    return found[0]["values"]


def all_of(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return plans.resources(plan, type_)


def event_types(consumer: dict[str, Any]) -> set[str]:
    return {CATALOG["events"][e]["type"] for e in consumer["subscribes"]}


UPLOAD_EVENT = "ImageUploaded"  # delivered by the storage service, not the app's bus/topic


def check_aws(plan: dict[str, Any], catalog: dict[str, Any], alerts: bool = True) -> None:
    for key, c in catalog["consumers"].items():
        queue = find(plan, "aws_sqs_queue", key, "queue")
        dlq = find(plan, "aws_sqs_queue", key, "dlq")
        redrive = json.loads(queue["redrive_policy"])
        assert redrive == {
            "deadLetterTargetArn": dlq["arn"],
            "maxReceiveCount": c["max_delivery_attempts"],
        }, key
        assert queue["visibility_timeout_seconds"] >= 6 * c["timeout_seconds"], key
        fn = find(plan, "aws_lambda_function", key)
        assert (fn["memory_size"], fn["timeout"]) == (c["memory_mb"], c["timeout_seconds"]), key
        esm = find(plan, "aws_lambda_event_source_mapping", key)
        assert esm["event_source_arn"] == queue["arn"] and esm["function_name"] == fn["arn"], key
        assert esm["function_response_types"] == ["ReportBatchItemFailures"], key
        assert esm["batch_size"] == c["batch_size"], key
        app_events = event_types(c) - {CATALOG["events"][UPLOAD_EVENT]["type"]}
        if app_events:
            rule = find(plan, "aws_cloudwatch_event_rule", key, "consumer")
            assert set(json.loads(rule["event_pattern"])["detail-type"]) == app_events, key
            target = find(plan, "aws_cloudwatch_event_target", key, "consumer")
            assert target["arn"] == queue["arn"] and target["rule"] == rule["name"], key
        if UPLOAD_EVENT in c["subscribes"]:
            target = find(plan, "aws_cloudwatch_event_target", key, "uploads")
            assert target["arn"] == queue["arn"], key
        alarms = {
            a["values"]["dimensions"].get("QueueName"): a["values"]
            for a in all_of(plan, "aws_cloudwatch_metric_alarm")
        }
        assert alarms[queue["name"]]["metric_name"] == "ApproximateAgeOfOldestMessage", key
        assert alarms[dlq["name"]]["metric_name"] == "ApproximateNumberOfMessagesVisible", key
        assert alarms[dlq["name"]]["threshold"] == 0, key
    routes = {r["values"]["route_key"]: r["values"] for r in all_of(plan, "aws_apigatewayv2_route")}
    for key, e in catalog["http_endpoints"].items():
        fn = find(plan, "aws_lambda_function", key)
        assert (fn["memory_size"], fn["timeout"]) == (e["memory_mb"], e["timeout_seconds"]), key
        route = routes[f"{e['method']} {e['path']}"]
        integration = find(plan, "aws_apigatewayv2_integration", key)
        assert route["target"] == f"integrations/{integration['id']}", key
        assert integration["integration_uri"] in (fn["arn"], fn["invoke_arn"]), key
    for key, s in catalog["schedules"].items():
        fn = find(plan, "aws_lambda_function", key)
        assert (fn["memory_size"], fn["timeout"]) == (s["memory_mb"], s["timeout_seconds"]), key
        schedule = find(plan, "aws_scheduler_schedule", key)
        assert schedule["schedule_expression"] == f"rate({s['every_minutes']} minutes)", key
        (target,) = schedule["target"]
        dlq = find(plan, "aws_sqs_queue", key, "schedule_dlq")
        assert target["arn"] == fn["arn"] and target["dead_letter_config"] == [
            {"arn": dlq["arn"]}
        ], key
        find(plan, "aws_cloudwatch_metric_alarm", key, "schedule_errors")
        find(plan, "aws_cloudwatch_metric_alarm", key, "schedule_dlq_depth")


def _memory_mib(value: str) -> int:
    m = re.fullmatch(r"(\d+)(Mi|M|Gi|G)", value)
    assert m, value
    return int(m.group(1)) * (1024 if m.group(2).startswith("G") else 1)


def check_gcp(plan: dict[str, Any], catalog: dict[str, Any], alerts: bool = True) -> None:
    policies = [p["values"] for p in all_of(plan, "google_monitoring_alert_policy")]
    for key, c in catalog["consumers"].items():
        fn = find(plan, "google_cloudfunctions2_function", key, "consumer")
        (svc,) = fn["service_config"]
        assert (_memory_mib(svc["available_memory"]), svc["timeout_seconds"]) == (
            c["memory_mb"],
            c["timeout_seconds"],
        ), key
        dl_topic = find(plan, "google_pubsub_topic", key, "dead_letter")
        subs = [
            r["values"]
            for r in all_of(plan, "google_pubsub_subscription")
            if r["name"] == "consumer" and str(r.get("index", "")).split("/")[0] == key
        ]
        assert subs, f"{key}: no subscription"
        attempts = min(100, max(5, c["max_delivery_attempts"]))  # Pub/Sub accepts 5..100
        for sub in subs:
            assert sub["dead_letter_policy"] == [
                {"dead_letter_topic": dl_topic["id"], "max_delivery_attempts": attempts}
            ], key
            (push,) = sub["push_config"]
            assert push["push_endpoint"].startswith(svc["uri"]), f"{key}: pushes elsewhere"
        dl_sub = find(plan, "google_pubsub_subscription", key, "dead_letter")
        assert dl_sub["topic"] == dl_topic["id"], f"{key}: dead letters nobody keeps"
        filters = " ".join(s["filter"] or "" for s in subs)
        for t in event_types(c) - {CATALOG["events"][UPLOAD_EVENT]["type"]}:
            assert f'"{t}"' in filters, f"{key}: no subscription filter for {t}"
        for sub_name in {s["name"] for s in subs} | {dl_sub["name"]}:
            assert any(
                f'subscription_id = "{sub_name}"' in json.dumps(p["conditions"]).replace('\\"', '"')
                for p in policies
            ), f"{key}: no alert on {sub_name}"
    for key, e in catalog["http_endpoints"].items():
        (svc,) = find(plan, "google_cloudfunctions2_function", key, "http")["service_config"]
        assert (_memory_mib(svc["available_memory"]), svc["timeout_seconds"]) == (
            e["memory_mb"],
            e["timeout_seconds"],
        ), key
    for key, s in catalog["schedules"].items():
        (svc,) = find(plan, "google_cloudfunctions2_function", key, "schedule")["service_config"]
        assert (_memory_mib(svc["available_memory"]), svc["timeout_seconds"]) == (
            s["memory_mb"],
            s["timeout_seconds"],
        ), key
        job = find(plan, "google_cloud_scheduler_job", key)
        assert job["schedule"] == f"*/{s['every_minutes']} * * * *", key
        assert job["http_target"][0]["uri"].startswith(svc["uri"]), key
        find(plan, "google_monitoring_alert_policy", key, "schedule_failures")
    # alerts_enabled = false keeps the policies, switched off
    assert {p["enabled"] for p in policies} == {alerts}


def check_azure(plan: dict[str, Any], catalog: dict[str, Any], alerts: bool = True) -> None:
    # Flex Consumption apps (one per function, or per group in function_apps): instance memory is
    # per app, timeouts and maxDequeueCount live in host.json (functions.azure.hostjson --check).
    apps = {r["index"]: r["values"] for r in all_of(plan, "azurerm_function_app_flex_consumption")}
    functions = {**catalog["consumers"], **catalog["http_endpoints"], **catalog["schedules"]}
    assert apps, "no function app"
    for name, app in apps.items():
        members = [functions[name]] if name in functions else list(functions.values())
        assert app["instance_memory_in_mb"] >= max(f["memory_mb"] for f in members), name
    queues = {q["values"]["name"]: q["values"] for q in all_of(plan, "azurerm_storage_queue")}
    containers = {c["values"]["name"] for c in all_of(plan, "azurerm_storage_container")}
    subscriptions = [
        *all_of(plan, "azurerm_eventgrid_event_subscription"),
        *all_of(plan, "azurerm_eventgrid_system_topic_event_subscription"),
    ]
    query_alerts = [
        a["values"] for a in all_of(plan, "azurerm_monitor_scheduled_query_rules_alert_v2")
    ]
    for key, c in catalog["consumers"].items():
        queue = f"{key}-events"
        assert queue in queues and f"{queue}-poison" in queues, key
        mine = [
            s["values"]
            for s in subscriptions
            if s["values"]["storage_queue_endpoint"][0]["queue_name"] == queue
        ]
        assert mine, f"{key}: no event subscription delivers to {queue}"
        delivered: set[str] = set()
        for sub in mine:
            assert sub["retry_policy"][0]["max_delivery_attempts"] == c["max_delivery_attempts"], (
                key
            )
            (dead,) = sub["storage_blob_dead_letter_destination"]
            assert dead["storage_blob_container_name"] in containers, key
            delivered |= set(sub["included_event_types"])
        for t in event_types(c) - {CATALOG["events"][UPLOAD_EVENT]["type"]}:
            assert t in delivered, f"{key}: {t} not delivered"
        if UPLOAD_EVENT in c["subscribes"]:
            assert "Microsoft.Storage.BlobCreated" in delivered, key
        for suffix in ("messages", "poison"):
            q = queue if suffix == "messages" else f"{queue}-poison"
            assert any(f"/{q}/messages" in a["criteria"][0]["query"] for a in query_alerts), (
                f"{key}: no alert on {q}"
            )
    for key in catalog["schedules"]:
        assert any(f'"{key}"' in a["criteria"][0]["query"] for a in query_alerts), (
            f"{key}: no failure alert"
        )


CHECKS = {"aws": check_aws, "gcp": check_gcp, "azure": check_azure}


@pytest.fixture(scope="module")
def resolved_plans(gate: tuple[Any, Path]) -> dict[tuple[str, str], Any]:
    return plans.all_plans(resolved=True)


def test_catalog_has_consumers_endpoints_and_schedules() -> None:
    assert CATALOG["consumers"] and CATALOG["http_endpoints"] and CATALOG["schedules"]


@pytest.mark.parametrize(("root", "variant"), VARIANTS, ids=[f"{r}-{v}" for r, v in VARIANTS])
def test_plan_matches_the_catalog(
    root: str, variant: str, resolved_plans: dict[tuple[str, str], Any]
) -> None:
    plan = resolved_plans[(root, variant)]
    if isinstance(plan, Exception):
        pytest.fail(str(plan))
    tfvars = plans.variants(root)[variant].read_text(encoding="utf-8")
    alerts = re.search(r"^harness_alerts_enabled\s*=\s*false", tfvars, re.M) is None
    CHECKS[root.removesuffix("-harness")](plan, CATALOG, alerts)


@pytest.mark.parametrize("root", plans.ROOTS)
def test_a_new_catalog_consumer_appears_in_the_plan(
    root: str, gate: tuple[Any, Path], tmp_path: Path
) -> None:
    """One more catalog entry, no Terraform change: the plan grows by that consumer's resources."""
    repo = tmp_path / "repo"
    shutil.copytree(
        tfgate.REPO / "terraform",
        repo / "terraform",
        ignore=shutil.ignore_patterns(
            ".terraform", "node_modules", "tools", "*.tfvars", "*.tfstate*"
        ),
    )
    for name in tfgate.READ_BY_ROOTS:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tfgate.REPO / name, repo / name)
    catalog = json.loads(tfgate.CATALOG.read_text(encoding="utf-8"))
    catalog["consumers"]["auditor"] = {
        **catalog["consumers"]["notifier"],
        "max_delivery_attempts": 7,
        "memory_mb": 512,
        "timeout_seconds": 45,
        "batch_size": 3,
    }
    (repo / "shared" / "catalog" / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    needs = json.loads(
        (tfgate.REPO / "shared" / "catalog" / "needs.json").read_text(encoding="utf-8")
    )
    for section in needs.values():
        if isinstance(section, dict) and "notifier" in section:
            section["auditor"] = section["notifier"]
    (repo / "shared" / "catalog" / "needs.json").write_text(json.dumps(needs), encoding="utf-8")
    tf = gate[0]
    tree = tfgate.prepare_tree(tf, repo, roots=[root])
    example = (tfgate.REPO / "terraform" / root / "terraform.tfvars.example").read_text()
    plan = tfgate.plan(tf, tree, root, example, resolved=True)
    CHECKS[root](plan, catalog)
    with pytest.raises(AssertionError):
        CHECKS[root](plans.plan_json(root, "example", resolved=True), catalog)
