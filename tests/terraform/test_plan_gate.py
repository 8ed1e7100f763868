"""The real Terraform core, offline: validate and plan every root with every tfvars variant.

Stand-in provider plugins serve the pinned providers' schemas (terraform/tools/tfgate.py), so
Terraform itself checks expression types, references, module inputs, conditionals, null objects,
blocks and arguments against the schema, and evaluates every variable validation and
precondition. Provider-side checks (enums, conflicts, API calls) need the real providers: CI's
cloud plan.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.terraform import plans

ROOTS = plans.ROOTS


@pytest.mark.parametrize("root", plans.ALL_ROOTS)
def test_validate_is_clean(gate: tuple[Any, Path], root: str) -> None:
    import tfgate

    result = tfgate.validate(gate[0], gate[1], root)
    problems = [
        f"{d['severity']}: {d['summary']}: {d.get('detail', '')}" for d in result["diagnostics"]
    ]
    assert result["valid"] and not problems, "\n".join(problems)


@pytest.mark.parametrize("root", plans.ALL_ROOTS)
def test_every_root_has_variants_beyond_the_example(root: str) -> None:
    assert len(plans.variants(root)) >= (2 if root.endswith("-harness") else 4), (
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


# Minimal tfvars per root: the required inputs only.
REQUIRED = {
    "aws": 'payment_provider = "stripe"\n',
    "gcp": 'project_id = "eventsuite-test-1"\nmail_from = "orders@example.com"\n'
    'payment_provider = "stripe"\n',
    "azure": 'mail_from = "orders@example.com"\norders_api_auth = { mode = "function_key" }\n'
    'payment_provider = "stripe"\n',
}
# Terraform's summaries for a value the configuration refused on purpose (a variable's type,
# nullable = false on a required input, or a validation message) ...
CLEAR_REFUSALS = (
    "Required variable not set",
    "Invalid value for variable",
    "Invalid value for input variable",
)


def _null_cases() -> list[tuple[str, str, str]]:
    """Per root: every optional input null at once (one plan), and each required input null."""
    cases = []
    for root in ROOTS:
        text = (plans.REPO / "terraform" / root / "variables.tf").read_text(encoding="utf-8")
        names = re.findall(r'^variable "(\w+)"', text, re.M)
        required = re.findall(r"^(\w+)\s*=", REQUIRED[root], re.M)
        optional = [n for n in names if n not in required]
        cases.append(
            (
                root,
                "every optional input",
                REQUIRED[root] + "".join(f"{n} = null\n" for n in optional),
            )
        )
        for name in required:
            base = re.sub(rf"^{name}\s*=.*\n", "", REQUIRED[root], flags=re.M)
            cases.append((root, name, f"{base}{name} = null\n"))
    return cases


def test_inputs_set_to_null_plan_or_are_refused_clearly(gate: tuple[Any, Path]) -> None:
    """`x = null` for the root inputs: it means the default (nullable = false), or it is optional
    by design, or Terraform refuses it with the variable's own message; never a crash inside a
    resource ("Attempt to get attribute from null value", "Null condition", ...). Optional
    inputs are nulled all at once (Terraform reports every failing expression of a plan)."""

    def one(case: tuple[str, str, str]) -> str | None:
        root, name, text = case
        try:
            plans.plan_text(root, text)
            return None
        except plans.GateError as exc:
            summaries = set(re.findall(r"^Error: (.+)$", str(exc), re.M))
            if (
                name != "every optional input"
                and summaries
                and all(s.startswith(CLEAR_REFUSALS) for s in summaries)
            ):
                return None
            return f"{root}: {name} = null -> {sorted(summaries)}\n{exc}"

    with ThreadPoolExecutor(max_workers=3) as pool:
        crashes = [c for c in pool.map(one, _null_cases()) if c]
    assert not crashes, "\n\n".join(crashes)


@pytest.mark.parametrize(
    ("root", "tfvars", "message"),
    [
        ("aws", REQUIRED["aws"] + 'mailer = "smtp"\n', 'mailer = "smtp" needs var.smtp'),
        ("aws", REQUIRED["aws"] + 'orders_api_auth = { mode = "JWT" }\n', "needs jwt_issuer"),
        ("aws", REQUIRED["aws"] + 'mailer = "sendmail"\n', 'mailer must be "ses" or "smtp"'),
        ("aws", "", "No value for required variable"),
        (
            "gcp",
            REQUIRED["gcp"].replace('"stripe"', '"paypal"'),
            'payment_provider must be "stripe" or "simulated"',
        ),
        ("gcp", REQUIRED["gcp"] + "smtp = { port = 0 }\n", "smtp.port must be a TCP port"),
        ("gcp", 'mail_from = "orders@example.com"\n', "No value for required variable"),
        ("azure", REQUIRED["azure"] + 'name_prefix = "Bad_Prefix"\n', "name_prefix must be"),
    ],
    ids=[
        "aws-smtp-without-relay",
        "aws-jwt-without-issuer",
        "aws-unknown-mailer",
        "aws-no-payment-provider",
        "gcp-unknown-payment-provider",
        "gcp-bad-port",
        "gcp-no-project",
        "azure-bad-prefix",
    ],
)
def test_wrong_inputs_are_refused_with_their_message(
    gate: tuple[Any, Path], root: str, tfvars: str, message: str
) -> None:
    with pytest.raises(plans.GateError) as err:
        plans.plan_text(root, tfvars)
    assert message in re.sub(r"\s+", " ", str(err.value).replace("│", " ")), str(err.value)


def test_variants_and_harnesses_are_formatted(gate: tuple[Any, Path]) -> None:
    proc = gate[0].run(
        ["fmt", "-check", "-recursive", "-diff", "tests/terraform"], plans.REPO, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("root", ROOTS)
def test_simulated_payments_warn_in_every_cloud_plan(gate: tuple[Any, Path], root: str) -> None:
    """``payment_provider = "simulated"`` plans (a check block), with a failed check that says
    no money moves; ``stripe`` plans without it."""

    def payment_checks(tfvars: str) -> list[dict[str, Any]]:
        plan = plans.plan_text(root, tfvars)
        return [
            c
            for c in plan.get("checks", [])
            if c["address"]["to_display"] == "check.payments_take_money"
        ]

    (simulated,) = payment_checks(REQUIRED[root].replace('"stripe"', '"simulated"'))
    assert simulated["status"] == "fail"
    (problem,) = [p["message"] for i in simulated["instances"] for p in i.get("problems", [])]
    assert "approves orders without charging anyone" in problem
    (stripe,) = payment_checks(REQUIRED[root])
    assert stripe["status"] == "pass"
