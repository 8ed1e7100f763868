"""The gate proves itself: broken copies of the roots, each with one mistake, must be rejected.

Each mutation adds a file (or rewrites one line of a root) in a private copy of the repository's
Terraform, then runs `terraform validate` and, if that passes, `terraform plan` of the root's
example tfvars through the same gate as test_plan_gate.py. The mistake must be reported with
Terraform's own diagnostic. Most of these are invisible to a schema-only check (types, references,
cycles, for_each over unknown values, module input types, conditionals, null objects).
"""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tfgate


@dataclass(frozen=True)
class Mutation:
    name: str
    root: str
    file: str  # relative to terraform/; a new file is added, an existing one is edited
    text: str  # the added file, or the replacement of `pattern`
    expect: str  # Terraform's diagnostic summary (a substring)
    pattern: str | None = None  # regex of the line to replace in an existing file


AWS_MOD = "modules/aws-suite/zz_mutation.tf"
M = [
    Mutation(
        "type error",
        "aws",
        AWS_MOD,
        'resource "aws_sqs_queue" "m" {\n  delay_seconds = "soon"\n}\n',
        "Incorrect attribute value type",
    ),
    Mutation(
        "bad attribute reference",
        "aws",
        AWS_MOD,
        'output "m" {\n  value = [for q in aws_sqs_queue.queue : q.arnn]\n}\n',
        "Unsupported attribute",
    ),
    Mutation(
        "cycle",
        "aws",
        AWS_MOD,
        'locals {\n  m_a = local.m_b\n  m_b = local.m_a\n}\noutput "m" {\n  value = local.m_a\n}\n',
        "Cycle",
    ),
    Mutation(
        "for_each over values known only after apply",
        "aws",
        AWS_MOD,
        'resource "aws_sqs_queue" "m" {\n'
        "  for_each = toset([for q in aws_sqs_queue.queue : q.arn])\n"
        "  name     = each.key\n}\n",
        "Invalid for_each argument",
    ),
    Mutation(
        "wrong module input type",
        "aws",
        "aws/main.tf",
        '  log_retention_days = "forever"',
        "Invalid value for input variable",
        pattern=r"^\s*log_retention_days\s*=\s*var\.log_retention_days$",
    ),
    Mutation(
        "missing object attribute",
        "aws",
        "aws/main.tf",
        '  orders_api_auth = { jwt_issuer = "https://issuer.example.com/" }',
        'attribute "mode" is required',
        pattern=r"^\s*orders_api_auth\s*=\s*var\.orders_api_auth$",
    ),
    Mutation(
        "mismatched conditional types",
        "aws",
        AWS_MOD,
        'output "m" {\n  value = var.name_prefix == "" ? "a" : ["b"]\n}\n',
        "Inconsistent conditional result types",
    ),
    Mutation(
        "block written as an argument",
        "aws",
        AWS_MOD,
        'resource "aws_lambda_event_source_mapping" "m" {\n  function_name = "f"\n'
        "  scaling_config = { maximum_concurrency = 2 }\n}\n",
        "Unsupported argument",
    ),
    Mutation(
        "argument written as a block",
        "aws",
        AWS_MOD,
        'resource "aws_sqs_queue" "m" {\n  tags {\n    a = "b"\n  }\n}\n',
        "Unsupported block type",
    ),
    Mutation(
        "unknown argument",
        "aws",
        AWS_MOD,
        'resource "aws_sqs_queue" "m" {\n  visibility_timeout = 30\n}\n',
        "Unsupported argument",
    ),
    Mutation(
        "too many blocks",
        "aws",
        AWS_MOD,
        'resource "aws_lambda_event_source_mapping" "m" {\n  function_name = "f"\n'
        "  scaling_config {\n    maximum_concurrency = 2\n  }\n"
        "  scaling_config {\n    maximum_concurrency = 3\n  }\n}\n",
        "Too many scaling_config blocks",
    ),
    Mutation(
        "missing required argument",
        "aws",
        AWS_MOD,
        'resource "aws_lambda_event_source_mapping" "m" {\n  batch_size = 1\n}\n',
        "Missing required argument",
    ),
    Mutation(
        "unknown resource type",
        "aws",
        AWS_MOD,
        'resource "aws_sqs_queu" "m" {\n  name = "m"\n}\n',
        "Invalid resource type",
    ),
    Mutation(
        "undeclared variable",
        "aws",
        AWS_MOD,
        'output "m" {\n  value = var.no_such_input\n}\n',
        "Reference to undeclared input variable",
    ),
    Mutation(
        "index into a set",
        "aws",
        AWS_MOD,
        'resource "aws_lambda_event_source_mapping" "m" {\n  function_name = "f"\n'
        '  function_response_types = ["ReportBatchItemFailures"]\n}\n'
        'output "m" {\n  value = aws_lambda_event_source_mapping.m.function_response_types[0]\n}\n',
        "Invalid index",
    ),
    Mutation(
        "attribute of a null object (plan only)",
        "aws",
        AWS_MOD,
        'output "m" {\n  value = var.smtp.host\n}\n',
        "Attempt to get attribute from null value",
    ),
    Mutation(
        "missing module output",
        "aws",
        "aws/zz_mutation.tf",
        'output "m" {\n  value = module.suite.no_such_output\n}\n',
        "Unsupported attribute",
    ),
    Mutation(
        "provider block missing its required block",
        "azure",
        "azure/zz_mutation.tf",
        'provider "azurerm" {\n  alias = "m"\n}\n'
        'resource "azurerm_resource_group" "m" {\n  provider = azurerm.m\n'
        '  name     = "m"\n  location = "westeurope"\n}\n',
        "Insufficient features blocks",
    ),
    Mutation(
        "wrong type in a nested block",
        "gcp",
        "modules/gcp-suite/zz_mutation.tf",
        'resource "google_pubsub_subscription" "m" {\n  name  = "m"\n  topic = "t"\n'
        '  dead_letter_policy {\n    max_delivery_attempts = "five"\n  }\n}\n',
        "Incorrect attribute value type",
    ),
]


def _mutated_copy(base: Path, m: Mutation) -> Path:
    repo = base / re.sub(r"\W+", "-", m.name)
    shutil.rmtree(repo, ignore_errors=True)
    for name in (*tfgate.READ_BY_ROOTS,):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tfgate.REPO / name, repo / name)
    shutil.copytree(
        tfgate.REPO / "terraform",
        repo / "terraform",
        ignore=shutil.ignore_patterns(
            ".terraform", "node_modules", "tools", "*.tfvars", "*.tfstate*"
        ),
    )
    target = repo / "terraform" / m.file
    if m.pattern is None:
        assert not target.exists(), f"{m.file} exists: pick a new file name"
        target.write_text(m.text)
    else:
        text = target.read_text()
        new, count = re.subn(m.pattern, m.text, text, count=1, flags=re.M)
        assert count == 1, f"{m.name}: the line to break is gone from {m.file}; update the mutation"
        target.write_text(new)
    return repo


def _verdict(tf: tfgate.Terraform, repo: Path, m: Mutation) -> tuple[str, str]:
    """("validate" | "plan" | "accepted", diagnostics) for one mutated copy."""
    try:
        tree = tfgate.prepare_tree(tf, repo, roots=[m.root])
    except tfgate.GateError as exc:
        return "init", str(exc)
    result = tfgate.validate(tf, tree, m.root)
    if not result["valid"]:
        return "validate", "\n".join(
            f"{d['summary']}: {d.get('detail', '')}" for d in result["diagnostics"]
        )
    example = (tfgate.REPO / "terraform" / m.root / "terraform.tfvars.example").read_text()
    try:
        tfgate.plan(tf, tree, m.root, example)
    except tfgate.GateError as exc:
        return "plan", str(exc)
    return "accepted", ""


@pytest.fixture(scope="module")
def verdicts(
    gate: tuple[Any, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, str]]:
    tf = gate[0]
    base = tmp_path_factory.mktemp("mutations")
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda m: _verdict(tf, _mutated_copy(base, m), m), M)
        return {m.name: r for m, r in zip(M, results, strict=True)}


def test_there_are_at_least_fifteen_mutations() -> None:
    assert len({m.name for m in M}) == len(M) >= 15


@pytest.mark.parametrize("mutation", M, ids=[m.name for m in M])
def test_the_gate_rejects(mutation: Mutation, verdicts: dict[str, tuple[str, str]]) -> None:
    stage, diagnostics = verdicts[mutation.name]
    assert stage != "accepted", f"the gate accepted: {mutation.name}"
    assert mutation.expect in diagnostics, (
        f"{stage} failed, but not with {mutation.expect!r}:\n{diagnostics}"
    )


def test_the_unbroken_copy_passes(gate: tuple[Any, Path], tmp_path: Path) -> None:
    """The harness itself: a copy with a harmless added file validates and plans."""
    harmless = Mutation(
        "harmless", "aws", AWS_MOD, 'output "m" {\n  value = var.name_prefix\n}\n', ""
    )
    assert _verdict(gate[0], _mutated_copy(tmp_path, harmless), harmless) == ("accepted", "")
