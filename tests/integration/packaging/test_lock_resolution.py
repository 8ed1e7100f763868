"""A binary-only lock resolved for real (uv, the index): pyvips, published as an sdist only,
needs its exemption from ``--only-binary :all:``; with it the lock keeps the sdist's hash (the
same as the committed lock's) while ``--only-binary :all:`` still holds every other package."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from functions import locking

pytestmark = pytest.mark.integration

IN_CI = os.environ.get("CI", "").lower() == "true"


def _lock_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    shutil.copy(locking.lock_path("dev"), tmp_path / "dev.txt")
    monkeypatch.setattr(locking, "LOCK_DIR", tmp_path)
    return tmp_path


def test_pyvips_needs_its_exemption_and_keeps_its_sdist_hash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    images = locking.spec("aws-images")
    shipped = {pin.name: pin for pin in locking.read_pins(images.path)}  # the committed lock
    lock_dir = _lock_dir(monkeypatch, tmp_path)
    assert images.path.parent == lock_dir
    try:
        written = locking.compile_lock(images)
    except subprocess.CalledProcessError as exc:
        if IN_CI:
            raise
        pytest.skip(f"uv could not resolve (index unreachable?): {exc}")
    pins = {pin.name: pin for pin in locking.read_pins(written)}
    assert pins["pyvips"].hashes == shipped["pyvips"].hashes  # the sdist's, the only file
    assert pins["pyvips-binary"].version == shipped["pyvips-binary"].version

    without = dataclasses.replace(images, name="aws-images-no-exemption", source_allowed=())
    with pytest.raises(subprocess.CalledProcessError):
        locking.compile_lock(without)
    assert not (lock_dir / "aws-images-no-exemption.txt").exists() or (
        "pyvips==" not in (lock_dir / "aws-images-no-exemption.txt").read_text()
    )
