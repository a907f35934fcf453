"""Writing a generated document, or checking that the committed one is current."""

from __future__ import annotations

import sys
from pathlib import Path


def write_or_check(path: Path, text: str, *, check: bool, regenerate: str) -> int:
    """Write `text` to `path`, or with `check` compare them; the exit status (1: stale)."""
    if check:
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is out of date; run: {regenerate}", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    return 0


def replace_block(text: str, name: str, block: str) -> str:
    """`text` with the lines between `<!-- BEGIN name -->` and `<!-- END name -->` replaced by
    `block`. ValueError when the markers are missing."""
    begin, end = f"<!-- BEGIN {name} -->\n", f"<!-- END {name} -->"
    start = text.find(begin)
    stop = text.find(end, start)
    if start < 0 or stop < 0:
        raise ValueError(f"the document has no {begin.strip()} … {end} block")
    return text[: start + len(begin)] + block + text[stop:]
