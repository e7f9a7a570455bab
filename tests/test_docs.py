"""The docs name only files that exist: every path into the repository in README.md, BENCHMARKS.md and docs/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = "seamline|producers|processors|sinks|notify|sandbox|schemas|deploy|examples|bench|tests|docs"
PATH = re.compile(rf"(?<![\w/.-])(?:{FOLDERS})/[\w./*-]*[\w*]")
"""A path from the repository's root, or a glob; a bare `name.py` is not checked (it may be any module's file)."""


def test_every_path_the_docs_name_exists() -> None:
    pages = [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = [
        f"{page.relative_to(ROOT)}: {path}"
        for page in pages
        for path in sorted(set(PATH.findall(page.read_text())))
        if not any(ROOT.glob(path))
    ]
    assert missing == []
