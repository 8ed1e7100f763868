"""The offline validator catches what `terraform validate` would: proven on broken copies.

Real modules are copied to tmp_path and broken the way people break them (a typo, a missing
required argument, a block written as an argument); synthetic snippets cover the rest.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.terraform.conftest import report, tfcheck

CLOUD_MODULES = {
    "aws": "modules/aws-suite",
    "gcp": "modules/gcp-suite",
    "azure": "modules/azure-suite",
}
PROVIDER_PREFIX = {"aws": "aws_", "gcp": "google_", "azure": "azurerm_"}


def _module(tf: Path, cloud: str) -> tfcheck.Module:
    directory = tf / CLOUD_MODULES[cloud]
    if not tfcheck.tf_files(directory):
        pytest.fail(f"terraform/{CLOUD_MODULES[cloud]} has no .tf files yet")
    return tfcheck.load_module(directory)


_TREES: dict[Path, tfcheck.Tree] = {}


def _schema(tf: Path, res: tfcheck.Block) -> dict:
    """The provider schema of one resource block (empty when we have no schema for it)."""
    tree = _TREES.get(tf) or _TREES.setdefault(tf, tfcheck.Tree.load(tf))
    mod = tree.modules[res.file.parent.resolve()]
    local = res.labels[0].split("_")[0]
    if local not in tree.provider_constraints(mod):
        return {"arguments": {}, "blocks": {}}
    source, cons = tree.provider_constraints(mod)[local]
    avail = tfcheck.available_schemas()[source]
    return tfcheck.load_schema(avail[tfcheck.pick_major(cons, avail)])["resources"].get(
        res.labels[0], {"arguments": {}, "blocks": {}}
    )


def _edit_line(path: Path, line: int, old: str, new: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert old in lines[line - 1], (old, lines[line - 1])
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path.write_text("".join(lines), encoding="utf-8")


def _delete_lines(path: Path, first: int, last: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    del lines[first - 1 : last]
    path.write_text("".join(lines), encoding="utf-8")


def _new(tf: Path) -> list[tfcheck.Finding]:
    return tfcheck.validate(tf)  # parses are cached on content: only the edited file is re-parsed


def test_typo_function_respons_types_is_caught(tf_copy: Path) -> None:
    mod = _module(tf_copy, "aws")
    esm = [
        r
        for r in mod.top("resource")
        if r.labels[0] == "aws_lambda_event_source_mapping" and "function_response_types" in r.attrs
    ]
    assert esm, "aws-suite has no aws_lambda_event_source_mapping with function_response_types"
    attr = esm[0].attrs["function_response_types"]
    before = {str(f) for f in _new(tf_copy)}
    _edit_line(esm[0].file, attr.line, "function_response_types", "function_respons_types")
    new = [f for f in _new(tf_copy) if str(f) not in before]
    assert [(f.file, f.line, f.check) for f in new] == [
        (esm[0].file, attr.line, "unknown-argument")
    ], report(new)
    assert "did you mean `function_response_types`?" in new[0].message


@pytest.mark.parametrize("cloud", list(CLOUD_MODULES))
def test_typo_missing_required_and_block_as_argument_in_each_module(
    tf_copy: Path, cloud: str
) -> None:
    mod = _module(tf_copy, cloud)
    resources = [r for r in mod.top("resource") if r.labels[0].startswith(PROVIDER_PREFIX[cloud])]
    assert resources, f"{cloud}: no resources to break"

    # 1. a typo in an optional argument written on one line
    target = next(
        (r, a)
        for r in resources
        for a in r.attrs.values()
        if a.line == a.end_line
        and a.name not in tfcheck.RESOURCE_META_ARGS
        and len(a.name) > 4
        and not _schema(tf_copy, r)["arguments"].get(a.name, {}).get("required", True)
    )
    res, attr = target
    typo = attr.name[:-2] + attr.name[-1]  # drop the next-to-last letter
    before = {str(f) for f in _new(tf_copy)}
    _edit_line(res.file, attr.line, f"{attr.name} ", f"{typo} ")
    new = [f for f in _new(tf_copy) if str(f) not in before]
    assert any(
        f.check == "unknown-argument"
        and f.line == attr.line
        and f"did you mean `{attr.name}`" in f.message
        for f in new
    ), report(new)
    _edit_line(res.file, attr.line, f"{typo} ", f"{attr.name} ")

    # 2. a required argument removed
    res, attr = next(
        (r, a)
        for r in resources
        for a in r.attrs.values()
        if a.line == a.end_line and _schema(tf_copy, r)["arguments"].get(a.name, {}).get("required")
    )
    _delete_lines(res.file, attr.line, attr.end_line)
    new = [f for f in _new(tf_copy) if str(f) not in before]
    assert any(
        f.check == "missing-argument" and f"`{attr.name}`" in f.message and f.file == res.file
        for f in new
    ), report(new)


@pytest.mark.parametrize("cloud", list(CLOUD_MODULES))
def test_block_written_as_argument_is_caught(tf_copy: Path, cloud: str) -> None:
    mod = _module(tf_copy, cloud)
    found = [
        (r, b)
        for r in mod.top("resource")
        for b in r.blocks
        if b.type in _schema(tf_copy, r)["blocks"]
        and not b.blocks
        and re.search(
            rf"^\s*{b.type}\s*{{\s*$", b.file.read_text(encoding="utf-8").splitlines()[b.line - 1]
        )
    ]
    assert found, f"{cloud}: no static nested block to break"
    _res, blk = found[0]
    before = {str(f) for f in _new(tf_copy)}
    _edit_line(blk.file, blk.line, f"{blk.type} {{", f"{blk.type} = {{")
    new = [f for f in _new(tf_copy) if str(f) not in before]
    assert any(
        f.check == "block-as-argument"
        and f.line == blk.line
        and f"`{blk.type}` is a block" in f.message
        for f in new
    ), report(new)


# ---- synthetic snippets: every kind of finding, and what must not be flagged ----------------

HEADER = """
terraform {
  required_providers {
    aws     = { source = "hashicorp/aws", version = "~> 6.0" }
    azurerm = { source = "hashicorp/azurerm", version = "~> 4.0" }
  }
}
"""


def _check(tmp_path: Path, body: str) -> list[tfcheck.Finding]:
    (tmp_path / "main.tf").write_text(HEADER + body, encoding="utf-8")
    return tfcheck.validate(tmp_path)


def test_clean_snippet_with_meta_arguments_dynamic_blocks_and_attributes_as_blocks(
    tmp_path: Path,
) -> None:
    findings = _check(
        tmp_path,
        """
variable "consumers" { type = map(any) }
resource "aws_lambda_event_source_mapping" "c" {
  for_each                = var.consumers
  provider                = aws
  depends_on              = []
  function_name           = "f"
  event_source_arn        = "arn"
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config { maximum_concurrency = 2 }
  dynamic "filter_criteria" {
    for_each = []
    content {
      dynamic "filter" {
        for_each = ["a"]
        iterator = f
        content { pattern = f.value }
      }
    }
  }
  lifecycle {
    create_before_destroy = true
    ignore_changes        = [tags]
    precondition {
      condition     = true
      error_message = "x"
    }
  }
}
resource "aws_security_group" "sg" {
  ingress {
    from_port = 0
  }
}
data "aws_iam_policy_document" "p" {
  statement { actions = ["s3:GetObject"] }
}
provider "azurerm" {
  features {}
}
""",
    )
    assert not findings, report(findings)


@pytest.mark.parametrize(
    ("snippet", "check", "needle"),
    [
        (
            'resource "aws_lamda_function" "f" {}',
            "unknown-type",
            "did you mean `aws_lambda_function`?",
        ),
        ('data "aws_iam_policy_documents" "p" {}', "unknown-type", "aws_iam_policy_document"),
        (
            'resource "aws_sqs_queue" "q" {\n  redrive_polcy = "x"\n}',
            "unknown-argument",
            "`redrive_policy`",
        ),
        (
            'resource "aws_lambda_event_source_mapping" "m" {\n'
            '  function_name = "f"\n  scaling_confg {}\n}',
            "unknown-block",
            "did you mean `scaling_config`?",
        ),
        (
            'resource "aws_lambda_event_source_mapping" "m" {\n'
            '  function_name = "f"\n  scaling_config = {}\n}',
            "block-as-argument",
            "`scaling_config` is a block",
        ),
        (
            'resource "aws_sqs_queue" "q" {\n  tags {}\n}',
            "argument-as-block",
            "`tags` is an argument",
        ),
        (
            'resource "aws_lambda_event_source_mapping" "m" {}',
            "missing-argument",
            "`function_name`",
        ),
        (
            'resource "aws_lambda_event_source_mapping" "m" {\n'
            '  function_name = "f"\n  scaling_config {}\n'
            "  scaling_config {}\n}",
            "too-many-blocks",
            "at most one `scaling_config`",
        ),
        (
            'resource "azurerm_eventgrid_event_subscription" "s" {\n  name = "n"\n  scope = "s"\n'
            "  retry_policy { max_delivery_attempts = 5 }\n}",
            "missing-argument",
            "`event_time_to_live`",
        ),
        ('provider "azurerm" {}', "missing-block", "`features"),
        (
            'resource "aws_sqs_queue" "q" {\n  lifecycle { prevent_destroyed = true }\n}',
            "unknown-argument",
            "`prevent_destroy`",
        ),
        (
            'resource "aws_lambda_event_source_mapping" "m" {\n  function_name = "f"\n'
            '  dynamic "scaling_config" { for_each = [] }\n}',
            "missing-block",
            "exactly one `content`",
        ),
    ],
)
def test_each_kind_of_mistake_is_reported(
    tmp_path: Path, snippet: str, check: str, needle: str
) -> None:
    findings = _check(tmp_path, snippet + "\n")
    assert any(f.check == check and needle in f.message for f in findings), report(findings)


@pytest.mark.parametrize(
    ("snippet", "needle"),
    [
        (
            'variable "consumers" {}\nresource "aws_sqs_queue" "q" {\n  name = var.consumer\n}',
            "`var.consumer` (did you mean `var.consumers`?)",
        ),
        (
            'resource "aws_sqs_queue" "dlq" {}\nresource "aws_sqs_queue" "q" {\n'
            "  redrive_policy = jsonencode({ deadLetterTargetArn = aws_sqs_queue.dlqq.arn })\n}",
            "`aws_sqs_queue.dlqq` (did you mean `aws_sqs_queue.dlq`?)",
        ),
        ('locals {\n  names = {}\n}\noutput "o" {\n  value = "${local.name}-x"\n}', "`local.name`"),
        (
            'output "o" {\n  value = data.aws_caller_identity.me.account_id\n}',
            "`data.aws_caller_identity.me`",
        ),
    ],
)
def test_undeclared_references_are_reported(tmp_path: Path, snippet: str, needle: str) -> None:
    findings = _check(tmp_path, snippet + "\n")
    assert [f.check for f in findings] == ["undeclared-reference"], report(findings)
    assert needle in findings[0].message


def test_references_in_plain_strings_and_comments_are_not_references(tmp_path: Path) -> None:
    findings = _check(
        tmp_path,
        """
resource "aws_sqs_queue" "q" {
  # aws_sqs_queue.gone is only mentioned in a comment
  name = "aws_sqs_queue.gone var.nope"
  tags = { note = <<-EOT
    local.nope and aws_sqs_queue.gone in a heredoc
    EOT
  }
}
""",
    )
    assert not findings, report(findings)


def test_missing_required_block(tmp_path: Path) -> None:
    findings = _check(
        tmp_path,
        """
provider "azurerm" {
  features {}
}
resource "azurerm_function_app_flex_consumption" "f" {
  name                        = "f"
  resource_group_name         = "rg"
  location                    = "westeurope"
  service_plan_id             = "p"
  storage_container_type      = "blobContainer"
  storage_container_endpoint  = "https://x"
  storage_authentication_type = "SystemAssignedIdentity"
  runtime_name                = "python"
  runtime_version             = "3.12"
}
""",
    )
    assert [f.check for f in findings] == ["missing-block"], report(findings)
    assert "site_config" in findings[0].message


def test_module_calls_are_checked_against_the_module_variables(tmp_path: Path) -> None:
    mod = tmp_path / "modules" / "m"
    mod.mkdir(parents=True)
    (mod / "variables.tf").write_text(
        'variable "consumers" {\n  type = map(any)\n}\nvariable "prefix" {\n  default = "x"\n}\n',
        encoding="utf-8",
    )
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(
        'module "m" {\n  source   = "../modules/m"\n  prefx    = "y"\n}\n'
        'module "gone" {\n  source = "../modules/nope"\n}\n',
        encoding="utf-8",
    )
    findings = tfcheck.validate(tmp_path)
    checks = {(f.check, f.line) for f in findings}
    assert ("unknown-input", 3) in checks, report(findings)
    assert ("missing-input", 1) in checks, report(findings)
    assert ("module-source", 6) in checks, report(findings)
    assert any("did you mean `prefix`?" in f.message for f in findings)


def test_module_outputs_must_exist(tmp_path: Path) -> None:
    mod = tmp_path / "modules" / "m"
    mod.mkdir(parents=True)
    (mod / "outputs.tf").write_text('output "queue_urls" {\n  value = {}\n}\n', encoding="utf-8")
    root = tmp_path / "root"
    root.mkdir()
    (root / "main.tf").write_text(
        'module "m" {\n  source = "../modules/m"\n}\n'
        'output "a" {\n  value = module.m.queue_url\n}\n'
        'output "b" {\n  value = module.m.queue_urls\n}\n',
        encoding="utf-8",
    )
    findings = tfcheck.validate(tmp_path)
    assert [(f.check, f.line) for f in findings] == [("undeclared-reference", 5)], report(findings)
    assert "did you mean `module.m.queue_urls`?" in findings[0].message


def test_unpinnable_provider_major_is_reported(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(
        "terraform {\n  required_providers {\n"
        '    aws = { source = "hashicorp/aws", version = "~> 99.0" }\n  }\n}\n'
        'resource "aws_sqs_queue" "q" {}\n',
        encoding="utf-8",
    )
    findings = tfcheck.validate(tmp_path)
    assert [f.check for f in findings] == ["provider-version"], report(findings)


def test_root_without_required_provider_configuration(tmp_path: Path) -> None:
    findings = _check(
        tmp_path,
        'resource "azurerm_resource_group" "rg" {\n  name     = "rg"\n  location = "w"\n}\n',
    )
    assert [f.check for f in findings] == ["missing-provider-config"], report(findings)
    assert "`features {}`" in findings[0].message
