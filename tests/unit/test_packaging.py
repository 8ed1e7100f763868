"""The pip command lines the packagers run (captured, not run: a real install needs PyPI)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from functions.aws import package as aws_package
from functions.azure import package as azure_package


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    captured: list[list[str]] = []

    def run(command: list[str], **_: Any) -> None:
        captured.append(command)

    monkeypatch.setattr(subprocess, "run", run)
    return captured


def _platforms(command: list[str]) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]


def _after(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def test_the_lambda_install_takes_binary_wheels_for_every_aarch64_tag(
    commands: list[list[str]], tmp_path: Path
) -> None:
    lock = tmp_path / "orders.txt"
    aws_package.pip_installer(lock, tmp_path / "site")
    (command,) = commands
    assert command[1:4] == ["-m", "pip", "install"]
    assert _platforms(command) == ["manylinux2014_aarch64", "manylinux_2_28_aarch64"]
    assert {"--only-binary=:all:", "--no-deps", "--require-hashes", "--upgrade"} <= set(command)
    assert (_after(command, "--implementation"), _after(command, "--python-version")) == (
        "cp",
        "3.12",
    )
    assert _after(command, "--target") == str(tmp_path / "site")
    assert command[-2:] == ["-r", str(lock)]


def test_the_azure_install_takes_the_hashed_lock_as_binary_wheels_for_every_x86_64_tag(
    commands: list[list[str]], tmp_path: Path
) -> None:
    target = azure_package.install_dependencies(tmp_path / "site-packages")
    (command,) = commands
    assert target.is_dir()
    assert _platforms(command) == list(azure_package.PLATFORMS)
    assert {"--only-binary=:all:", "--no-deps", "--require-hashes"} <= set(command)
    assert _after(command, "--python-version") == azure_package.PYTHON_VERSION
    assert command[-2:] == ["-r", str(azure_package.LOCK)]
