"""The one pinning scheme: every lock pinned and hashed, fresh for pyproject.toml, the clouds'
versions equal to the test venv's, and the test venv installed from its lock."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from functions import locking

CLOUD_LOCKS = [lock for lock in locking.LOCKS if lock.python_platform]


@pytest.mark.parametrize("lock", locking.LOCKS, ids=lambda lock: lock.name)
def test_every_lock_pins_and_hashes_every_distribution(lock: locking.LockSpec) -> None:
    pins = locking.read_pins(lock.path)
    assert pins
    for pin in pins:
        assert pin.version and pin.hashes, pin


@pytest.mark.parametrize("lock", locking.LOCKS, ids=lambda lock: lock.name)
def test_every_lock_is_fresh_for_pyproject(lock: locking.LockSpec) -> None:
    assert locking.recorded_digest(lock.path) == locking.inputs_digest(lock), (
        f"{lock.path.name} is stale for pyproject.toml: run `make lock`"
    )


@pytest.mark.parametrize("lock", CLOUD_LOCKS, ids=lambda lock: lock.name)
def test_a_cloud_ships_only_versions_the_dev_venv_tests(lock: locking.LockSpec) -> None:
    tested: dict[str, set[str]] = {}
    for pin in locking.read_pins(locking.lock_path("dev")):
        tested.setdefault(pin.name, set()).add(pin.version)
    for pin in locking.read_pins(lock.path):
        assert not pin.marker, pin  # resolved for one platform: no forks left
        assert pin.version in tested.get(pin.name, set()), (
            f"{lock.name} ships {pin.name}=={pin.version}; the dev lock has {tested.get(pin.name)}"
        )


def test_the_test_venv_runs_the_dev_lock() -> None:
    """A fresh clone's venv (`make setup-dev`) holds exactly the dev lock's versions."""
    for pin in locking.read_pins(locking.lock_path("dev")):
        if not pin.applies():
            continue
        installed = importlib.metadata.version(pin.name)
        assert installed == pin.version, (
            f"{pin.name}: the venv has {installed}, functions/locks/dev.txt pins {pin.version}; "
            "run `make setup-dev` (or `make lock` after changing pyproject.toml)"
        )


def test_lambda_locks_leave_the_runtime_sdk_out_and_pillow_to_images() -> None:
    names = {lock.name: {pin.name for pin in locking.read_pins(lock.path)} for lock in CLOUD_LOCKS}
    assert not names["aws-images"] & {"boto3", "botocore"}
    assert not names["aws-orders"] & {"boto3", "botocore"}
    for group in ("aws-orders", "gcp-orders"):
        assert not names[group] & {"pillow", "pyvips", "pyvips-binary"}, group
    for group in ("aws-images", "gcp-images", "azure"):
        assert {"pillow", "pyvips", "pyvips-binary", "cffi"} <= names[group], group
    assert {"functions-framework", "google-cloud-storage"} <= names["gcp-orders"]
    assert {"azure-functions", "azure-data-tables"} <= names["azure"]


def test_the_parser_refuses_a_loose_requirement(tmp_path: Path) -> None:
    lock = tmp_path / "loose.txt"
    lock.write_text("# header\nrequests>=2 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(ValueError, match="not an exact pin"):
        locking.read_pins(lock)


def test_the_parser_reads_markers_and_continuations(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text(
        "Azure_Functions==1.26.0 ; python_full_version < '3.13' \\\n"
        f"    --hash=sha256:{'a' * 64} \\\n"
        f"    --hash=sha256:{'b' * 64}\n"
        "    # via -r pyproject.toml\n"
    )
    (pin,) = locking.read_pins(lock)
    assert (pin.name, pin.version, pin.hashes) == (
        "azure-functions",
        "1.26.0",
        ("a" * 64, "b" * 64),
    )
    assert pin.applies({"python_full_version": "3.12.1"})
    assert not pin.applies({"python_full_version": "3.13.0"})


def test_make_lock_resolves_a_cloud_lock_for_its_platform_under_the_dev_pins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The uv command line (captured: a real resolution needs the index)."""
    import shutil
    import subprocess

    shutil.copy(locking.lock_path("dev"), tmp_path / "dev.txt")
    monkeypatch.setattr(locking, "LOCK_DIR", tmp_path)
    commands: list[list[str]] = []

    def uv(command: list[str], **options: object) -> None:
        commands.append(command)
        assert options["cwd"] == tmp_path
        (tmp_path / "aws-images.txt").write_text(f"pillow==13.0.0 --hash=sha256:{'c' * 64}\n")

    monkeypatch.setattr(subprocess, "run", uv)
    written = locking.compile_lock(locking.spec("aws-images"), uv=["uv"])
    (command,) = commands
    assert command[:3] == ["uv", "pip", "compile"]
    options = " ".join(command[3:])
    for expected in (
        "--python-platform aarch64-manylinux_2_28",
        "--python-version 3.12",
        "--generate-hashes",
        "--only-binary :all:",
        "--constraint dev.txt",
        "-o aws-images.txt",
    ):
        assert expected in options
    assert "--upgrade" not in options  # re-running keeps the pins
    assert locking.recorded_digest(written) == locking.inputs_digest(locking.spec("aws-images"))
    assert [pin.name for pin in locking.read_pins(written)] == ["pillow"]


def test_every_shipped_lock_with_pyvips_takes_it_from_source_and_only_it() -> None:
    """The binary-only locks (their only sdists) and GCP's images lock (vendored rather than
    built by Cloud Build) ship pyvips as the pure wheel; the venv locks leave pip to it."""
    for lock in locking.LOCKS:
        assert set(lock.source_allowed) <= set(locking.PURE_FROM_SOURCE), lock.name
        assert all(name == locking.canonical(name) for name in lock.source_allowed)
    shipped_with_pyvips = [
        lock.name
        for lock in locking.LOCKS
        if lock.python_platform and "pyvips" in {p.name for p in locking.read_pins(lock.path)}
    ]
    assert sorted(shipped_with_pyvips) == ["aws-images", "azure", "gcp-images"]
    for name in shipped_with_pyvips:
        assert locking.spec(name).source_allowed == ("pyvips",)
    assert not [
        lock.name for lock in locking.LOCKS if lock.source_allowed and not lock.python_platform
    ]


def test_the_source_exemption_moves_only_a_binary_only_locks_digest() -> None:
    """On GCP's lock it changes no resolution, so its recorded digest stays valid."""
    import dataclasses

    gcp = locking.spec("gcp-images")
    assert locking.inputs_digest(gcp) == locking.inputs_digest(
        dataclasses.replace(gcp, source_allowed=())
    )


def test_the_source_exemption_is_part_of_the_inputs_digest() -> None:
    import dataclasses

    lock = locking.spec("aws-images")
    assert locking.inputs_digest(lock) != locking.inputs_digest(
        dataclasses.replace(lock, source_allowed=())
    )


@pytest.mark.parametrize(("name", "exempt"), [("aws-images", True), ("aws-orders", False)])
def test_a_binary_only_lock_exempts_its_pure_from_source_packages_from_only_binary(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, exempt: bool
) -> None:
    """uv lets a --no-binary package out of --only-binary :all: (checked for real in
    tests/integration/packaging/test_lock_resolution.py); nothing else is let out."""
    import shutil
    import subprocess

    shutil.copy(locking.lock_path("dev"), tmp_path / "dev.txt")
    monkeypatch.setattr(locking, "LOCK_DIR", tmp_path)
    commands: list[list[str]] = []

    def uv(command: list[str], **options: object) -> None:
        commands.append(command)
        (tmp_path / f"{name}.txt").write_text(f"cffi==2.1.1 --hash=sha256:{'c' * 64}\n")

    monkeypatch.setattr(subprocess, "run", uv)
    locking.compile_lock(locking.spec(name), uv=["uv"])
    (command,) = commands
    only = command.index("--only-binary")
    assert command[only + 1] == ":all:"
    exemptions = [command[i + 1] for i, word in enumerate(command) if word == "--no-binary"]
    assert exemptions == (["pyvips"] if exempt else [])
    assert all(command.index("--no-binary") > only for _ in exemptions)
