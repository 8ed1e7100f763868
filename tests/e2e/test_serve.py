"""``make serve`` as an operator meets it: a taken port stops it at once with a clear message,
an image PUT on the upload port flows through the pipeline, Ctrl-C stops every child, and
gunicorn's control socket never trips over the other servers."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from functions.local import samples
from functions.local.serve import HOST, plan_ports, port_is_free, serve
from shared.catalog import default_catalog
from tests.support import start_serve

pytestmark = pytest.mark.e2e


def test_a_taken_port_stops_serve_at_once_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        assert serve(tmp_path / "serve", base_port=port) == 2
        assert time.monotonic() - started < 5
    error = capsys.readouterr().err
    assert error.startswith(f"serve: error: port {port} on 127.0.0.1 is already in use")
    assert "SERVE_PORT=0" in error and error.count("\n") == 1
    assert not (tmp_path / "serve").exists()


def test_free_ports_are_picked_when_asked() -> None:
    ports = plan_ports(0, 7)
    assert len(set(ports)) == 7 and all(port_is_free(p) for p in ports)


def test_upload_over_http_then_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    home = tmp_path / "serve"
    process, ports = start_serve(home)
    try:
        deadline = time.monotonic() + 90
        request = urllib.request.Request(
            f"http://{HOST}:{ports['uploads']}/uploads/harbour.jpg",
            data=samples.jpeg_with_exif(),
            method="PUT",
            headers={"Content-Type": "image/jpeg"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            assert json.loads(response.read()) == {
                "bucket": "uploads",
                "key": "uploads/harbour.jpg",
            }
        thumbnails = home / "objects" / "thumbnails"
        while time.monotonic() < deadline and not any(thumbnails.rglob("*.jpg")):
            time.sleep(0.2)
        assert any(thumbnails.rglob("*.jpg")), "the uploaded image was not thumbnailed"

        process.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    catalog = default_catalog()
    assert f"stopped {len(catalog.consumers) + len(catalog.endpoints)} processes" in text
    assert "control" not in text.lower() and "Address already in use" not in text
    everything = [*ports["consumers"].values(), *ports["endpoints"].values(), ports["uploads"]]
    assert all(port_is_free(port) for port in everything), "a child still holds its port"


def _listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses something listens on at ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_a_taken_console_port_stops_serve_at_once_with_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert serve(tmp_path / "serve", base_port=0, console_port=port) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"serve: error: the console's port {port} on 127.0.0.1 is already")
    assert "CONSOLE_PORT=0" in error and error.count("\n") == 1


def test_the_console_answers_on_loopback_only_and_is_in_the_map(tmp_path: Path) -> None:
    home = tmp_path / "serve"
    process, ports = start_serve(home)
    try:
        console = ports["console"]
        with urllib.request.urlopen(f"http://{HOST}:{console}/", timeout=10) as response:
            page = response.read().decode()
        assert response.status == 200 and "Event flow" in page and "mermaid.min.js" in page
        assert _listening_addresses(console) == {"127.0.0.1"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert f"console  (browser)       http://127.0.0.1:{console}/" in output.decode()
    assert port_is_free(console)
