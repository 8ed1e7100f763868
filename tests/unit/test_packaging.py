"""The pip command lines the packagers run (captured, not run: a real install needs PyPI), and
how a lock is split between binary wheels and the pure wheels built from sdists."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from functions import packaging
from functions.aws import package as aws_package
from functions.azure import package as azure_package

SDIST = "5" * 64
LOCK_TEXT = f"""# Lock 'probe': a header
# inputs-sha256: {"0" * 64}
cffi==2.1.1 \\
    --hash=sha256:{"1" * 64} \\
    --hash=sha256:{"2" * 64}
    # via
    #   pyvips
    #   pyvips-binary
pyvips==3.2.0 \\
    --hash=sha256:{SDIST}
    # via
    #   -c dev.txt
    #   -r pyproject.toml
pyvips-binary==8.18.7 \\
    --hash=sha256:{"3" * 64}
    # via -r pyproject.toml
"""
FAKE_WHEEL = Path("/cache/pyvips-3.2.0-py3-none-any.whl")


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command run, with the text of each ``-r`` file as it was at the time."""
    captured: list[list[str]] = []

    def run(command: list[str], **_: Any) -> None:
        if "-r" in command:
            command = [*command, Path(_after(command, "-r")).read_text()]
        captured.append(command)

    def pure_wheel(name: str, version: str, hashes: tuple[str, ...]) -> Path:
        assert (name, version, hashes) == ("pyvips", "3.2.0", (SDIST,))
        return FAKE_WHEEL

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(packaging, "pure_wheel", pure_wheel)
    return captured


def _platforms(command: list[str]) -> list[str]:
    return [command[i + 1] for i, arg in enumerate(command) if arg == "--platform"]


def _after(command: list[str], option: str) -> str:
    return command[command.index(option) + 1]


def _check_split_install(commands: list[list[str]], lock_text: str, platforms: list[str]) -> None:
    """Two pip calls: the lock minus pyvips as hashed binary wheels, then pyvips' pure wheel."""
    binary, pure = commands
    assert _platforms(binary) == _platforms(pure) == platforms
    assert {"--only-binary=:all:", "--no-deps", "--require-hashes", "--upgrade"} <= set(binary)
    expected, found = packaging.split_lock_text(lock_text, ["pyvips"])
    assert found == ["pyvips"]
    assert binary[-1] == expected  # the -r file: every other pin, with its hashes
    assert "pyvips==" not in binary[-1] and "pyvips-binary==8.18.7" in binary[-1]
    assert pure[-1] == str(FAKE_WHEEL)
    assert "--no-deps" in pure and "--require-hashes" not in pure and "-r" not in pure
    assert _after(binary, "--target") == _after(pure, "--target")


def test_the_lambda_install_takes_binary_wheels_for_every_aarch64_tag(
    commands: list[list[str]], tmp_path: Path
) -> None:
    lock = tmp_path / "aws-images.txt"
    lock.write_text(LOCK_TEXT)
    aws_package.pip_installer(lock, tmp_path / "site")
    command = commands[0]
    assert command[1:4] == ["-m", "pip", "install"]
    assert (_after(command, "--implementation"), _after(command, "--python-version")) == (
        "cp",
        "3.12",
    )
    assert _after(command, "--target") == str(tmp_path / "site")
    _check_split_install(commands, LOCK_TEXT, ["manylinux2014_aarch64", "manylinux_2_28_aarch64"])


def test_a_lock_without_a_pure_from_source_pin_is_one_binary_install(
    commands: list[list[str]], tmp_path: Path
) -> None:
    lock = tmp_path / "aws-orders.txt"
    lock.write_text(f"cffi==2.1.1 --hash=sha256:{'1' * 64}\n")
    aws_package.pip_installer(lock, tmp_path / "site")
    (command,) = commands
    assert command[-1] == lock.read_text()  # byte for byte
    assert {"--only-binary=:all:", "--no-deps", "--require-hashes"} <= set(command)


def test_the_azure_install_takes_the_hashed_lock_as_binary_wheels_for_every_x86_64_tag(
    commands: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "azure.txt"
    lock.write_text(LOCK_TEXT)
    monkeypatch.setattr(azure_package, "LOCK", lock)
    target = azure_package.install_dependencies(tmp_path / "site-packages")
    assert target.is_dir()
    assert _after(commands[0], "--python-version") == azure_package.PYTHON_VERSION
    _check_split_install(commands, LOCK_TEXT, list(azure_package.PLATFORMS))


def test_the_lambda_install_cache_key_moves_with_the_pure_wheel_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def installer(lock: Path, target: Path) -> None:
        calls.append(lock.name)

    first = aws_package.install_dependencies("orders", tmp_path, installer)
    assert aws_package.install_dependencies("orders", tmp_path, installer) == first
    monkeypatch.setattr(aws_package, "PURE_WHEEL_RECIPE", "pure-wheel-next")
    assert aws_package.install_dependencies("orders", tmp_path, installer) != first
    assert calls == ["aws-orders.txt", "aws-orders.txt"]


def test_splitting_a_lock_drops_whole_blocks_and_keeps_the_rest_byte_for_byte() -> None:
    kept, found = packaging.split_lock_text(LOCK_TEXT, ["pyvips"])
    assert found == ["pyvips"]
    assert kept == LOCK_TEXT.replace(
        f"pyvips==3.2.0 \\\n    --hash=sha256:{SDIST}\n    # via\n"
        "    #   -c dev.txt\n    #   -r pyproject.toml\n",
        "",
    )
    assert SDIST not in kept and kept.count("\n") == LOCK_TEXT.count("\n") - 5
    assert packaging.split_lock_text(LOCK_TEXT, ["pillow"]) == (LOCK_TEXT, [])
    # A name is matched whole and canonical: pyvips-binary stays; PyVips would go.
    assert packaging.split_lock_text("PyVips==3.2.0\n", ["pyvips"]) == ("", ["pyvips"])


def _site_with_pyvips(root: Path, record: str) -> Path:
    info = root / "pyvips-3.2.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pyvips\nVersion: 3.2.0\n")
    (info / "RECORD").write_text(record)
    return root


def test_make_setup_replaces_a_compiled_pyvips_with_its_pure_wheel(
    commands: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pip reuses a wheel it once built with libvips headers in sight (API mode, a
    ``_libvips`` extension that shadows pyvips-binary's): ``ensure-pure`` reinstalls it."""
    lock = tmp_path / "dev.txt"
    lock.write_text(LOCK_TEXT)
    compiled = "pyvips/__init__.py,,\n_libvips.cpython-311-x86_64-linux-gnu.so,,\n"
    monkeypatch.syspath_prepend(str(_site_with_pyvips(tmp_path / "compiled", compiled)))
    assert packaging.compiled_files("pyvips") == ["_libvips.cpython-311-x86_64-linux-gnu.so"]
    assert packaging.ensure_pure_installs(lock) == ["pyvips"]
    (command,) = commands
    assert command[-4:] == [
        "--disable-pip-version-check",
        "--no-deps",
        "--force-reinstall",
        str(FAKE_WHEEL),
    ]


def test_make_setup_leaves_a_pure_pyvips_alone(
    commands: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "dev.txt"
    lock.write_text(LOCK_TEXT)
    pure = "pyvips/__init__.py,,\npyvips/vimage.py,,\n"
    monkeypatch.syspath_prepend(str(_site_with_pyvips(tmp_path / "pure", pure)))
    assert packaging.compiled_files("pyvips") == []
    assert packaging.ensure_pure_installs(lock) == []
    assert commands == []


def test_a_pure_from_source_pin_whose_marker_fails_on_the_target_is_not_installed(
    commands: list[list[str]], tmp_path: Path
) -> None:
    """Markers are evaluated for Lambda (Linux aarch64, CPython 3.12), not for this machine."""
    lock = tmp_path / "aws-images.txt"
    lock.write_text(
        LOCK_TEXT.replace("pyvips==3.2.0 \\", "pyvips==3.2.0 ; sys_platform == 'win32' \\")
    )
    aws_package.pip_installer(lock, tmp_path / "site")
    (binary,) = commands  # no second install: pyvips is for Windows only
    assert "pyvips==" not in binary[-1]


def test_the_lambda_install_takes_from_source_only_what_its_lock_allows(
    commands: list[list[str]], tmp_path: Path
) -> None:
    """aws-orders allows no sdist: a pyvips pin there would go to the binary install (and
    fail there), never silently become a pure wheel."""
    lock = tmp_path / "aws-orders.txt"
    lock.write_text(LOCK_TEXT)
    aws_package.pip_installer(lock, tmp_path / "site")
    (binary,) = commands
    assert binary[-1] == LOCK_TEXT
