"""Build the Cloud Functions (gen2) source zips: ``python -m functions.gcp.package``.

One reproducible zip per catalog group, ``build/gcp/images.zip`` and ``build/gcp/orders.zip``
(the Terraform root's default ``package_paths``). Each holds:

* ``main.py`` at the root - a copy of ``functions/gcp/main.py``: Cloud Functions loads
  ``main.py`` from the source root, and the file imports only absolute ``functions.gcp...``
  names, which resolve because the source root is on ``sys.path``;
* ``functions/__init__.py``, ``functions/gcp/`` (without this packager) and ``shared/``;
* ``requirements.txt``: the group's hashed lock ``functions/locks/gcp-<group>.txt`` as is
  (``make lock``, :mod:`functions.locking`; resolved for Linux x86_64, CPython 3.12 with the
  test venv's versions). Cloud Build installs it for the runtime, checking every hash, so no
  platform-specific wheels are vendored. The orders zip has no Pillow.

Same sources -> byte-identical zips (see :mod:`functions.packaging`), so the object name
``<group>-<md5>.zip`` in Terraform changes only when code or pins change.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence
from pathlib import Path

from functions.locking import lock_path
from functions.packaging import ROOT, core_files, human, tree, unzipped_size, write_zip

GCP_DIR = ROOT / "functions" / "gcp"
DEFAULT_OUT = ROOT / "build" / "gcp"
_EXCLUDED = {"functions/gcp/package.py"}

GROUPS = ("images", "orders")


def requirements_file(group: str) -> Path:
    """The hashed lock of a group, shipped as its ``requirements.txt``."""
    return lock_path(f"gcp-{group}")


def package_files(requirements: Path) -> Iterator[tuple[Path, str]]:
    """Every (source path, archive name) of a group's zip."""
    yield GCP_DIR / "main.py", "main.py"
    yield requirements, "requirements.txt"
    yield from core_files()
    for path, name in tree(GCP_DIR, "functions/gcp"):
        if name not in _EXCLUDED:
            yield path, name


def build(group: str, out: Path = DEFAULT_OUT) -> tuple[Path, str]:
    """Build ``<out>/<group>.zip``; returns (path, sha256)."""
    if group not in GROUPS:
        raise SystemExit(f"unknown group {group!r} (known: {', '.join(GROUPS)})")
    target = out / f"{group}.zip"
    digest = write_zip(target, package_files(requirements_file(group)))
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
