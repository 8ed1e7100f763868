"""`terraform fmt` style: terraform when installed, else the same hclwrite formatter via npm.

The fallback is @cdktn/hcl-tools (hclwrite compiled to wasm; `npm ci --prefix terraform/tools`).
With neither available the check skips, or fails in CI (CI=true).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.terraform.conftest import missing_tool, tfcheck

MISFORMATTED = (
    'resource "aws_sqs_queue" "q" {\n  name = "a"\n'
    '    visibility_timeout_seconds = 60\n  tags = {\n  a="b"\n  }\n}\n'
)
FORMATTED = (
    'resource "aws_sqs_queue" "q" {\n'
    '  name                       = "a"\n  visibility_timeout_seconds = 60\n'
    '  tags = {\n    a = "b"\n  }\n}\n'
)


def _engines() -> list[str]:
    out = []
    if tfcheck.find_terraform():
        out.append("terraform")
    if tfcheck.find_hcl_tools() and shutil.which("node"):
        out.append("hcl-tools")
    return out


def test_terraform_tree_is_formatted() -> None:
    result = tfcheck.fmt_check(tfcheck.TERRAFORM_DIR)
    if result.engine is None:
        missing_tool(f"no formatter: {result.reason}")
    assert not result.unformatted, (
        f"not in `terraform fmt` style ({result.engine}); "
        "run `terraform fmt -recursive terraform`:\n"
        + "\n".join(f"{f}\n{d}" for f, d in result.unformatted.items())
    )


@pytest.mark.parametrize("engine", ["terraform", "hcl-tools"])
def test_formatter_flags_misformatted_file(tmp_path: Path, engine: str) -> None:
    if engine not in _engines():
        pytest.skip(f"{engine} not installed here")
    (tmp_path / "bad.tf").write_text(MISFORMATTED, encoding="utf-8")
    (tmp_path / "good.tf").write_text(FORMATTED, encoding="utf-8")
    result = tfcheck.fmt_check(tmp_path, engine)
    assert [Path(p).name for p in result.unformatted] == ["bad.tf"]
    assert "visibility_timeout_seconds = 60" in next(iter(result.unformatted.values()))


def test_fallback_agrees_with_terraform_on_this_tree(tmp_path: Path) -> None:
    if _engines() != ["terraform", "hcl-tools"]:
        pytest.skip("needs both terraform and @cdktn/hcl-tools to compare")
    files = [f for d in tfcheck.module_dirs(tfcheck.TERRAFORM_DIR) for f in tfcheck.tf_files(d)]
    # misformat every file the same way, then let both formatters repair the copies
    copies = []
    for i, f in enumerate(files):
        c = tmp_path / f"{i:03d}.tf"
        c.write_text(
            "\n".join(
                "  " + ln if ln.strip() else ln for ln in f.read_text(encoding="utf-8").split("\n")
            ),
            encoding="utf-8",
        )
        copies.append(c)
    node, tools, tfbin = shutil.which("node"), tfcheck.find_hcl_tools(), tfcheck.find_terraform()
    assert node and tools and tfbin
    by_tools = tfcheck.format_with_hcl_tools(node, tools, copies)
    subprocess.run(
        [tfbin, "fmt", "-no-color", str(tmp_path)],
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "CHECKPOINT_DISABLE": "1"},
    )
    differ = [
        files[i] for i, c in enumerate(copies) if by_tools[c] != c.read_text(encoding="utf-8")
    ]
    assert not differ, f"formatters disagree on {differ}"
