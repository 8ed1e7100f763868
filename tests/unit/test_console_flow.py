"""The event flow is drawn from the catalog, never by hand: the README's Mermaid diagram is the
generator's output, every consumer's subscriptions, follow-up events, attempts and dead letters
are in it, and the vendored renderer is byte for byte what was recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from functions.local.console import flow
from shared.catalog import load_catalog
from tests.support import ROOT

VENDOR = ROOT / "functions" / "local" / "console" / "static" / "vendor"


def test_the_readme_diagram_is_the_generators_output() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert flow.readme_section() in readme, (
        "README's event-flow diagram is stale for the catalog: run `make readme-flow`"
    )


def test_every_subscription_emission_and_dead_letter_destination_is_drawn() -> None:
    catalog = load_catalog()
    graph = flow.flow_graph(catalog)
    edges = {(e.source, e.target, e.kind) for e in graph.edges}
    text = flow.mermaid(graph)
    for consumer in catalog.consumers.values():
        node = f"consumer_{consumer.name}"
        for event in consumer.subscribes:
            assert (f"event_{event}", node, "delivers") in edges
        for event in consumer.emits:
            assert (node, f"event_{event}", "publishes") in edges
        assert (node, f"deadletters_{consumer.name}", "dead-letters") in edges
        assert f"{consumer.max_delivery_attempts} attempts" in text
    for schedule in catalog.schedules.values():
        assert f"every {schedule.every_minutes} min" in text
        for event in schedule.emits:
            assert (f"schedule_{schedule.name}", f"event_{event}", "publishes") in edges
    for endpoint in catalog.endpoints.values():
        for event in endpoint.emits:
            assert (f"endpoint_{endpoint.name}", f"event_{event}", "publishes") in edges
    # Nothing in the catalog emits ImageUploaded: object storage's notification does.
    assert ("storage", "event_ImageUploaded", "publishes") in edges
    assert "v2 · v1 upcast" in text


def test_a_new_consumer_in_the_catalog_appears_in_the_diagram(tmp_path: Path) -> None:
    source = ROOT / "shared" / "catalog"
    raw = json.loads((source / "catalog.json").read_text(encoding="utf-8"))
    raw["consumers"]["auditor"] = {
        **raw["consumers"]["notifier"],
        "subscribes": ["PaymentRefunded"],
        "max_delivery_attempts": 3,
    }
    (tmp_path / "schemas").symlink_to(source / "schemas")
    (tmp_path / "catalog.json").write_text(json.dumps(raw), encoding="utf-8")
    text = flow.mermaid(flow.flow_graph(load_catalog(tmp_path / "catalog.json")))
    assert "event_PaymentRefunded --> consumer_auditor" in text
    assert 'consumer_auditor -. "permanent, or after 3 attempts" .-> deadletters_auditor' in text
    assert flow.readme_section(flow.flow_graph(load_catalog(tmp_path / "catalog.json"))) not in (
        ROOT / "README.md"
    ).read_text(encoding="utf-8")


def test_splice_replaces_only_the_marked_block() -> None:
    readme = f"before\n{flow.BEGIN}\nold\n{flow.END}\nafter\n"
    assert flow.splice(readme, "NEW") == "before\nNEW\nafter\n"


def test_the_vendored_front_end_files_are_the_recorded_ones() -> None:
    recorded = json.loads((VENDOR / "VENDORED.json").read_text(encoding="utf-8"))
    on_disk = {str(path.relative_to(VENDOR)) for path in VENDOR.rglob("*") if path.is_file()} - {
        "VENDORED.json"
    }
    assert on_disk == set(recorded), "every vendored file is recorded, and only those"
    for name, entry in recorded.items():
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == entry["sha256"], f"{name} differs from {entry['from']}"
    assert "MIT License" in (VENDOR / "mermaid" / "LICENSE").read_text(encoding="utf-8")
