"""The README's benchmark summary and BENCHMARKS.md come from the same `make bench` run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _between(text: str, begin: str, end: str) -> str:
    assert begin in text and end in text, (begin, end)
    return text.split(begin, 1)[1].split(end, 1)[0]


def test_the_readme_summary_is_taken_from_the_run_in_benchmarks_md() -> None:
    readme = _between(
        (ROOT / "README.md").read_text(),
        "<!-- bench-summary:begin -->",
        "<!-- bench-summary:end -->",
    )
    results = _between(
        (ROOT / "BENCHMARKS.md").read_text(), "<!-- bench:begin -->", "<!-- bench:end -->"
    )
    date = re.search(r"^- date: (.+)$", results, re.MULTILINE)
    machine = re.search(r"^- machine: (.+)$", results, re.MULTILINE)
    assert date and machine
    head = readme.strip().splitlines()[0]
    assert head.startswith(f"Latest run ({date[1]}, {machine[1]}; "), head
    # Every verdict count the README gives is the table's.
    table = re.search(r"^Summary: (.+)$", results, re.MULTILINE)
    assert table
    counts = {
        verdict: int(number)
        for number, verdict in re.findall(r"(\d+) (\w[\w ]*?)(?:,|$)", table[1])
    }
    given = re.findall(r"(\d+) (PASS|FAIL|met|missed)\b", head)
    assert given
    for number, verdict in given:
        assert counts.get(verdict) == int(number), (verdict, number, counts)
    # Every sentence but the PNG/WebP digest is one of the run's generated findings.
    for line in readme.strip().splitlines()[1:]:
        if line.startswith("- PNG and WebP vs pyvips"):
            continue
        assert line in results, line
