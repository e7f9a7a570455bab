"""Running a benchmark script as a user does, on a small size, for its JSON result."""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def run_bench(script: str, tmp_path: Path, *args: str) -> dict[str, Any]:
    """The JSON result of `bench/<script>` run with `args`; CalledProcessError if it fails."""
    result_path = tmp_path / "result.json"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--json", str(result_path)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result
