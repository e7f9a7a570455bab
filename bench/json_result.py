"""How every benchmark hands over its figures: one JSON document, to a file or to stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def write_result(result: dict[str, Any], path: str | Path | None) -> None:
    """Write `result` as indented JSON to `path`, or to stdout when no path is given."""
    text = json.dumps(result, indent=2)
    if path:
        Path(path).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
