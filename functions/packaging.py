"""Reproducible deployment archives, shared by every cloud's packager.

Same inputs -> byte-identical zip: entries sorted, fixed timestamps (1980-01-01), fixed
permissions, no absolute paths, no caches. So Terraform's ``source_code_hash`` (or a zip md5
in an object name) moves only when code or dependencies move, and ``terraform plan`` in CI
does not churn.

Some locked distributions are published as an sdist only (pyvips, see
:data:`functions.locking.PURE_FROM_SOURCE`). Binary-only installs (``--only-binary=:all:`` for
another platform) cannot build them, so :func:`pure_wheel` makes each one's ``py3-none-any``
wheel here from its hashed sdist, without running its build (:func:`assemble_pure_wheel`: the
package's modules and stubs, the sdist's ``PKG-INFO`` as ``METADATA``): no setuptools, cffi,
pkg-config or compiler is involved, so the wheel's bytes depend on the sdist alone, and it can
hold no compiled module. At run time that pyvips imports pyvips-binary's compiled ``_libvips``
(API mode). :func:`install_lock` installs a lock that way: the other pins as hashed binary
wheels, then those pure wheels with ``--no-deps``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email.parser
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
_SKIP_SUFFIXES = {".pyc", ".pyo"}
PURE_WHEEL_CACHE = ROOT / "build" / "wheels"
# Part of every cache key built on pure wheels: bump it when the build recipe changes.
PURE_WHEEL_RECIPE = "pure-wheel-2"
_COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
_REQUIREMENT_START = re.compile(r"[A-Za-z0-9]")
# Written by an install, not part of a distribution: RECORD hashes every file (and
# direct_url.json, which names the local wheel's path), so shipping them bakes in the build.
INSTALL_STATE_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})


def is_install_state(parts: Sequence[str]) -> bool:
    """Whether a site-packages path (its ``parts``) is an install-state file of a
    ``.dist-info`` folder (:data:`INSTALL_STATE_FILES`)."""
    return len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in INSTALL_STATE_FILES


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
    """Write a reproducible zip; return its sha256 hex digest. Two files for one archive
    name (a vendored root file over a project file) is an error, never a silent override."""
    chosen: dict[str, Path] = {}
    for path, name in files:
        if name in chosen and chosen[name] != path:
            raise ValueError(f"{target.name}: {name} comes from both {chosen[name]} and {path}")
        chosen[name] = path
    entries = sorted(chosen.items())
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
    """Why ``wheel`` is not a pure ``py3-none-any`` wheel (empty when it is); an unreadable
    file (a truncated copy, not a zip) is a problem too, never an exception."""
    problems = []
    try:
        with zipfile.ZipFile(wheel) as archive:
            if (broken := archive.testzip()) is not None:
                return [f"{wheel.name}: corrupt entry {broken}"]
            names = archive.namelist()
            infos = [name for name in names if re.fullmatch(r"[^/]+\.dist-info/WHEEL", name)]
            if len(infos) != 1:
                return [f"{wheel.name}: {len(infos)} .dist-info/WHEEL files"]
            fields = archive.read(infos[0]).decode().splitlines()
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        return [f"{wheel.name}: unreadable ({exc})"]
    tags = [line.split(":", 1)[1].strip() for line in fields if line.startswith("Tag:")]
    if tags != ["py3-none-any"]:
        problems.append(f"{wheel.name}: tags {tags}, not ['py3-none-any']")
    if "Root-Is-Purelib: true" not in fields:
        problems.append(f"{wheel.name}: not Root-Is-Purelib")
    problems += [f"{wheel.name}: compiled {n}" for n in names if n.endswith(_COMPILED_SUFFIXES)]
    return problems


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _sdist_members(sdist: Path) -> dict[str, bytes]:
    """The regular files of an sdist (``.tar.gz``) by path below its top folder."""
    members: dict[str, bytes] = {}
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive.getmembers():
            _, _, relative = member.name.partition("/")
            if not member.isfile() or not relative:
                continue
            if ".." in relative.split("/") or relative.startswith("/"):
                raise RuntimeError(f"{sdist.name}: unsafe member {member.name!r}")
            handle = archive.extractfile(member)
            if handle is not None:
                members[relative] = handle.read()
    return members


def assemble_pure_wheel(sdist: Path, name: str, version: str, target_dir: Path) -> Path:
    """The ``py3-none-any`` wheel of a pure-Python sdist, written without running its build.

    Holds what setuptools' build of the sdist puts in a wheel without a compiled module: the
    top-level package's modules, stubs and ``py.typed`` (every ``.py``/``.pyi`` under
    ``<package>/``), ``METADATA`` (the sdist's ``PKG-INFO`` as is), its ``License-File`` files
    under ``licenses/``, ``top_level.txt``, a ``WHEEL`` naming this recipe and a ``RECORD``.
    Entries sorted (``RECORD`` last), fixed timestamps and modes: the same sdist always gives
    the same bytes. Raises RuntimeError on a file it does not know how to ship (a C source, a
    compiled module, package data) rather than leaving it out unnoticed."""
    members = _sdist_members(sdist)
    metadata_text = members.get("PKG-INFO", b"")
    fields = email.parser.BytesHeaderParser().parsebytes(metadata_text)
    if (fields["Name"], fields["Version"]) != (name, version):
        raise RuntimeError(f"{sdist.name}: PKG-INFO names {fields['Name']}=={fields['Version']}")
    package = re.sub(r"[-.]+", "_", name).lower()
    files: dict[str, bytes] = {}
    for relative, data in members.items():
        if not relative.startswith(f"{package}/"):
            continue
        if relative.endswith((".py", ".pyi")) or relative.endswith("/py.typed"):
            files[relative] = data
        else:
            raise RuntimeError(f"{sdist.name}: {relative} is neither a module nor a stub")
    if f"{package}/__init__.py" not in files:
        raise RuntimeError(f"{sdist.name}: no {package}/__init__.py")
    dist_info = f"{package}-{version}.dist-info"
    for license_file in fields.get_all("License-File") or []:
        if license_file not in members:
            raise RuntimeError(f"{sdist.name}: License-File {license_file} is not in the sdist")
        files[f"{dist_info}/licenses/{license_file}"] = members[license_file]
    files[f"{dist_info}/METADATA"] = metadata_text
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: eventsuite ({PURE_WHEEL_RECIPE})\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n\n"
    ).encode()
    files[f"{dist_info}/top_level.txt"] = f"{package}\n".encode()
    record = f"{dist_info}/RECORD"
    ordered = sorted(files, key=lambda entry: (entry.startswith(f"{dist_info}/"), entry))
    lines = [f"{entry},{_record_hash(files[entry])},{len(files[entry])}" for entry in ordered]
    files[record] = ("\n".join([*lines, f"{record},,"]) + "\n").encode()
    wheel = target_dir / f"{package}-{version}-py3-none-any.whl"
    target_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for entry in [*ordered, record]:
            info = zipfile.ZipInfo(entry, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3
            out.writestr(info, files[entry])
    return wheel


def pure_wheel(
    name: str, version: str, sdist_hashes: Sequence[str], cache: Path = PURE_WHEEL_CACHE
) -> Path:
    """The pure wheel of ``name==version`` assembled from its sdist, whose sha256 must be one
    of ``sdist_hashes`` (the lock's); made once, cached under ``cache`` by those hashes and
    :data:`PURE_WHEEL_RECIPE`, with the sdist beside it.

    ``pip download --no-deps --no-binary NAME --require-hashes`` fetches the sdist (nothing is
    built); :func:`assemble_pure_wheel` writes the wheel, so no build tool, compiler or
    pkg-config is involved and the bytes depend on the sdist alone. The wheel is written under
    a temporary name and moved into place; a cached wheel that does not read back as pure (a
    copy cut short) is made again. Raises RuntimeError if the result is not ``py3-none-any``
    or holds a compiled module."""
    if not sdist_hashes:
        raise ValueError(f"{name}=={version}: no sdist hash to check the download against")
    key = hashlib.sha256("\n".join([PURE_WHEEL_RECIPE, *sorted(sdist_hashes)]).encode())
    folder = cache / f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}-{key.hexdigest()[:16]}"
    with _exclusive(cache / f".{folder.name}.lock"):
        built = sorted(folder.glob("*.whl"))
        if len(built) == 1 and not wheel_problems(built[0]):
            return built[0]
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f".{folder.name}-", dir=cache) as scratch_dir:
            scratch = Path(scratch_dir)
            sdist = _download_sdist(name, version, sdist_hashes, scratch / "sdist")
            wheel = assemble_pure_wheel(sdist, name, version, scratch / "wheel")
            if problems := wheel_problems(wheel):
                raise RuntimeError("; ".join(problems))
            for stale in folder.iterdir():
                stale.unlink()
            for source in (sdist, wheel):
                partial = folder / f".{source.name}.partial"
                shutil.copyfile(source, partial)
                os.replace(partial, folder / source.name)
        return folder / wheel.name


def _download_sdist(name: str, version: str, sdist_hashes: Sequence[str], into: Path) -> Path:
    """``name==version``'s sdist from the index, checked against ``sdist_hashes``."""
    into.mkdir(parents=True)
    requirement = into.parent / "requirement.txt"
    hashes = " ".join(f"--hash=sha256:{digest}" for digest in sdist_hashes)
    requirement.write_text(f"{name}=={version} {hashes}\n", encoding="utf-8")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--disable-pip-version-check", "download"),
            *("--quiet", "--no-deps", "--no-binary", name),
            *("--require-hashes", "-r", str(requirement), "-d", str(into)),
        ],
        check=True,
        env=no_libvips_environment(into.parent / "no-pkg-config"),
    )
    (sdist,) = into.iterdir()
    return sdist


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
    source_allowed: Iterable[str],
    environment: Mapping[str, str],
) -> None:
    """Install the hashed ``lock`` into ``target`` as binary wheels for ``platforms``
    (``--no-deps --require-hashes``), except the lock's ``source_allowed`` pins: those whose
    marker holds in the target ``environment`` as the pure wheels :func:`pure_wheel` makes
    from their hashed sdists, with ``--no-deps``."""
    from functions.locking import read_pins

    binary_text, found = split_lock_text(lock.read_text(encoding="utf-8"), source_allowed)
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
        if pin.name in found and pin.applies(dict(environment))
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
