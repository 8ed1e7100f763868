"""Cloud Functions source zips: reproducible, self-contained, served by functions-framework, and
each function imports only what its group needs (cold start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from functions.gcp.package import GROUPS, build, requirements_file
from functions.locking import PURE_FROM_SOURCE, read_pins
from functions.packaging import split_lock_text
from shared.orders.webhooks import SIGNATURE_HEADER, sign
from tests.integration.gcp.conftest import load_event
from tests.support import ROOT, background_process, free_port, python_command

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("gcp-build")
    return {group: build(group, out)[0] for group in GROUPS}


def _requirements(path: Path, scratch: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        text = archive.read("requirements.txt")
    (scratch / path.name).write_bytes(text)
    return [f"{pin.name}=={pin.version}" for pin in read_pins(scratch / path.name)]


def test_building_twice_gives_byte_identical_zips(tmp_path: Path, zips: dict[str, Path]) -> None:
    for group, first in zips.items():
        second, _ = build(group, tmp_path)
        assert second.read_bytes() == first.read_bytes(), group


def test_zip_layout_main_at_the_root_next_to_functions_and_shared(zips: dict[str, Path]) -> None:
    for path in zips.values():
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            assert archive.read("main.py") == (ROOT / "functions/gcp/main.py").read_bytes()
            infos = archive.infolist()
        assert {
            "main.py",
            "requirements.txt",
            "functions/__init__.py",
            "functions/common/cache.py",
            "functions/gcp/__init__.py",
            "functions/gcp/entrypoint.py",
            "shared/catalog/catalog.json",
            "shared/templates/OrderPlaced.txt",
        } <= names
        assert "functions/gcp/package.py" not in names
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
        assert not any(
            n.startswith(("functions/aws/", "functions/azure/", "tests/")) for n in names
        )
        assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}


def test_requirements_are_the_hashed_lock_and_orders_have_no_pillow(
    zips: dict[str, Path], tmp_path: Path
) -> None:
    for group, path in zips.items():
        lock = requirements_file(group).read_text(encoding="utf-8")
        with zipfile.ZipFile(path) as archive:
            shipped = archive.read("requirements.txt").decode()
        # The lock as is, minus pyvips' sdist line (vendored as its pure wheel instead).
        assert shipped == split_lock_text(lock, PURE_FROM_SOURCE)[0], group
        (tmp_path / f"{group}.txt").write_text(shipped)
        assert all(pin.hashes for pin in read_pins(tmp_path / f"{group}.txt"))  # all hashed
    images, orders = (
        _requirements(zips["images"], tmp_path),
        _requirements(zips["orders"], tmp_path),
    )
    assert any(line.startswith("pillow==") for line in images)
    assert any(line.startswith(("pyvips-binary==", "cffi==")) for line in images)
    assert not any(line.startswith("pyvips==") for line in images)
    assert not any("pillow" in line or "pyvips" in line for line in orders)
    assert any(line.startswith("functions-framework==") for line in orders)
    orders_lock = requirements_file("orders").read_bytes()
    with zipfile.ZipFile(zips["orders"]) as archive:
        assert archive.read("requirements.txt") == orders_lock  # byte for byte


def test_the_images_zip_vendors_the_pure_pyvips_wheel_and_orders_nothing(
    zips: dict[str, Path],
) -> None:
    with zipfile.ZipFile(zips["images"]) as archive:
        images = archive.namelist()
        wheel = archive.read("pyvips-3.2.0.dist-info/WHEEL").decode()
    assert {"pyvips/__init__.py", "pyvips/vimage.py", "pyvips-3.2.0.dist-info/METADATA"} <= set(
        images
    )
    assert "Tag: py3-none-any" in wheel.splitlines()
    assert not [n for n in images if n.endswith((".so", ".pyd")) or n.startswith("_libvips")]
    assert "pyvips-3.2.0.dist-info/RECORD" not in images
    with zipfile.ZipFile(zips["orders"]) as archive:
        assert not [n for n in archive.namelist() if n.startswith(("pyvips", "PIL"))]


def _extract(path: Path, target: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        archive.extractall(target)
    return target


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _serve_env(**role: str) -> dict[str, str]:
    # PYTHONPATH emptied: only the extracted source root (cwd) and the venv's packages count.
    return {
        "PYTHONPATH": "",
        "LOG_EXECUTION_ID": "true",
        "EVENTSUITE_GCP_PROJECT": "test-project",
        "EVENTSUITE_EVENTS_TOPIC": "eventsuite-events",
        **role,
    }


def test_extracted_orders_zip_serves_http_under_functions_framework(
    zips: dict[str, Path], tmp_path: Path
) -> None:
    source = _extract(zips["orders"], tmp_path / "orders")
    probe = subprocess.run(
        python_command("-c", "import functions.gcp.entrypoint as m, shared; print(m.__file__)"),
        cwd=source,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(probe.stdout.strip()).is_relative_to(source)  # the zip's copy, not the repo's
    port = free_port()
    command = python_command(
        "-m",
        "functions_framework",
        "--target",
        "handle_http",
        "--source",
        "main.py",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    )
    env = _serve_env(EVENTSUITE_ENDPOINT="payment_webhook", EVENTSUITE_WEBHOOK_SECRET="whsec_zip")
    body = json.dumps({"id": "evt_zip_1", "type": "payment.succeeded", "data": {}}).encode()

    with background_process(command, port=port, env=env, cwd=source):
        url = f"http://127.0.0.1:{port}/"
        forged = _post(url, body, {SIGNATURE_HEADER: sign(body, "nope", int(time.time()))})
        signed = _post(url, body, {SIGNATURE_HEADER: sign(body, "whsec_zip", int(time.time()))})

    assert forged[0] == 401
    assert signed[0] == 200
    assert json.loads(signed[1])["ignored"] is True  # verified, then acknowledged and ignored


def test_extracted_images_zip_serves_cloud_events_under_functions_framework(
    zips: dict[str, Path], tmp_path: Path
) -> None:
    source = _extract(zips["images"], tmp_path / "images")
    port = free_port()
    command = python_command(
        "-m",
        "functions_framework",
        "--target",
        "handle_event",
        "--source",
        "main.py",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    )
    sample = load_event("eventarc_storage_finalized.json")
    sample["body"]["name"] = "not-an-upload/readme.txt"  # acknowledged without any cloud call

    with background_process(
        command,
        port=port,
        env=_serve_env(
            EVENTSUITE_CONSUMER="indexer", EVENTSUITE_DEAD_LETTER_TOPIC="eventsuite-indexer-dlq"
        ),
        cwd=source,
    ):
        status, answer = _post(
            f"http://127.0.0.1:{port}/", json.dumps(sample["body"]).encode(), sample["headers"]
        )
        garbage = _post(f"http://127.0.0.1:{port}/", b"{}", {"Content-Type": "application/json"})

    assert (status, answer) == (200, b"OK")
    assert garbage[0] == 400


_IMPORTS_PROBE = """
import json, sys
import functions.gcp.main
from functions.gcp import bootstrap
kind, name = sys.argv[1], sys.argv[2]
runtime = bootstrap.runtime(f"{kind}:{name}")
getattr(runtime, kind)(name)  # the handler bound with its ports, as on the first call
print(json.dumps({
    "pil": any(m == "PIL" or m.startswith("PIL.") for m in sys.modules),
    "pubsub": any(m.startswith("google.cloud.pubsub") for m in sys.modules),
}))
"""


@pytest.mark.parametrize(
    ("kind", "name", "pil"),
    [
        ("consumer", "thumbnailer", True),
        ("consumer", "indexer", True),
        ("consumer", "payments", False),
        ("consumer", "notifier", False),
        ("endpoint", "orders_api", False),
        ("endpoint", "payment_webhook", False),
        ("schedule", "order_reconciler", False),
    ],
)
def test_functions_import_only_what_their_group_needs(kind: str, name: str, pil: bool) -> None:
    env = {
        **os.environ,
        "EVENTSUITE_GCP_PROJECT": "test-project",
        "EVENTSUITE_EVENTS_TOPIC": "eventsuite-events",
        "EVENTSUITE_DEAD_LETTER_TOPIC": f"eventsuite-{name}-dlq",
        "EVENTSUITE_SMTP_HOST": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
        f"EVENTSUITE_{kind.upper()}": name,
    }
    result = subprocess.run(
        [sys.executable, "-c", _IMPORTS_PROBE, kind, name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = json.loads(result.stdout.strip().splitlines()[-1])
    assert imported["pil"] is pil  # image handlers need Pillow; order functions never load it
    # Pub/Sub's client is imported at the first publish or dead letter, never at start-up.
    assert imported["pubsub"] is False
