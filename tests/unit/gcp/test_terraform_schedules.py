"""The Google Cloud Terraform for catalog schedules (terraform/modules/gcp-suite/schedules.tf).

Static checks on the parsed HCL (the same parser as terraform/tools/tfcheck.py): every
schedule gets its function, invoker grant, Cloud Scheduler job and alert policy with
``for_each`` over ``var.schedules``, the root feeds that from the catalog, and the names the
Python code relies on (entry point, ``EVENTSUITE_SCHEDULE``, the orders collection and the
fields of the reconciler's query) match. The cron expression, the alert's absence window and
the variable's validation are evaluated by ``terraform console`` when terraform is installed
(no provider is needed for that).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from functions.gcp.firestore_stores import ORDERS
from shared.catalog import default_catalog
from tests.support import ROOT

TOOLS = ROOT / "terraform" / "tools"
if str(TOOLS) not in sys.path:
    sys.path.insert(0, str(TOOLS))

import tfcheck  # noqa: E402

MODULE = ROOT / "terraform" / "modules" / "gcp-suite"
GCP_ROOT = ROOT / "terraform" / "gcp"


@pytest.fixture(scope="module")
def module() -> Any:
    return tfcheck.load_module(MODULE)


def resource(mod: Any, rtype: str, name: str) -> Any:
    [block] = [b for b in mod.top("resource") if b.labels == [rtype, name]]
    return block


def child(block: Any, *path: str) -> Any:
    for name in path:
        [block] = block.children(name)
    return block


def variable_default(mod: Any, name: str) -> Any:
    [block] = [b for b in mod.top("variable") if b.labels == [name]]
    return block.attrs["default"].value


@pytest.mark.parametrize(
    ("rtype", "name"),
    [
        ("google_cloudfunctions2_function", "schedule"),
        ("google_cloud_run_service_iam_member", "scheduler_invoker"),
        ("google_cloud_scheduler_job", "schedule"),
        ("google_monitoring_alert_policy", "schedule_failures"),
    ],
)
def test_every_schedule_gets_its_resources_from_the_catalog_variable(
    module: Any, rtype: str, name: str
) -> None:
    assert resource(module, rtype, name).attrs["for_each"].text == "var.schedules"


def test_the_root_feeds_the_schedules_from_the_catalog() -> None:
    root = tfcheck.load_module(GCP_ROOT)
    [call] = [c for c in root.top("module") if c.labels == ["gcp_suite"]]
    assert call.attrs["schedules"].text == "local.schedules"
    projection = root.locals()["schedules"].text
    assert "local.catalog.schedules" in projection
    for field in ("group", "every_minutes", "timeout_seconds", "memory_mb"):
        assert f"{field} " in projection or f"{field}=" in projection
    # the schedule's package is built and uploaded: its group counts among the root's groups
    assert "local.schedules" in root.locals()["groups"].text
    assert {o.labels[0] for o in root.top("output")} >= {"schedule_function_names", "schedule_jobs"}


def test_the_function_runs_handle_schedule_for_its_catalog_schedule(module: Any) -> None:
    function = resource(module, "google_cloudfunctions2_function", "schedule")
    entry_point = child(function, "build_config").attrs["entry_point"].text
    assert entry_point == "var.schedule_entry_point"
    assert variable_default(module, "schedule_entry_point") == "handle_schedule"
    main = (ROOT / "functions" / "gcp" / "main.py").read_text(encoding="utf-8")
    assert "@functions_framework.http\ndef handle_schedule(" in main
    service = child(function, "service_config")
    assert "EVENTSUITE_SCHEDULE = each.key" in service.attrs["environment_variables"].text
    assert service.attrs["ingress_settings"].text == "var.schedule_ingress_settings"
    assert variable_default(module, "schedule_ingress_settings") == "ALLOW_INTERNAL_ONLY"
    assert service.attrs["service_account_email"].text == (
        "google_service_account.function[each.key].email"
    )  # its own identity, with its group's grants (local.functions)
    assert "var.schedules" in module.locals()["functions"].text


def test_the_job_posts_with_an_oidc_token_of_the_scheduler_identity(module: Any) -> None:
    job = resource(module, "google_cloud_scheduler_job", "schedule")
    assert job.attrs["time_zone"].value == "Etc/UTC"
    assert job.attrs["schedule"].text == "local.schedule_crons[each.key]"
    assert child(job, "retry_config").attrs["retry_count"].text == "var.schedule_retry_count"
    target = child(job, "http_target")
    assert target.attrs["http_method"].value == "POST"
    function_uri = "google_cloudfunctions2_function.schedule[each.key].service_config[0].uri"
    assert target.attrs["uri"].text == function_uri
    token = child(target, "oidc_token")
    assert token.attrs["service_account_email"].text == "google_service_account.scheduler[0].email"
    assert token.attrs["audience"].text == function_uri
    # that identity may invoke the schedule functions, and only them
    invoker = resource(module, "google_cloud_run_service_iam_member", "scheduler_invoker")
    assert (
        invoker.attrs["member"].value
        == "serviceAccount:${google_service_account.scheduler[0].email}"
    )
    assert invoker.attrs["service"].text.startswith("google_cloudfunctions2_function.schedule[")
    granted = [
        b
        for b in module.top("resource")
        if "google_service_account.scheduler"
        in b.attrs.get("member", tfcheck.Attr("", 0, "", "")).text
    ]
    assert [b.labels for b in granted] == [
        ["google_cloud_run_service_iam_member", "scheduler_invoker"]
    ]


def test_the_cloud_scheduler_api_is_enabled_with_the_schedules(module: Any) -> None:
    services = module.locals()["project_services"].text
    assert '"cloudscheduler.googleapis.com"' in services
    assert "var.schedules" in services


def test_the_alert_watches_the_function_service_for_errors_and_silence(module: Any) -> None:
    policy = resource(module, "google_monitoring_alert_policy", "schedule_failures")
    kinds = [c.blocks[0].type for c in policy.children("conditions")]
    assert kinds == ["condition_threshold", "condition_absent"]
    errors = child(policy.children("conditions")[0], "condition_threshold")
    assert errors.attrs["comparison"].value == "COMPARISON_GT"
    assert errors.attrs["threshold_value"].value == 0
    assert 'one_of(\\"4xx\\", \\"5xx\\")' in errors.attrs["filter"].text
    service_filter = module.locals()["schedule_service_filter"].text
    assert "run.googleapis.com/request_count" in service_filter
    assert "local.schedule_names" in service_filter  # gen2: the Cloud Run service is the function


def test_the_orders_index_serves_the_reconciler_query(module: Any) -> None:
    index = resource(module, "google_firestore_index", "orders_stale_placed")
    assert index.attrs["collection"].value == ORDERS
    assert index.attrs["database"].text == "google_firestore_database.this.name"
    fields = [
        (f.attrs["field_path"].value, f.attrs["order"].value) for f in index.children("fields")
    ]
    assert fields == [("status", "ASCENDING"), ("placed_at", "ASCENDING")]
    query = (ROOT / "functions" / "gcp" / "firestore_stores.py").read_text(encoding="utf-8")
    assert 'FieldFilter("status", "=="' in query
    assert 'FieldFilter("placed_at", ">="' in query and '.order_by("placed_at")' in query


def test_the_orders_descending_index_serves_the_newest_orders_first(module: Any) -> None:
    index = resource(module, "google_firestore_index", "orders_newest_by_status")
    assert index.attrs["collection"].value == ORDERS
    fields = [
        (f.attrs["field_path"].value, f.attrs["order"].value) for f in index.children("fields")
    ]
    assert fields == [("status", "ASCENDING"), ("placed_at", "DESCENDING")]
    query = (ROOT / "functions" / "gcp" / "firestore_stores.py").read_text(encoding="utf-8")
    assert '.order_by("placed_at", direction=direction)' in query
    assert "Query.DESCENDING if newest_first" in query


# -- evaluated by terraform itself ------------------------------------------------------------


def _source(block: Any) -> str:
    lines = block.file.read_text(encoding="utf-8").splitlines()
    return "\n".join(lines[block.line - 1 : block.end_line])


@pytest.fixture(scope="module")
def console(
    module: Any, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[dict[str, Any], str], Any]:
    """``evaluate(schedules, expression)``: the module's ``schedules`` variable (with its
    validations) and schedule locals in a provider-free configuration, under terraform console."""
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: the schedule expressions are not evaluated")
    work = tmp_path_factory.mktemp("tf-schedules")
    [variable] = [b for b in module.top("variable") if b.labels == ["schedules"]]
    wanted = ("schedule_crons", "schedule_absence_seconds")
    locals_text = "\n".join(f"  {name} = {module.locals()[name].text}" for name in wanted)
    (work / "main.tf").write_text(
        f"{_source(variable)}\n\nlocals {{\n{locals_text}\n}}\n", encoding="utf-8"
    )

    def evaluate(schedules: dict[str, Any], expression: str) -> Any:
        (work / "in.tfvars.json").write_text(json.dumps({"schedules": schedules}))
        result = subprocess.run(
            [terraform, "console", "-var-file=in.tfvars.json"],
            input=f"jsonencode({expression})\n",
            cwd=work,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise ValueError(result.stderr)
        return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))

    return evaluate


def _schedule(every_minutes: int, timeout_seconds: int = 60) -> dict[str, Any]:
    return {
        "group": "orders",
        "every_minutes": every_minutes,
        "timeout_seconds": timeout_seconds,
        "memory_mb": 256,
    }


def test_cron_and_absence_window_follow_every_minutes(console: Any) -> None:
    schedules = {
        "every_5": _schedule(5),
        "every_1": _schedule(1),
        "hourly": _schedule(60),
        "every_6h": _schedule(360),
        "daily": _schedule(1440),
    }

    assert console(schedules, "local.schedule_crons") == {
        "every_5": "*/5 * * * *",
        "every_1": "*/1 * * * *",
        "hourly": "0 * * * *",
        "every_6h": "0 */6 * * *",
        "daily": "0 0 * * *",
    }
    # three missed periods, at least 10 minutes, at most Cloud Monitoring's 23.5 hours
    assert console(schedules, "local.schedule_absence_seconds") == {
        "every_5": 900,
        "every_1": 600,
        "hourly": 10800,
        "every_6h": 64800,
        "daily": 84600,
    }


def test_the_catalog_schedules_pass_the_variable_validation(console: Any) -> None:
    schedules = {
        name: _schedule(spec.every_minutes, spec.timeout_seconds)
        for name, spec in default_catalog().schedules.items()
    }
    assert schedules, "the catalog has no schedules"
    crons = console(schedules, "local.schedule_crons")
    assert crons["order_reconciler"] == "*/5 * * * *"


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (_schedule(7), "every_minutes must divide an hour"),
        (_schedule(90), "every_minutes must divide an hour"),
        (_schedule(5, timeout_seconds=1800), "timeout_seconds must be an integer in 1..1770"),
    ],
)
def test_uneven_or_too_long_schedules_are_refused(
    console: Any, schedule: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        console({"bad": schedule}, "local.schedule_crons")
