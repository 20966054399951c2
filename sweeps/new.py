"""Start a new sweep YAML from a template: `python -m sweeps.new NAME --from sweeps/smoke.yaml`.

The copy keeps the template's comments and layout, gets `name: NAME`, is validated like any
spec, and is never written over an existing file.

    python -m sweeps.new lr-scan --from sweeps/scaling.yaml            # -> sweeps/lr-scan.yaml
    python -m sweeps.new lr-scan --from sweeps/scaling.yaml --out my/lr-scan.yaml
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from sweeps.errors import SpecError, report_user_error
from sweeps.spec import load_spec

NAME_LINE = re.compile(r"^name:.*$", flags=re.MULTILINE)


def new_spec(name: str, template: Path, out: Path | None = None) -> Path:
    """Write a copy of `template` named `name`; returns its path. Raises SpecError."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise SpecError(f"{name!r}: a sweep name uses letters, digits, '_', '.' and '-'")
    load_spec(template)  # a broken template is reported as such, not as the copy's fault
    out = out or template.parent / f"{name}.yaml"
    if out.exists():
        raise SpecError(f"{out}: already exists; pick another name or --out")
    text = template.read_text(encoding="utf-8")
    named = NAME_LINE.sub(f"name: {name}", text, count=1)
    if named == text:
        named = f"name: {name}\n{text}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(named, encoding="utf-8")
    load_spec(out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sweeps.new", description=__doc__.splitlines()[0]
    )
    parser.add_argument("name", help="name of the new sweep (its results folder)")
    parser.add_argument(
        "--from",
        dest="template",
        required=True,
        type=Path,
        help="template YAML, e.g. sweeps/scaling.yaml",
    )
    parser.add_argument("--out", type=Path, help="where to write (default: next to the template)")
    args = parser.parse_args(argv)
    try:
        path = new_spec(args.name, args.template, args.out)
    except SpecError as err:
        return report_user_error(err)
    print(f"wrote {path}; run it with: python -m sweeps.run {path} --dry-run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
