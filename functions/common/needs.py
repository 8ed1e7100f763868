"""What each catalog function needs, derived from its handler's signature.

``python -m functions.common.needs`` writes ``shared/catalog/needs.json``, which Terraform reads
to grant each function exactly the ports its code uses and the events the catalog lets it
emit; a test keeps the file in step with the handlers. A consumer also uses the idempotency
store, its dead-letter destination and the object store (claim checks are resolved on
decode); a publisher writes large payloads to the object store (claim checks).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from functions.common.runtime import catalog_roles
from shared.catalog import Catalog, default_catalog
from shared.dispatch import resolve_handler
from shared.inject import needs_of
from shared.ports import PORT_FIELDS, WebhookConfig

NEEDS_FILE = Path(__file__).resolve().parents[2] / "shared" / "catalog" / "needs.json"
PORT_NAMES: dict[type, str] = {**PORT_FIELDS, WebhookConfig: "webhook_secrets"}
SECTIONS = {"consumer": "consumers", "endpoint": "http_endpoints", "schedule": "schedules"}


def function_needs(catalog: Catalog) -> dict[str, dict[str, dict[str, list[str]]]]:
    """``{section: {name: {"ports": [...], "emits": [...]}}}`` for every catalog function."""
    result: dict[str, dict[str, dict[str, list[str]]]] = {s: {} for s in SECTIONS.values()}
    for kind, name, reference, leading in catalog_roles(catalog):
        ports = {
            PORT_NAMES[need.kind]
            for need in needs_of(resolve_handler(reference), leading=leading)
            if need.kind in PORT_NAMES
        }
        if kind == "consumer":
            ports |= {"idempotency", "dead_letters", "objects"}
            emits = catalog.consumer(name).emits
        elif kind == "endpoint":
            emits = catalog.endpoint(name).emits
        else:
            emits = catalog.schedule(name).emits
        if "publisher" in ports:
            ports.add("objects")
        result[SECTIONS[kind]][name] = {"ports": sorted(ports), "emits": sorted(emits)}
    return result


def render(catalog: Catalog | None = None) -> str:
    """The needs file's text."""
    needs: Any = function_needs(catalog or default_catalog())
    return json.dumps(needs, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) ``shared/catalog/needs.json``."""
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in args:
        if not NEEDS_FILE.exists() or NEEDS_FILE.read_text() != text:
            print(f"{NEEDS_FILE} is stale: run python -m functions.common.needs", file=sys.stderr)
            return 1
        return 0
    NEEDS_FILE.write_text(text)
    print(f"wrote {NEEDS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
