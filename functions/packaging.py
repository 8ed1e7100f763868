"""Reproducible deployment archives, shared by every cloud's packager.

Same inputs -> byte-identical zip: entries sorted, fixed timestamps (1980-01-01), fixed
permissions, no absolute paths, no caches. So Terraform's ``source_code_hash`` (or a zip md5
in an object name) moves only when code or dependencies move, and ``terraform plan`` in CI
does not churn.

Some locked distributions are published as an sdist only (pyvips, see
:data:`functions.locking.PURE_FROM_SOURCE`). Binary-only installs (``--only-binary=:all:`` for
another platform) cannot build them, so :func:`pure_wheel` builds each once here, reproducibly,
from its hashed sdist: pkg-config cannot find any libvips, so pyvips' setup falls back to its
pure-Python (cffi ABI-mode) build; the wheel must be ``py3-none-any`` with no compiled module.
At run time that pyvips imports pyvips-binary's compiled ``_libvips`` (API mode).
:func:`install_lock` installs a lock that way: the other pins as hashed binary wheels, then
those pure wheels with ``--no-deps``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}
PURE_WHEEL_CACHE = ROOT / "build" / "wheels"
# Part of every cache key built on pure wheels: bump it when the build recipe changes.
PURE_WHEEL_RECIPE = "pure-wheel-1"
_COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
_REQUIREMENT_START = re.compile(r"[A-Za-z0-9]")


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


def no_libvips_environment(empty_dir: Path) -> dict[str, str]:
    """The environment of a build that must not find libvips: pkg-config searches only
    ``empty_dir`` (``PKG_CONFIG_LIBDIR`` replaces its default path), so pyvips' setup falls
    back to its pure ABI-mode build whatever headers the machine has."""
    empty_dir.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "PKG_CONFIG_LIBDIR": str(empty_dir),
        "PKG_CONFIG_PATH": "",
        "SOURCE_DATE_EPOCH": "315532800",  # 1980-01-01: the wheel's zip timestamps
    }


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """One builder at a time (pytest-xdist workers, a parallel ``make package``)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wheel_problems(wheel: Path) -> list[str]:
    """Why ``wheel`` is not a pure ``py3-none-any`` wheel (empty when it is)."""
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        infos = [name for name in names if re.fullmatch(r"[^/]+\.dist-info/WHEEL", name)]
        if len(infos) != 1:
            return [f"{wheel.name}: {len(infos)} .dist-info/WHEEL files"]
        fields = archive.read(infos[0]).decode().splitlines()
    tags = [line.split(":", 1)[1].strip() for line in fields if line.startswith("Tag:")]
    if tags != ["py3-none-any"]:
        problems.append(f"{wheel.name}: tags {tags}, not ['py3-none-any']")
    if "Root-Is-Purelib: true" not in fields:
        problems.append(f"{wheel.name}: not Root-Is-Purelib")
    problems += [f"{wheel.name}: compiled {n}" for n in names if n.endswith(_COMPILED_SUFFIXES)]
    return problems


def pure_wheel(
    name: str, version: str, sdist_hashes: Sequence[str], cache: Path = PURE_WHEEL_CACHE
) -> Path:
    """The pure wheel of ``name==version`` built from its sdist, whose sha256 must be one of
    ``sdist_hashes`` (the lock's); built once, cached under ``cache`` by those hashes.

    ``pip download --no-deps --no-binary :all: --require-hashes`` fetches the sdist; ``pip
    wheel --no-deps --no-cache-dir`` builds it (never a wheel pip built earlier with libvips
    headers in sight) with pkg-config unable to find libvips (:func:`no_libvips_environment`).
    Raises RuntimeError if the result is not ``py3-none-any`` or holds a compiled module."""
    if not sdist_hashes:
        raise ValueError(f"{name}=={version}: no sdist hash to check the download against")
    key = hashlib.sha256("\n".join([PURE_WHEEL_RECIPE, *sorted(sdist_hashes)]).encode())
    folder = cache / f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-{key.hexdigest()[:16]}"
    with _exclusive(cache / f".{folder.name}.lock"):
        built = sorted(folder.glob("*.whl"))
        if len(built) == 1 and not wheel_problems(built[0]):
            return built[0]
        with tempfile.TemporaryDirectory(prefix=f"{folder.name}-", dir=cache) as scratch_dir:
            scratch = Path(scratch_dir)
            requirement = scratch / "requirement.txt"
            hashes = " ".join(f"--hash=sha256:{digest}" for digest in sdist_hashes)
            requirement.write_text(f"{name}=={version} {hashes}\n", encoding="utf-8")
            environment = no_libvips_environment(scratch / "no-pkg-config")
            pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
            subprocess.run(
                [
                    *pip,
                    *("download", "--quiet", "--no-deps", "--no-binary", ":all:"),
                    *("--require-hashes", "-r", str(requirement), "-d", str(scratch / "sdist")),
                ],
                check=True,
                env=environment,
            )
            (sdist,) = (scratch / "sdist").iterdir()
            subprocess.run(
                [
                    *pip,
                    *("wheel", "--quiet", "--no-deps", "--no-cache-dir"),
                    *("--wheel-dir", str(scratch / "wheel"), str(sdist)),
                ],
                check=True,
                env=environment,
            )
            (wheel,) = (scratch / "wheel").glob("*.whl")
            if problems := wheel_problems(wheel):
                raise RuntimeError("; ".join(problems))
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            return Path(shutil.copy2(wheel, folder / wheel.name))


def split_lock_text(text: str, names: Iterable[str]) -> tuple[str, list[str]]:
    """A lock's text without the requirement blocks (the pin and its hash and ``# via``
    lines) of ``names`` (canonical); returns (kept text, the names found). Nothing found:
    the text unchanged, byte for byte."""
    wanted = set(names)
    kept: list[str] = []
    found: list[str] = []
    dropping = False
    for line in text.splitlines(keepends=True):
        if _REQUIREMENT_START.match(line):
            name = re.split(r"[=<>!~;\s\[]", line, maxsplit=1)[0]
            canonical = re.sub(r"[-_.]+", "-", name).lower()
            dropping = canonical in wanted
            if dropping:
                found.append(canonical)
        elif not line[:1].isspace():
            dropping = False  # a comment or blank line at the left margin ends a block
        if not dropping:
            kept.append(line)
    return "".join(kept), found


def install_lock(
    lock: Path,
    target: Path,
    *,
    platforms: Sequence[str],
    python_version: str,
    pure_from_source: Iterable[str],
) -> None:
    """Install the hashed ``lock`` into ``target`` as binary wheels for ``platforms``
    (``--no-deps --require-hashes``), except the pins named in ``pure_from_source``: those
    as the pure wheels :func:`pure_wheel` builds from their hashed sdists, with ``--no-deps``."""
    from functions.locking import read_pins

    binary_text, found = split_lock_text(lock.read_text(encoding="utf-8"), pure_from_source)
    with tempfile.TemporaryDirectory(prefix="lock-") as scratch:
        binary_lock = Path(scratch) / lock.name
        binary_lock.write_text(binary_text, encoding="utf-8")
        pip_install_target(
            ["-r", str(binary_lock)],
            target,
            platforms=platforms,
            python_version=python_version,
            options=["--no-deps", "--require-hashes"],
        )
    wheels = [
        str(pure_wheel(pin.name, pin.version, pin.hashes))
        for pin in read_pins(lock)
        if pin.name in found
    ]
    pip_install_target(
        wheels, target, platforms=platforms, python_version=python_version, options=["--no-deps"]
    )


def compiled_files(distribution: str) -> list[str]:
    """The compiled modules an installed distribution's RECORD lists (none for a pure one)."""
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        return []
    return [str(path) for path in files if str(path).endswith(_COMPILED_SUFFIXES)]


def ensure_pure_installs(lock: Path) -> list[str]:
    """In this interpreter's environment: reinstall every pure-from-source distribution of
    ``lock`` that was installed with a compiled module (pip reuses a wheel it once built with
    libvips headers in sight: an API-mode ``_libvips`` that would shadow pyvips-binary's)
    from :func:`pure_wheel`. Returns the names reinstalled."""
    from functions.locking import PURE_FROM_SOURCE, read_pins

    repaired = []
    for pin in read_pins(lock):
        if pin.name in PURE_FROM_SOURCE and pin.applies() and compiled_files(pin.name):
            wheel = pure_wheel(pin.name, pin.version, pin.hashes)
            subprocess.run(
                [
                    *(sys.executable, "-m", "pip", "install", "--quiet"),
                    *("--disable-pip-version-check", "--no-deps", "--force-reinstall", str(wheel)),
                ],
                check=True,
            )
            repaired.append(pin.name)
    return repaired


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``ensure-pure LOCK...`` (make setup's venvs), ``pure-wheel LOCK`` (print
    the pure wheels of a lock, building them if needed)."""
    parser = argparse.ArgumentParser(prog="python -m functions.packaging")
    parser.add_argument("command", choices=("ensure-pure", "pure-wheel"))
    parser.add_argument("locks", nargs="+", type=Path)
    args = parser.parse_args(argv)
    from functions.locking import PURE_FROM_SOURCE, read_pins

    for lock in args.locks:
        if args.command == "ensure-pure":
            for name in ensure_pure_installs(lock):
                print(f"{name}: reinstalled as its pure wheel (pip had reused a compiled build)")
        else:
            for pin in read_pins(lock):
                if pin.name in PURE_FROM_SOURCE:
                    print(pure_wheel(pin.name, pin.version, pin.hashes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
