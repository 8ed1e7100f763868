"""The pure wheel assembled from an sdist without running its build, its cache, and what the
packagers do with it: offline, on small sdists made here (the real pyvips sdist is in
tests/integration/packaging/test_pure_wheel.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from functions import packaging
from functions.gcp import package as gcp_package
from functions.locking import spec

PKG_INFO = (
    "Metadata-Version: 2.4\nName: probe\nVersion: 1.0\nLicense-File: LICENSE.txt\n"
    "Requires-Dist: cffi>=1.0.0\n\nA probe.\n"
)


def _sdist(folder: Path, extra: dict[str, str] | None = None, pkg_info: str = PKG_INFO) -> Path:
    """A small ``probe-1.0.tar.gz`` laid out as setuptools' sdists are."""
    files = {
        "PKG-INFO": pkg_info,
        "LICENSE.txt": "MIT\n",
        "setup.py": "raise SystemExit('setup.py must not run')\n",
        "pyproject.toml": "[build-system]\n",
        "probe/__init__.py": "VALUE = 1\n",
        "probe/__init__.pyi": "VALUE: int\n",
        "probe/sub/__init__.py": "",
        "probe/sub/helper.py": "def help() -> int:\n    return 2\n",
        "probe.egg-info/PKG-INFO": pkg_info,
        "probe.egg-info/top_level.txt": "_probe\nprobe\n",
        "tests/test_probe.py": "",
        **(extra or {}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    sdist = folder / "probe-1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"probe-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return sdist


def test_the_wheel_holds_the_package_metadata_and_license_and_nothing_else(
    tmp_path: Path,
) -> None:
    wheel = packaging.assemble_pure_wheel(_sdist(tmp_path / "s"), "probe", "1.0", tmp_path / "w")
    assert wheel.name == "probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        read = {name: archive.read(name) for name in names}
        infos = archive.infolist()
    assert names == [
        "probe/__init__.py",
        "probe/__init__.pyi",
        "probe/sub/__init__.py",
        "probe/sub/helper.py",
        "probe-1.0.dist-info/METADATA",
        "probe-1.0.dist-info/WHEEL",
        "probe-1.0.dist-info/licenses/LICENSE.txt",
        "probe-1.0.dist-info/top_level.txt",
        "probe-1.0.dist-info/RECORD",
    ]
    assert read["probe-1.0.dist-info/METADATA"] == PKG_INFO.encode()
    assert read["probe-1.0.dist-info/top_level.txt"] == b"probe\n"
    wheel_file = read["probe-1.0.dist-info/WHEEL"].decode().splitlines()
    assert wheel_file[:4] == [
        "Wheel-Version: 1.0",
        f"Generator: eventsuite ({packaging.PURE_WHEEL_RECIPE})",
        "Root-Is-Purelib: true",
        "Tag: py3-none-any",
    ]
    record = read["probe-1.0.dist-info/RECORD"].decode().splitlines()
    assert record[-1] == "probe-1.0.dist-info/RECORD,,"
    for line in record[:-1]:
        name, digest, size = line.split(",")
        data = read[name]
        expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, int(size)) == (f"sha256={expected}", len(data))
    assert {info.date_time for info in infos} == {packaging.FIXED_TIME}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    assert packaging.wheel_problems(wheel) == []


def test_the_same_sdist_always_gives_the_same_bytes(tmp_path: Path) -> None:
    first = packaging.assemble_pure_wheel(_sdist(tmp_path / "a"), "probe", "1.0", tmp_path / "1")
    second = packaging.assemble_pure_wheel(_sdist(tmp_path / "b"), "probe", "1.0", tmp_path / "2")
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.parametrize(
    "extra",
    [
        {"probe/_native.c": "int x;\n"},
        {"probe/_probe.abi3.so": "\x7fELF"},
        {"probe/data.json": "{}"},
    ],
)
def test_a_file_it_cannot_ship_as_is_stops_the_build(tmp_path: Path, extra: dict[str, str]) -> None:
    with pytest.raises(RuntimeError, match="neither a module nor a stub"):
        packaging.assemble_pure_wheel(_sdist(tmp_path, extra), "probe", "1.0", tmp_path / "w")


def test_an_sdist_of_another_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"PKG-INFO names probe==1\.0"):
        packaging.assemble_pure_wheel(_sdist(tmp_path), "probe", "2.0", tmp_path / "w")


@pytest.fixture
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """``pure_wheel`` with the index replaced by the probe sdist; each download recorded."""
    made: list[Path] = []

    def download(name: str, version: str, hashes: tuple[str, ...], into: Path) -> Path:
        made.append(into)
        return _sdist(into)

    monkeypatch.setattr(packaging, "_download_sdist", download)
    return made


def test_a_truncated_cached_wheel_is_made_again(tmp_path: Path, downloads: list[Path]) -> None:
    """A copy cut short (an interrupted build) is not a zip: it is rebuilt, not a BadZipFile
    on every later build."""
    cache = tmp_path / "cache"
    wheel = packaging.pure_wheel("probe", "1.0", ("5" * 64,), cache)
    good = wheel.read_bytes()
    assert (wheel.parent / "probe-1.0.tar.gz").is_file()  # the sdist kept beside it
    wheel.write_bytes(good[: len(good) // 2])
    assert packaging.wheel_problems(wheel)  # reported, not raised
    again = packaging.pure_wheel("probe", "1.0", ("5" * 64,), cache)
    assert again == wheel and again.read_bytes() == good
    assert len(downloads) == 2
    assert sorted(p.name for p in wheel.parent.iterdir()) == [
        "probe-1.0-py3-none-any.whl",
        "probe-1.0.tar.gz",
    ]  # no partial file left behind


def test_a_cached_wheel_is_reused(tmp_path: Path, downloads: list[Path]) -> None:
    first = packaging.pure_wheel("probe", "1.0", ("5" * 64,), tmp_path)
    assert packaging.pure_wheel("probe", "1.0", ("5" * 64,), tmp_path) == first
    assert len(downloads) == 1


def test_an_interrupted_copy_leaves_the_cached_wheel_name_unused(
    tmp_path: Path, downloads: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wheel is copied under a temporary name and renamed: a copy that dies half way
    never leaves a partial file under the name the cache serves."""

    def dying_copy(source: Any, target: Any) -> None:
        Path(target).write_bytes(Path(source).read_bytes()[:10])
        raise KeyboardInterrupt

    monkeypatch.setattr(packaging.shutil, "copyfile", dying_copy)
    with pytest.raises(KeyboardInterrupt):
        packaging.pure_wheel("probe", "1.0", ("5" * 64,), tmp_path)
    assert not list(tmp_path.rglob("*.whl"))


def test_colliding_archive_names_are_an_error(tmp_path: Path) -> None:
    project = tmp_path / "main.py"
    vendored = tmp_path / "vendor" / "main.py"
    vendored.parent.mkdir()
    project.write_text("project\n")
    vendored.write_text("vendored\n")
    with pytest.raises(ValueError, match=r"main\.py comes from both"):
        packaging.write_zip(tmp_path / "out.zip", [(project, "main.py"), (vendored, "main.py")])
    packaging.write_zip(tmp_path / "out.zip", [(project, "main.py"), (project, "main.py")])


def test_gcp_unpacks_a_remade_wheel_afresh(tmp_path: Path) -> None:
    """Same wheel name, other bytes (a new recipe): a new folder, not the stale unpacking."""
    first = packaging.assemble_pure_wheel(_sdist(tmp_path / "a"), "probe", "1.0", tmp_path / "1")
    changed = _sdist(tmp_path / "b", {"probe/__init__.py": "VALUE = 2\n"})
    second = packaging.assemble_pure_wheel(changed, "probe", "1.0", tmp_path / "2")
    assert first.name == second.name
    scratch = tmp_path / "vendor"
    old = gcp_package.unpacked_wheel(first, scratch)
    new = gcp_package.unpacked_wheel(second, scratch)
    assert old != new
    assert (new / "probe" / "__init__.py").read_text() == "VALUE = 2\n"
    assert gcp_package.unpacked_wheel(first, scratch) == old


def test_gcp_removes_the_staging_folder_when_extraction_fails(tmp_path: Path) -> None:
    broken = tmp_path / "probe-1.0-py3-none-any.whl"
    broken.write_bytes(b"PK\x03\x04 not a whole zip")
    scratch = tmp_path / "vendor"
    with pytest.raises(zipfile.BadZipFile):
        gcp_package.unpacked_wheel(broken, scratch)
    assert list(scratch.iterdir()) == []


def test_gcp_vendors_what_the_lock_takes_from_source_where_its_marker_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = tmp_path / "gcp-images.txt"
    lock.write_text(
        f"pyvips==3.2.0 ; sys_platform == 'win32' --hash=sha256:{'5' * 64}\n"
        f"pillow==12.0.0 --hash=sha256:{'6' * 64}\n"
    )
    lock_spec = spec("gcp-images")
    assert lock_spec.source_allowed == ("pyvips",)
    monkeypatch.setattr(type(lock_spec), "path", property(lambda _: lock))
    built: list[str] = []
    monkeypatch.setattr(gcp_package, "pure_wheel", lambda name, *_: built.append(name))
    requirements, vendored = gcp_package.shipped_requirements("images", tmp_path / "scratch")
    assert requirements.read_text() == f"pillow==12.0.0 --hash=sha256:{'6' * 64}\n"
    assert (vendored, built) == ([], [])  # the pin is for Windows: nothing vendored for Linux


def test_a_lock_spec_gives_its_targets_marker_values() -> None:
    assert spec("aws-images").marker_environment()["platform_machine"] == "aarch64"
    azure = spec("azure").marker_environment()
    assert (azure["platform_machine"], azure["python_version"], azure["sys_platform"]) == (
        "x86_64",
        "3.12",
        "linux",
    )
    assert spec("dev").marker_environment() == {}
