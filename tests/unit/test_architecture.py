"""Dependency rules that must not rot: the core imports no cloud SDK; cold starts stay lean."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("boto3", "botocore", "google", "azure", "functions_framework", "flask", "moto")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_shared_imports_no_cloud_sdk() -> None:
    offenders = []
    files = sorted((ROOT / "shared").rglob("*.py"))
    assert len(files) > 10
    for path in files:
        for name in _imports(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_shared_does_not_import_the_entry_points() -> None:
    for path in sorted((ROOT / "shared").rglob("*.py")):
        assert not any(n.split(".")[0] == "functions" for n in _imports(path)), path


def test_the_ast_walk_catches_a_cloud_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from google.cloud import pubsub_v1\nimport boto3.session\n")
    assert {"google.cloud", "boto3.session"} <= _imports(bad)


@pytest.mark.parametrize(
    "module",
    [
        "shared.orders.payments",
        "shared.orders.api",
        "shared.orders.webhooks",
        "shared.orders.outbox",
        "shared.handlers.notifications",
        "shared.dispatch",
        "functions.common.runtime",
    ],
)
def test_order_path_never_imports_pillow_or_libvips(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "sys.exit(1 if any(m.split('.')[0] in ('PIL', 'pyvips') for m in sys.modules) else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0


def test_only_a_jpeg_thumbnail_loads_libvips() -> None:
    """The indexer shares the image package: it must not pay for libvips at start."""
    code = (
        "import sys, shared.handlers.images, shared.images.metadata, shared.images.thumbnails; "
        "sys.exit(1 if 'pyvips' in sys.modules else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0
