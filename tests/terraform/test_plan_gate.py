"""The real Terraform core, offline: validate and plan every root with every tfvars variant.

Stand-in provider plugins serve the pinned providers' schemas (terraform/tools/tfgate.py), so
Terraform itself checks expression types, references, module inputs, conditionals, null objects,
blocks and arguments against the schema, and evaluates every variable validation and
precondition. Provider-side checks (enums, conflicts, API calls) need the real providers: CI's
cloud plan.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.terraform import plans

ROOTS = plans.ROOTS


@pytest.mark.parametrize("root", ROOTS)
def test_validate_is_clean(gate: tuple[Any, Path], root: str) -> None:
    import tfgate

    result = tfgate.validate(gate[0], gate[1], root)
    problems = [
        f"{d['severity']}: {d['summary']}: {d.get('detail', '')}" for d in result["diagnostics"]
    ]
    assert result["valid"] and not problems, "\n".join(problems)


@pytest.mark.parametrize("root", ROOTS)
def test_every_root_has_variants_beyond_the_example(root: str) -> None:
    assert len(plans.variants(root)) >= 4, (
        f"add tfvars variants under tests/terraform/variants/{root}/"
    )


def test_every_variant_plans_without_errors(all_plans: dict[tuple[str, str], Any]) -> None:
    failures = {
        f"{root}/{name}": str(r)
        for (root, name), r in all_plans.items()
        if isinstance(r, Exception)
    }
    assert not failures, "\n\n".join(f"== {k}\n{v}" for k, v in failures.items())
    for (root, name), plan in all_plans.items():
        assert plan["errored"] is False, f"{root}/{name}"
        assert plans.resources(plan), f"{root}/{name} plans no resources"


def test_plans_mark_computed_attributes_unknown(plan_json: Any) -> None:
    plan = plan_json("aws", "example")
    queues = [r for r in plan["resource_changes"] if r["type"] == "aws_sqs_queue"]
    assert queues
    for queue in queues:
        assert queue["change"]["after_unknown"].get("arn") is True, "computed-only: unknown"
        assert queue["change"]["after"]["name"], "set by the configuration: known"
