"""Build the Cloud Functions (gen2) source zips: ``python -m functions.gcp.package``.

One reproducible zip per catalog group, ``build/gcp/images.zip`` and ``build/gcp/orders.zip``
(the Terraform root's default ``package_paths``). Each holds:

* ``main.py`` at the root - a copy of ``functions/gcp/main.py``: Cloud Functions loads
  ``main.py`` from the source root, and the file imports only absolute ``functions.gcp...``
  names, which resolve because the source root is on ``sys.path``;
* ``functions/__init__.py``, ``functions/gcp/`` (without this packager) and ``shared/``;
* ``requirements.txt``: the group's hashed lock ``functions/locks/gcp-<group>.txt`` (``make
  lock``, :mod:`functions.locking`; resolved for Linux x86_64, CPython 3.12 with the test
  venv's versions) as is, minus the pins its spec takes from source (``source_allowed``). Cloud
  Build installs it for the runtime, checking every hash (pip's hash-checking mode: every line
  is pinned and hashed), so no platform-specific wheels are vendored. The orders zip has no
  Pillow and no libvips;
* ``pyvips/`` and its ``.dist-info`` at the root (images only): the pure wheel made here from
  the lock's hashed sdist (:func:`functions.packaging.pure_wheel`), unpacked (in a folder
  named by the wheel's sha256) without its ``RECORD``. The source root
  is on ``sys.path``, so it imports like an installed package and loads pyvips-binary's
  ``_libvips`` (installed from ``requirements.txt`` with cffi).

Why pyvips is vendored rather than left to Cloud Build: pyvips is an sdist only, so its lock
line would make the buildpack build it there, with build dependencies (setuptools, cffi,
pkgconfig) that no hash pins, and, were libvips headers and a compiler ever in the build image,
as an API-mode ``_libvips`` module compiled against those headers that shadows
pyvips-binary's (same module name) and may not load in the run image. Vendoring ships exactly
the pure wheel every other cloud and test runs, and Cloud Build builds nothing from source.

Same sources -> byte-identical zips (see :mod:`functions.packaging`), so the object name
``<group>-<md5>.zip`` in Terraform changes only when code or pins change.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from functions.locking import lock_path, read_pins, spec
from functions.packaging import (
    ROOT,
    core_files,
    human,
    is_install_state,
    pure_wheel,
    split_lock_text,
    tree,
    unzipped_size,
    write_zip,
)

GCP_DIR = ROOT / "functions" / "gcp"
DEFAULT_OUT = ROOT / "build" / "gcp"
_EXCLUDED = {"functions/gcp/package.py"}

GROUPS = ("images", "orders")


def requirements_file(group: str) -> Path:
    """The hashed lock of a group, shipped as its ``requirements.txt``."""
    return lock_path(f"gcp-{group}")


def package_files(requirements: Path, vendored: Sequence[Path] = ()) -> Iterator[tuple[Path, str]]:
    """Every (source path, archive name) of a group's zip; ``vendored``: unpacked wheels whose
    files go to the root (install-state files such as ``RECORD`` left out, as the other
    clouds' packages do)."""
    yield GCP_DIR / "main.py", "main.py"
    yield requirements, "requirements.txt"
    yield from core_files()
    for path, name in tree(GCP_DIR, "functions/gcp"):
        if name not in _EXCLUDED:
            yield path, name
    for folder in vendored:
        for path, name in tree(folder, ""):
            if not is_install_state(path.relative_to(folder).parts):
                yield path, name


def unpacked_wheel(wheel: Path, scratch: Path) -> Path:
    """``wheel`` unpacked under ``scratch`` in a folder named by its sha256, so a wheel made
    again (a new recipe, the same name) is never served from an older unpacking. Unpacked in a
    staging folder that is renamed into place, and removed if the extraction fails."""
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
    folder = scratch / f"{wheel.stem}-{digest}"
    if folder.exists():
        return folder
    scratch.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=scratch))
    try:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(staging)
        with contextlib.suppress(OSError):  # a parallel build unpacked the same wheel first
            staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return folder


def shipped_requirements(group: str, scratch: Path) -> tuple[Path, list[Path]]:
    """The group's ``requirements.txt`` (its lock without the pins its spec takes from
    source) and those pins' pure wheels (the ones whose marker holds on the target),
    unpacked under ``scratch``."""
    lock_spec = spec(f"gcp-{group}")
    lock = lock_spec.path
    text, found = split_lock_text(lock.read_text(encoding="utf-8"), lock_spec.source_allowed)
    requirements = scratch / f"{group}-requirements.txt"
    requirements.parent.mkdir(parents=True, exist_ok=True)
    requirements.write_text(text, encoding="utf-8")
    environment = lock_spec.marker_environment()
    vendored = [
        unpacked_wheel(pure_wheel(pin.name, pin.version, pin.hashes), scratch)
        for pin in read_pins(lock)
        if pin.name in found and pin.applies(environment)
    ]
    return requirements, vendored


def build(group: str, out: Path = DEFAULT_OUT) -> tuple[Path, str]:
    """Build ``<out>/<group>.zip``; returns (path, sha256)."""
    if group not in GROUPS:
        raise SystemExit(f"unknown group {group!r} (known: {', '.join(GROUPS)})")
    target = out / f"{group}.zip"
    requirements, vendored = shipped_requirements(group, out / ".vendor")
    digest = write_zip(target, package_files(requirements, vendored))
    return target, digest


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build every group (or the ones given) and print path, digest and sizes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "groups",
        nargs="*",
        default=list(GROUPS),
        help="groups to build (default: all)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    for group in args.groups:
        path, digest = build(group, args.out)
        print(
            f"{path}  sha256={digest[:16]}  {human(path.stat().st_size)} zipped, "
            f"{human(unzipped_size(path))} unzipped"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
