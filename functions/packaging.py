"""Reproducible deployment archives, shared by every cloud's packager.

Same inputs -> byte-identical zip: entries sorted, fixed timestamps (1980-01-01), fixed
permissions, no absolute paths, no caches. So Terraform's ``source_code_hash`` (or a zip md5
in an object name) moves only when code or dependencies move, and ``terraform plan`` in CI
does not churn.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}


def tree(source: Path, prefix: str) -> Iterator[tuple[Path, str]]:
    """Every file under ``source`` as (path, archive name under ``prefix``), caches skipped."""
    for path in sorted(source.rglob("*")):
        if path.is_dir() or path.suffix in _SKIP_SUFFIXES:
            continue
        if _SKIP_DIRS.intersection(path.relative_to(source).parts):
            continue
        yield path, f"{prefix.rstrip('/')}/{path.relative_to(source).as_posix()}".lstrip("/")


def core_files() -> Iterator[tuple[Path, str]]:
    """What every cloud's package holds: the cloud-agnostic core (``shared/``), the
    ``functions`` package marker and the entry points' common helpers (``functions/common/``)."""
    yield from tree(ROOT / "shared", "shared")
    yield ROOT / "functions" / "__init__.py", "functions/__init__.py"
    yield from tree(ROOT / "functions" / "common", "functions/common")


def write_zip(target: Path, files: Iterable[tuple[Path, str]]) -> str:
    """Write a reproducible zip; return its sha256 hex digest."""
    entries = sorted({name: path for path, name in files}.items())
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_suffix(".tmp")
    with zipfile.ZipFile(
        temporary, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as archive:
        for name, path in entries:
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            executable = path.stat().st_mode & 0o111
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.create_system = 3  # unix, so the attributes above are honoured everywhere
            archive.writestr(info, path.read_bytes())
    temporary.replace(target)
    return hashlib.sha256(target.read_bytes()).hexdigest()


def binary_wheel_options(platforms: Sequence[str], python_version: str | None) -> list[str]:
    """pip options selecting CPython binary wheels for other ``platforms`` (every tag a wheel
    may carry: pip does not widen a ``manylinux_2_N`` tag by itself) and ``python_version``."""
    options = [option for platform in platforms for option in ("--platform", platform)]
    if platforms:
        options += ["--only-binary=:all:", "--implementation", "cp"]
    if python_version:
        options += ["--python-version", python_version]
    return options


def pip_install_target(
    requirements: Sequence[str],
    target: Path,
    *,
    platforms: Sequence[str] = (),
    python_version: str | None = None,
    options: Sequence[str] = (),
) -> None:
    """Install requirements into ``target``: binary wheels for ``platforms`` when given
    (see :func:`binary_wheel_options`), with further pip ``options`` (``--no-deps``, ...)."""
    target.mkdir(parents=True, exist_ok=True)
    if not requirements:
        return
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-compile",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--upgrade",
        *binary_wheel_options(platforms, python_version),
        *options,
    ]
    subprocess.run([*command, *requirements], check=True)


def unzipped_size(path: Path) -> int:
    """Total uncompressed size of a zip's entries."""
    with zipfile.ZipFile(path) as archive:
        return sum(info.file_size for info in archive.infolist())


def human(size: int) -> str:
    """Bytes as a short human string."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GB"
