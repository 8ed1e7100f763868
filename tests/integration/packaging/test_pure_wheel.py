"""The pure pyvips wheel every binary-only install ships: assembled here from the lock's hashed
sdist (``pip download --no-binary pyvips --require-hashes``, then
:func:`functions.packaging.assemble_pure_wheel`, no build run), ``py3-none-any`` with no
compiled module, the same files as setuptools' own build of that sdist, byte-identical on every
rebuild, importable, cached by the sdist's hash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from functions import locking, packaging

pytestmark = pytest.mark.integration

IN_CI = os.environ.get("CI", "").lower() == "true"


def _missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: a missing component fails)")
    pytest.skip(reason)


def _pyvips_pin(lock: str) -> locking.Pin:
    (pin,) = [p for p in locking.read_pins(locking.lock_path(lock)) if p.name == "pyvips"]
    return pin


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pin = _pyvips_pin("aws-images")
    cache = tmp_path_factory.mktemp("wheels")
    try:
        return packaging.pure_wheel(pin.name, pin.version, pin.hashes, cache)
    except subprocess.CalledProcessError as exc:  # pip could not reach PyPI
        _missing(f"cannot download and build the pyvips sdist: {exc}")
        raise


def test_every_lock_that_ships_pyvips_pins_the_same_sdist_and_only_it() -> None:
    pins = {
        lock.name: _pyvips_pin(lock.name)
        for lock in locking.LOCKS
        if "pyvips" in {p.name for p in locking.read_pins(lock.path)}
    }
    assert {"aws-images", "azure", "gcp-images", "local", "dev", "bench"} <= set(pins)
    assert not {"aws-orders", "gcp-orders"} & set(pins)
    assert len({(pin.version, pin.hashes) for pin in pins.values()}) == 1, pins
    (pin,) = {pin.hashes: pin for pin in pins.values()}.values()
    assert len(pin.hashes) == 1  # published as an sdist only: one file, one hash


def test_the_wheel_is_pure_and_holds_no_compiled_module(built: Path) -> None:
    assert built.name == "pyvips-3.2.0-py3-none-any.whl"
    assert packaging.wheel_problems(built) == []
    with zipfile.ZipFile(built) as archive:
        names = archive.namelist()
        wheel = archive.read("pyvips-3.2.0.dist-info/WHEEL").decode()
    assert "Tag: py3-none-any" in wheel.splitlines()
    assert "pyvips/__init__.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd")) or n.startswith("_libvips")]


def test_a_rebuild_in_another_cache_is_byte_identical(built: Path, tmp_path: Path) -> None:
    pin = _pyvips_pin("aws-images")
    again = packaging.pure_wheel(pin.name, pin.version, pin.hashes, tmp_path)
    assert again.name == built.name and again.read_bytes() == built.read_bytes()


def test_the_wheel_holds_what_setuptools_builds_from_the_same_sdist(
    built: Path, tmp_path: Path
) -> None:
    """pip builds the cached sdist once (its build tools from the index as wheels, pkg-config
    unable to find libvips: the ABI-mode build): same files, same contents, except the WHEEL
    (its generator) and RECORD (its hashes of WHEEL) files."""
    (sdist,) = built.parent.glob("*.tar.gz")
    try:
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "--disable-pip-version-check", "wheel"),
                *("--quiet", "--no-deps", "--no-cache-dir", "--wheel-dir", str(tmp_path)),
                str(sdist),
            ],
            check=True,
            env=packaging.no_libvips_environment(tmp_path / "no-pkg-config"),
        )
    except subprocess.CalledProcessError as exc:  # pip could not reach PyPI for setuptools
        _missing(f"cannot build the pyvips sdist with pip: {exc}")
    (reference,) = tmp_path.glob("*.whl")
    assert reference.name == built.name
    skipped = {"pyvips-3.2.0.dist-info/WHEEL", "pyvips-3.2.0.dist-info/RECORD"}
    with zipfile.ZipFile(built) as ours, zipfile.ZipFile(reference) as theirs:
        assert sorted(ours.namelist()) == sorted(theirs.namelist())
        for name in sorted(set(ours.namelist()) - skipped):
            assert ours.read(name) == theirs.read(name), name


def test_the_wheel_imports_and_runs_on_pyvips_binarys_module(built: Path, tmp_path: Path) -> None:
    """Unpacked first on the path, it is the pyvips imported, in API mode on the venv's
    pyvips-binary ``_libvips``."""
    with zipfile.ZipFile(built) as archive:
        archive.extractall(tmp_path / "wheel")
    probe = (
        "import json, pyvips, _libvips; print(json.dumps([pyvips.__file__, _libvips.__file__,"
        " pyvips.API_mode, pyvips.Image.black(4, 2).width]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(tmp_path / "wheel")},
        capture_output=True,
        text=True,
        check=True,
    )
    module, libvips_module, api_mode, width = json.loads(result.stdout)
    assert Path(module).is_relative_to(tmp_path / "wheel")
    assert Path(libvips_module).name.startswith("_libvips.abi3")
    assert (api_mode, width) == (True, 4)


def test_the_wheel_is_cached_by_the_sdist_hash(built: Path) -> None:
    pin = _pyvips_pin("aws-images")
    before = built.stat().st_mtime_ns
    again = packaging.pure_wheel(pin.name, pin.version, pin.hashes, built.parent.parent)
    assert again == built and again.stat().st_mtime_ns == before  # not rebuilt


def test_a_download_that_does_not_match_the_hash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        packaging.pure_wheel("pyvips", "3.2.0", ("0" * 64,), tmp_path)
    assert not list(tmp_path.rglob("*.whl"))


def test_the_build_environment_hides_a_libvips_pkg_config_would_find(tmp_path: Path) -> None:
    """A machine with libvips headers: its vips.pc is on PKG_CONFIG_PATH; the build's
    environment must not see it (else pyvips builds an API-mode ``_libvips``)."""
    pkg_config = shutil.which("pkg-config")
    if pkg_config is None:
        _missing("no pkg-config binary")
    assert pkg_config is not None
    visible = tmp_path / "pc"
    visible.mkdir()
    (visible / "vips.pc").write_text(
        "Name: vips\nDescription: stand-in\nVersion: 8.18.0\nLibs: -lvips\nCflags:\n"
    )
    machine = {**os.environ, "PKG_CONFIG_PATH": str(visible)}
    assert (
        subprocess.run([pkg_config, "--exists", "vips"], check=False, env=machine).returncode == 0
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PKG_CONFIG_PATH", str(visible))
        patch.setenv("PKG_CONFIG_LIBDIR", str(visible))
        build = packaging.no_libvips_environment(tmp_path / "empty")
    assert subprocess.run([pkg_config, "--exists", "vips"], check=False, env=build).returncode != 0
    assert build["PKG_CONFIG_PATH"] == "" and list((tmp_path / "empty").iterdir()) == []


def test_a_wheel_with_a_compiled_module_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / "pyvips-3.2.0-cp312-cp312-linux_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("pyvips/__init__.py", "")
        archive.writestr("_libvips.cpython-312-x86_64-linux-gnu.so", b"\x7fELF")
        archive.writestr(
            "pyvips-3.2.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp312-cp312-linux_x86_64\n",
        )
    problems = packaging.wheel_problems(wheel)
    assert any("tags" in p for p in problems)
    assert any("Root-Is-Purelib" in p for p in problems)
    assert any("_libvips.cpython-312" in p for p in problems)
