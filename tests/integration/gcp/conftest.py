"""Fixtures for the Google Cloud tests: the GCS emulator, an SMTP server and functions-framework
apps built from ``functions/gcp/main.py`` exactly as Cloud Functions loads it."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from functions.gcp import bootstrap
from tests.emulators import GCP_PROJECT, emulator_host, gcloud_emulator
from tests.support import ROOT, SmtpRecorder
from tests.support import smtp_server as running_smtp_server

MAIN = ROOT / "functions" / "gcp" / "main.py"
EVENTS = ROOT / "tests" / "events" / "gcp"
PROJECT = GCP_PROJECT
# The emulator helpers live in tests/emulators.py (session fixtures firestore_host, pubsub_host);
# importable from here too for older modules.
__all__ = ["PROJECT", "emulator_host", "gcloud_emulator", "load_event", "make_app", "sample_jpeg"]


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
