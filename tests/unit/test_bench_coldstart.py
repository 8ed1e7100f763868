"""The cold-start benchmark composes every role the way its cloud does: a stale bootstrap line
would turn its figures into the cost of an exception."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from shared.catalog import default_catalog
from tests.bench.coldstart import BOOTSTRAP, OFFLINE_ENV

pytest.importorskip("boto3")
pytest.importorskip("google.cloud.storage")
pytest.importorskip("azure.storage.blob")


@pytest.mark.parametrize(("cloud", "kind"), sorted(BOOTSTRAP))
def test_every_role_bootstraps_offline(cloud: str, kind: str) -> None:
    catalog = default_catalog()
    names = catalog.consumers if kind == "consumer" else catalog.endpoints
    variable = "EVENTSUITE_CONSUMER" if kind == "consumer" else "EVENTSUITE_ENDPOINT"
    for name in sorted(names):
        environment = {**os.environ, **OFFLINE_ENV, variable: name}
        done = subprocess.run(
            [sys.executable, "-c", f"ROLE = {name!r}\n{BOOTSTRAP[(cloud, kind)]}"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{cloud} {kind} {name}: {done.stderr[-600:]}"
