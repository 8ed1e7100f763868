"""The Terraform for the catalog schedules agrees with the function app: the failed-run alert
matches the timer function's name, and the module accepts exactly the intervals the app can
schedule evenly."""

from __future__ import annotations

import re
from typing import Any

import pytest

from functions.azure.names import timer_schedule
from shared.catalog import default_catalog
from tests.support import ROOT

MODULE = ROOT / "terraform" / "modules" / "azure-suite"
AZURE_ROOT = ROOT / "terraform" / "azure"
CATALOG = default_catalog()


def _load(path: Any) -> dict[str, Any]:
    if not path.exists():
        pytest.skip(f"{path} is not in this checkout")
    hcl2 = pytest.importorskip("hcl2")
    with path.open() as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


def _blocks(parsed: dict[str, Any], kind: str) -> dict[str, Any]:
    """``resource``/``variable``/``module`` blocks by (unquoted) name; resources by type.name."""
    found: dict[str, Any] = {}
    for block in parsed.get(kind, []):
        for name, body in block.items():
            if kind == "resource":
                for label, spec in body.items():
                    found[f"{name.strip(chr(34))}.{label.strip(chr(34))}"] = spec
            else:
                found[name.strip('"')] = body
    return found


def test_each_schedule_gets_a_failed_run_alert_on_its_function_name() -> None:
    resources = _blocks(_load(MODULE / "monitoring.tf"), "resource")
    alert = resources["azurerm_monitor_scheduled_query_rules_alert_v2.schedule_failed"]
    assert alert["for_each"] == "${var.schedules}"
    assert alert["scopes"] == ["${azurerm_application_insights.this.id}"]
    [criteria] = alert["criteria"]
    query = " ".join(criteria["query"].split())
    # The function is registered under the schedule's name: the host's request name.
    assert 'requests | where name == "${each.key}" and success == false' in query
    assert (criteria["time_aggregation_method"], criteria["threshold"]) == ('"Count"', 0)


def test_the_root_passes_the_catalog_schedules() -> None:
    parsed = _load(AZURE_ROOT / "main.tf")
    [locals_] = parsed["locals"]
    assert "local.catalog.schedules" in locals_["schedules"]
    assert _blocks(parsed, "module")["suite"]["schedules"] == "${local.schedules}"
    for name, spec in CATALOG.schedules.items():
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", name), name
        assert spec.every_minutes in _allowed_intervals()


def _allowed_intervals() -> list[int]:
    variable = _blocks(_load(MODULE / "variables.tf"), "variable")["schedules"]
    conditions = " ".join(v["condition"] for v in variable["validation"])
    match = re.search(r"contains\(\[([\d, ]+)\], s\.every_minutes\)", conditions)
    assert match, conditions
    return [int(n) for n in match.group(1).split(",")]


def test_the_module_accepts_exactly_the_intervals_the_app_can_schedule() -> None:
    schedulable = []
    for minutes in range(1, 1441):
        try:
            timer_schedule(minutes)
        except ValueError:
            continue
        schedulable.append(minutes)
    assert _allowed_intervals() == schedulable
