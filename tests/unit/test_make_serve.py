"""``make serve`` passes the console's port only when one is asked for, so ``SERVE_PORT=0``
(free ports) also frees the console from 8080."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from tests.support import ROOT


def _serve_command(*assignments: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    env = {k: v for k, v in os.environ.items() if k not in ("CONSOLE_PORT", "SERVE_PORT")}
    printed = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "setup", "serve", *assignments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    command = re.search(r"-m functions\.local .*", " ".join(printed.replace("\\\n", " ").split()))
    assert command is not None, printed
    return command.group(0)


@pytest.mark.parametrize(
    ("assignments", "expected"),
    [
        ((), "--base-port 8081 --console-host 127.0.0.1"),
        (("SERVE_PORT=0",), "--base-port 0 --console-host 127.0.0.1"),
        (("CONSOLE_PORT=9000",), "--console-port 9000 --console-host 127.0.0.1"),
        (("SERVE_PORT=0", "CONSOLE_PORT=0"), "--base-port 0 --console-port 0"),
    ],
)
def test_the_console_port_is_passed_only_when_given(
    assignments: tuple[str, ...], expected: str
) -> None:
    command = _serve_command(*assignments)
    assert expected in command, command
