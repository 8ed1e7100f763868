"""The README's "Operating it" transcript is what the commands print today (ids and times
aside): regenerated from a real run and compared with the README."""

from __future__ import annotations

import re

import pytest

from functions.ops.transcript import current, generate
from tests.support import ROOT

pytestmark = pytest.mark.e2e

_VOLATILE = [
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)?"), "<time>"),
    (re.compile(r"\bord_[0-9a-f]{24}\b"), "<order>"),
    (re.compile(r"\bpay_[0-9a-f]{16,}\b"), "<payment>"),
    (re.compile(r'"etag": "[^"]+"'), '"etag": <etag>'),
    (re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01"), "<traceparent>"),
    (re.compile(r"(?<= )\d+[smhd](?= )"), "<age>"),
    # The sample images' encoded sizes depend on the Pillow/libjpeg build (and on the state
    # other tests leave in Pillow), so byte counts are compared as "a number".
    (re.compile(r"\b\d{4,}\b"), "<n>"),
    (re.compile(r"\(\d+ bytes not processed\)"), "(<n> bytes not processed)"),
    (re.compile(r"[ \t]+"), " "),
]


def normalized(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text.strip()


def test_the_readme_transcript_matches_a_fresh_run() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert normalized(current(readme)) == normalized(generate()), (
        "README 'Operating it' is stale: run `make readme-ops`"
    )
