"""Every .tf file under terraform/ parses with python-hcl2."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest

from tests.terraform.conftest import tfcheck

TF_FILES = [f for d in tfcheck.module_dirs(tfcheck.TERRAFORM_DIR) for f in tfcheck.tf_files(d)]


def test_there_is_terraform() -> None:
    assert TF_FILES, "no .tf files under terraform/"


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: str(p.relative_to(tfcheck.TERRAFORM_DIR)))
def test_parses(path: Path) -> None:
    # tfcheck.parse_file is hcl2.parses (python-hcl2) plus a walk into blocks and attributes,
    # cached so that the other checks do not parse the same text again.
    block = tfcheck.parse_file(path)
    assert block.blocks or not path.read_text(encoding="utf-8").strip()


def test_python_hcl2_load_api(tmp_path: Path) -> None:
    f = tmp_path / "x.tf"
    f.write_text('variable "a" {\n  default = 1\n}\n', encoding="utf-8")
    with f.open(encoding="utf-8") as fh:
        assert hcl2.load(fh)["variable"][0]['"a"']["default"] == 1


def test_parse_error_is_reported_with_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tf"
    bad.write_text('resource "aws_sqs_queue" "q" {\n  name = "x"\n', encoding="utf-8")
    findings = tfcheck.parse_all(tmp_path)
    assert [f.check for f in findings] == ["parse"]
    assert findings[0].file == bad
