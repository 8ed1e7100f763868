"""Fixtures for the Google Cloud tests: the GCS emulator, an SMTP server and functions-framework
apps built from ``functions/gcp/main.py`` exactly as Cloud Functions loads it."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.gcp import bootstrap
from tests.support import ROOT, SmtpRecorder, background_process, free_port, python_command
from tests.support import smtp_server as running_smtp_server

MAIN = ROOT / "functions" / "gcp" / "main.py"
EVENTS = ROOT / "tests" / "events" / "gcp"
PROJECT = "test-project"


def load_event(name: str) -> Any:
    """A sample delivery from tests/events/gcp."""
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def make_app(
    target: str,
    *,
    consumer: str | None = None,
    endpoint: str | None = None,
    schedule: str | None = None,
    source: Path = MAIN,
) -> Any:
    """A functions-framework test client for ``target`` in ``source``, as deployed.

    The role variables are set only while the module loads (main.py reads them then), and
    everything functions-framework changes globally (env, sys.path, sys.modules['main']) is
    put back, so apps for several roles live side by side in one process.
    """
    import functions_framework

    signature = "cloudevent" if target == "handle_event" else "http"
    saved_path, had_main = list(sys.path), "main" in sys.modules
    saved_main = sys.modules.get("main")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FUNCTION_TARGET", target)
        patch.setenv("FUNCTION_SIGNATURE_TYPE", signature)
        for name, value in (
            ("EVENTSUITE_CONSUMER", consumer),
            ("EVENTSUITE_ENDPOINT", endpoint),
            ("EVENTSUITE_SCHEDULE", schedule),
        ):
            if value is None:
                patch.delenv(name, raising=False)
            else:
                patch.setenv(name, value)
        try:
            app = functions_framework.create_app(target, str(source), signature)
        finally:
            sys.path[:] = saved_path
            if had_main:
                sys.modules["main"] = saved_main  # type: ignore[assignment]
            else:
                sys.modules.pop("main", None)
    return app.test_client()


@pytest.fixture(autouse=True)
def _fresh_bootstrap() -> Iterator[None]:
    """Every test starts with no cached ports."""
    bootstrap.reset()
    yield
    bootstrap.reset()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """``gcp-storage-emulator`` on 127.0.0.1 (in memory), once per session; yields its URL."""
    port = free_port()
    command = python_command(
        "-m",
        "gcp_storage_emulator",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--in-memory",
        "--quiet",
    )
    with background_process(command, port=port):
        url = f"http://127.0.0.1:{port}"
        with pytest.MonkeyPatch.context() as patch:
            # The SDK talks to the emulator (anonymously) whenever this is set.
            patch.setenv("STORAGE_EMULATOR_HOST", url)
            yield url


@pytest.fixture(scope="session")
def storage_client(gcs_emulator: str) -> Any:
    """A ``google.cloud.storage.Client`` on the emulator, with anonymous credentials."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project=PROJECT,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_emulator},
    )


_bucket_ids = iter(range(1, 10_000))


@pytest.fixture
def buckets(storage_client: Any) -> dict[str, str]:
    """Fresh uploads/thumbnails/claims buckets for one test."""
    n = next(_bucket_ids)
    names = {kind: f"{kind}-{os.getpid()}-{n}" for kind in ("uploads", "thumbnails", "claims")}
    for name in names.values():
        storage_client.create_bucket(name)
    return names


SmtpSink = SmtpRecorder  # the messages a real aiosmtpd server received (tests.support)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[int, SmtpRecorder]]:
    """A real SMTP server on 127.0.0.1 (no TLS); yields (port, sink)."""
    with running_smtp_server() as (recorder, port):
        yield port, recorder


def sample_jpeg(
    *,
    make: str = "Fujifilm",
    model: str = "X100V",
    size: tuple[int, int] = (640, 480),
    taken: str = "2025:08:14 09:30:00",
) -> bytes:
    """A small JPEG with EXIF camera make/model and capture time."""
    import io

    from PIL import Image

    image = Image.new("RGB", size, (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = make, model, taken
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80, exif=exif)
    return buffer.getvalue()


def gcloud_emulator(kind: str) -> list[str] | None:
    """The command of an installed gcloud emulator (``pubsub`` or ``firestore``), or None.

    The apt packages ``google-cloud-cli-pubsub-emulator`` / ``-firestore-emulator`` (plus a
    Java runtime) install them under the Cloud SDK's ``platform/`` folder.
    """
    import shutil

    gcloud, java = shutil.which("gcloud"), shutil.which("java")
    if not gcloud or not java:
        return None
    root = Path(os.environ.get("CLOUDSDK_ROOT_DIR") or Path(os.path.realpath(gcloud)).parents[1])
    binary = {
        "pubsub": root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator",
        "firestore": root / "platform" / "cloud-firestore-emulator" / "cloud_firestore_emulator",
    }[kind]
    if not binary.is_file():
        return None
    return [str(binary), "start"] if kind == "firestore" else [str(binary)]


@contextlib.contextmanager
def emulator_host(kind: str, variable: str) -> Iterator[str]:
    """``host:port`` of a Google emulator: the one named by ``variable`` (the GitHub workflow
    starts them), else one started here on 127.0.0.1 when installed; otherwise skip, saying why.
    """
    if os.environ.get(variable):
        yield os.environ[variable]
        return
    command = gcloud_emulator(kind)
    if command is None:
        pytest.skip(
            f"{kind} contract tests need {variable} (Google's {kind} emulator, as the "
            f"GitHub workflow starts it) or the installed gcloud {kind} emulator "
            f"(apt google-cloud-cli-{kind}-emulator and Java); neither is available"
        )
    port = free_port()
    with (
        background_process(
            [*command, "--host=127.0.0.1", f"--port={port}"], port=port, timeout=120
        ),
        pytest.MonkeyPatch.context() as patch,
    ):
        host = f"127.0.0.1:{port}"
        patch.setenv(variable, host)
        yield host
