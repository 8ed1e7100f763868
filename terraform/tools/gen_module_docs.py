#!/usr/bin/env python3
"""Regenerate each module README's inputs/outputs tables from variables.tf / outputs.tf.

The tables live between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->`; everything else
in the README is left alone. A README without the markers gets them appended (a missing README
is created) in write mode; `--check` only reports.

    python terraform/tools/gen_module_docs.py            # rewrite every terraform/modules/*/README.md
    python terraform/tools/gen_module_docs.py --check    # exit 1 and list the stale READMEs
    python terraform/tools/gen_module_docs.py DIR...     # only these module directories
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tfcheck import TERRAFORM_DIR, Attr, Block, load_module  # noqa: E402

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"


def _cell_code(text: str) -> str:
    """A code cell: one line in backticks, several lines as <pre> with <br/>."""
    text = text.strip()
    if "\n" not in text:
        return "`" + text.replace("|", "\\|").replace("`", "'") + "`"
    lines = [ln.rstrip() for ln in text.splitlines()]
    # continuation lines are indented relative to the attribute; the closing line shows by how much
    indent = len(lines[-1]) - len(lines[-1].lstrip())
    shown = [lines[0]] + [ln[indent:] if not ln[:indent].strip() else ln.lstrip() for ln in lines[1:]]
    body = "<br/>".join(
        ln.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "&#124;")
        for ln in shown
    )
    return f"<pre>{body}</pre>"


def _cell_text(value: object) -> str:
    if value is None:
        return "n/a"
    text = str(value).strip()
    return " ".join(text.split("\n")).replace("|", "\\|") if text else "n/a"


def _attr_text(blk: Block, name: str) -> str | None:
    attr: Attr | None = blk.attrs.get(name)
    return attr.text if attr is not None else None


def render(module_dir: Path) -> str:
    mod = load_module(module_dir)
    variables = sorted(mod.top("variable"), key=lambda b: b.labels[0])
    outputs = sorted(mod.top("output"), key=lambda b: b.labels[0])
    lines = [BEGIN, "## Inputs", ""]
    if variables:
        lines += ["| Name | Type | Description | Default | Required |",
                  "|------|------|-------------|---------|:--------:|"]
        for v in variables:
            name = v.labels[0]
            type_text = _attr_text(v, "type")
            default = _attr_text(v, "default")
            desc = v.attrs["description"].value if "description" in v.attrs else None
            lines.append(
                f"| <a name=\"input_{name}\"></a> `{name}` "
                f"| {_cell_code(type_text) if type_text else '`any`'} "
                f"| {_cell_text(desc)} "
                f"| {_cell_code(default) if default is not None else 'n/a'} "
                f"| {'no' if default is not None else 'yes'} |"
            )
    else:
        lines.append("No inputs.")
    lines += ["", "## Outputs", ""]
    if outputs:
        lines += ["| Name | Description | Sensitive |", "|------|-------------|:---------:|"]
        for o in outputs:
            name = o.labels[0]
            desc = o.attrs["description"].value if "description" in o.attrs else None
            sensitive = _attr_text(o, "sensitive") == "true"
            lines.append(f"| <a name=\"output_{name}\"></a> `{name}` | {_cell_text(desc)} | "
                         f"{'yes' if sensitive else 'no'} |")
    else:
        lines.append("No outputs.")
    lines.append(END)
    return "\n".join(lines)


def updated_readme(module_dir: Path) -> tuple[str, str]:
    """(current README text, README text with fresh tables)."""
    readme = module_dir / "README.md"
    current = readme.read_text(encoding="utf-8") if readme.exists() else ""
    block = render(module_dir)
    if BEGIN in current and END in current and current.index(BEGIN) < current.index(END):
        head, rest = current.split(BEGIN, 1)
        _old, tail = rest.split(END, 1)
        return current, head + block + tail
    if not current:
        return current, f"# {module_dir.name}\n\n{block}\n"
    return current, current.rstrip("\n") + "\n\n" + block + "\n"


def modules(root: Path = TERRAFORM_DIR) -> list[Path]:
    base = root / "modules"
    return sorted(d for d in base.iterdir() if d.is_dir() and any(d.glob("*.tf"))) if base.is_dir() else []


def stale(dirs: list[Path]) -> list[Path]:
    out = []
    for d in dirs:
        current, new = updated_readme(d)
        if current != new:
            out.append(d / "README.md")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dirs", nargs="*", type=Path)
    ap.add_argument("--check", action="store_true", help="report stale READMEs, change nothing")
    args = ap.parse_args(argv)
    dirs = args.dirs or modules()
    if args.check:
        bad = stale(dirs)
        for p in bad:
            print(f"{p}: inputs/outputs tables are stale; run python terraform/tools/gen_module_docs.py")
        return 1 if bad else 0
    for d in dirs:
        current, new = updated_readme(d)
        if current != new:
            (d / "README.md").write_text(new, encoding="utf-8")
            print(f"updated {d / 'README.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
