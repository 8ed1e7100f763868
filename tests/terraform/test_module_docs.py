"""Module READMEs carry inputs/outputs tables generated from variables.tf / outputs.tf."""

from __future__ import annotations

import shutil
from pathlib import Path

import gen_module_docs  # terraform/tools is on sys.path (conftest)
import pytest

from tests.terraform.conftest import tfcheck  # noqa: F401  (puts terraform/tools on sys.path)

MODULES = gen_module_docs.modules()


def test_there_are_modules() -> None:
    assert MODULES


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_readme_tables_are_current(module: Path) -> None:
    current, fresh = gen_module_docs.updated_readme(module)
    assert gen_module_docs.BEGIN in current, (
        f"{module}/README.md lacks the {gen_module_docs.BEGIN} markers"
    )
    assert current == fresh, (
        f"{module}/README.md is stale: run python terraform/tools/gen_module_docs.py"
    )


def test_generator_output(tmp_path: Path) -> None:
    (tmp_path / "variables.tf").write_text(
        'variable "consumers" {\n  description = "Catalog consumers | by name."\n'
        "  type = map(object({\n    timeout_seconds = number\n  }))\n}\n"
        'variable "prefix" {\n  type    = string\n  default = "es"\n}\n',
        encoding="utf-8",
    )
    (tmp_path / "outputs.tf").write_text(
        'output "queue_urls" {\n  description = "Per consumer."\n'
        "  value       = {}\n  sensitive   = true\n}\n",
        encoding="utf-8",
    )
    (tmp_path / "README.md").write_text(
        "# m\n\nIntro.\n\n<!-- BEGIN_TF_DOCS -->\nold\n<!-- END_TF_DOCS -->\n\nTail.\n",
        encoding="utf-8",
    )
    assert gen_module_docs.stale([tmp_path]) == [tmp_path / "README.md"]
    assert gen_module_docs.main([str(tmp_path)]) == 0
    text = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert text.startswith("# m\n\nIntro.\n\n<!-- BEGIN_TF_DOCS -->") and text.endswith(
        "<!-- END_TF_DOCS -->\n\nTail.\n"
    )
    assert (
        '| <a name="input_consumers"></a> `consumers` '
        "| <pre>map(object({<br/>  timeout_seconds = number<br/>}))</pre> "
        "| Catalog consumers \\| by name. | n/a | yes |"
    ) in text
    assert '| <a name="input_prefix"></a> `prefix` | `string` | n/a | `"es"` | no |' in text
    assert '| <a name="output_queue_urls"></a> `queue_urls` | Per consumer. | yes |' in text
    assert gen_module_docs.stale([tmp_path]) == []


def test_stale_readme_is_detected(tmp_path: Path) -> None:
    module = MODULES[0]
    copy = tmp_path / module.name
    shutil.copytree(module, copy)
    gen_module_docs.main([str(copy)])
    assert gen_module_docs.stale([copy]) == []
    variables = copy / "variables.tf"
    variables.write_text(
        variables.read_text(encoding="utf-8")
        + '\nvariable "brand_new" {\n  type        = string\n  description = "New."\n}\n',
        encoding="utf-8",
    )
    assert gen_module_docs.stale([copy]) == [copy / "README.md"]
    assert gen_module_docs.main([str(copy), "--check"]) == 1
