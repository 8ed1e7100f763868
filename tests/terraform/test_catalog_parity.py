"""Every catalog consumer gets its buffer, dead letters, function and alarm on every cloud.

Asserted on the parsed Terraform: the per-consumer resources of each module use for_each over
the consumers variable (or a local derived from it), and each root feeds that variable from
jsondecode(file(".../shared/catalog/catalog.json")).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.terraform.conftest import report, tfcheck

CLOUDS = list(tfcheck.PARITY)


def test_catalog_has_consumers() -> None:
    consumers = json.loads(tfcheck.CATALOG.read_text(encoding="utf-8"))["consumers"]
    assert consumers, "the catalog lists no consumers"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_every_consumer_gets_its_resources(cloud: str) -> None:
    findings = tfcheck.catalog_parity(cloud)
    assert not findings, report(findings)


def _catalog(tf: Path) -> Path:
    return tf.parent / "shared" / "catalog" / "catalog.json"


def _remove_lines(path: Path, first: int, last: int) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    del lines[first - 1 : last]
    path.write_text("".join(lines), encoding="utf-8")


DEAD_LETTER = {
    # cloud: (resource type, what carries the dead-lettering)
    "aws": ("aws_sqs_queue", "redrive_policy"),
    "gcp": ("google_pubsub_subscription", "dead_letter_policy"),
    "azure": ("azurerm_eventgrid_event_subscription", "storage_blob_dead_letter_destination"),
}


@pytest.mark.parametrize("cloud", CLOUDS)
def test_parity_fails_when_dead_lettering_is_removed(tf_copy: Path, cloud: str) -> None:
    assert not tfcheck.catalog_parity(cloud, tf_copy, _catalog(tf_copy)), "copy must start clean"
    rtype, name = DEAD_LETTER[cloud]
    mod = tfcheck.load_module(tf_copy / tfcheck.PARITY[cloud]["module"])
    removed = 0
    # bottom-up so that line numbers stay valid
    targets = []
    for res in mod.top("resource"):
        if res.labels[0] != rtype:
            continue
        if name in res.attrs:
            targets.append((res.file, res.attrs[name].line, res.attrs[name].end_line))
        for blk in res.blocks:
            if blk.type == name or (blk.type == "dynamic" and blk.labels[:1] == [name]):
                targets.append((blk.file, blk.line, blk.end_line))
    for file, first, last in sorted(targets, key=lambda t: (str(t[0]), -t[1])):
        _remove_lines(file, first, last)
        removed += 1
    assert removed, f"{cloud}: no {rtype} with {name} to remove"
    findings = tfcheck.catalog_parity(cloud, tf_copy, _catalog(tf_copy))
    assert any(
        f.check == "parity" and ("lacks" in f.message or "no per-consumer" in f.message)
        for f in findings
    ), report(findings)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_parity_fails_when_the_root_does_not_read_the_catalog(tf_copy: Path, cloud: str) -> None:
    root = tf_copy / tfcheck.PARITY[cloud]["root"]
    changed = 0
    for f in tfcheck.tf_files(root):
        text = f.read_text(encoding="utf-8")
        new = re.sub(r"catalog\.json", "other.json", text)
        if new != text:
            f.write_text(new, encoding="utf-8")
            changed += 1
    assert changed, f"{cloud}: the root never names catalog.json"
    findings = tfcheck.catalog_parity(cloud, tf_copy, _catalog(tf_copy))
    assert any("catalog" in f.message for f in findings), report(findings)


@pytest.mark.parametrize("cloud", CLOUDS)
def test_parity_fails_when_a_resource_is_not_per_consumer(tf_copy: Path, cloud: str) -> None:
    # Azure: one Flex Consumption app hosts every consumer's function; its queues are per consumer.
    rtype = {
        "aws": "aws_lambda_function",
        "gcp": "google_cloudfunctions2_function",
        "azure": "azurerm_storage_queue",
    }[cloud]
    mod = tfcheck.load_module(tf_copy / tfcheck.PARITY[cloud]["module"])
    edited = 0
    for res in sorted(mod.top("resource"), key=lambda r: -r.line):
        fe = res.attrs.get("for_each")
        if res.labels[0] == rtype and fe is not None:
            _remove_lines(res.file, fe.line, fe.end_line)
            edited += 1
    assert edited, f"{cloud}: no {rtype} with for_each"
    findings = tfcheck.catalog_parity(cloud, tf_copy, _catalog(tf_copy))
    assert any(rtype in f.message for f in findings), report(findings)


def test_parity_fails_without_the_azure_function_app(tf_copy: Path) -> None:
    mod = tfcheck.load_module(tf_copy / tfcheck.PARITY["azure"]["module"])
    apps = [
        r for r in mod.top("resource") if r.labels[0] == "azurerm_function_app_flex_consumption"
    ]
    assert apps
    for app in sorted(apps, key=lambda r: -r.line):
        text = app.file.read_text(encoding="utf-8").splitlines(keepends=True)
        text[app.line - 1] = text[app.line - 1].replace(
            "azurerm_function_app_flex_consumption", "azurerm_linux_function_app"
        )
        app.file.write_text("".join(text), encoding="utf-8")
    findings = tfcheck.catalog_parity("azure", tf_copy, _catalog(tf_copy))
    assert any("Flex Consumption function app" in f.message for f in findings), report(findings)
