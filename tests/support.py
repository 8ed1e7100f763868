"""Test support: free loopback ports and emulator processes that are always stopped."""

from __future__ import annotations

import contextlib
import email
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from email.message import Message
from pathlib import Path
from typing import Any, NoReturn

LOOPBACK = "127.0.0.1"
ROOT = Path(__file__).resolve().parents[1]


def unavailable(reason: str) -> NoReturn:
    """A test's component (emulator, tool) is missing: fail under ``CI=true``, else skip."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, *, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Block until something listens on 127.0.0.1:port (or fail with the process's output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(
                f"process exited with {process.returncode} before listening:\n{output}"
            )
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {LOOPBACK}:{port} within {timeout}s")


@contextlib.contextmanager
def background_process(
    command: Sequence[str],
    *,
    port: int,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60.0,
    inherit_env: bool = True,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``command`` in its own process group, wait for ``port``, stop it (by PID) after.
    ``inherit_env=False`` gives it ``env`` alone (a platform's process sees only its own)."""
    process = subprocess.Popen(
        list(command),
        cwd=cwd or ROOT,
        env={**(os.environ if inherit_env else {}), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=timeout, process=process)
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        if process.stdout:
            process.stdout.close()


def python_command(*args: str) -> list[str]:
    """The current interpreter with arguments (tests run inside the project's venv)."""
    return [sys.executable, *args]


def import_from_extracted_zip(archive: Path, target: Path, *modules: str) -> list[Path]:
    """Extract a deployment zip into ``target`` and import ``modules`` there, as the platform
    would: the zip's code (``PYTHONPATH`` emptied, the extracted root first on ``sys.path``)
    over this venv's dependencies. Returns the file each module was loaded from."""
    import zipfile

    with zipfile.ZipFile(archive) as bundle:
        bundle.extractall(target)
    probe = "import importlib, sys\nfor name in sys.argv[1:]:\n"
    probe += "    print(importlib.import_module(name).__file__)\n"
    result = subprocess.run(
        python_command("-c", probe, *modules),
        cwd=target,
        env={**os.environ, "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    return [Path(line) for line in result.stdout.splitlines()[-len(modules) :]]


class SmtpRecorder:
    """aiosmtpd handler that records every message; answers 451 (try later) for ``tempfail``."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.tempfail: set[str] = set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.tempfail:
            return "451 4.3.0 mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.original_content or envelope.content)
        )
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        """Messages addressed to ``address``."""
        return [m for m in self.messages if m["To"] == address]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[SmtpRecorder, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 with a free port; STARTTLS off."""
    from aiosmtpd.controller import Controller

    recorder, port = SmtpRecorder(), free_port()
    controller = Controller(recorder, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield recorder, port
    finally:
        controller.stop()


def start_serve(
    home: Path, timeout: float = 90.0
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """``python -m functions.local serve`` on free ports under ``home`` (in its own session, no
    ``EVENTSUITE_*`` variables of the caller); returns the process and its ports map once
    written. The caller stops it with ``os.killpg(process.pid, signal.SIGTERM)``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTSUITE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "functions.local", "--home", str(home), "serve", "--base-port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while not (home / "ports.json").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("serve did not start")
            time.sleep(0.1)
        return process, json.loads((home / "ports.json").read_text())
    except BaseException as exc:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:  # the whole output once the process has ended, never a read that blocks on it
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
        raise AssertionError(f"{exc}:\n{output.decode(errors='replace')}") from exc
