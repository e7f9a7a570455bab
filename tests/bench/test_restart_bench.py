"""The restart benchmark runs on a small state: each start is timed and replays what it should."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seamline.stack import StackInfo

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_kept_store_replays_nothing_and_a_deleted_one_is_rebuilt_from_the_changelog(
    stack: StackInfo, tmp_path: Path
) -> None:
    result_path = tmp_path / "result.json"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "restart_bench.py"), "--customers", "200", "--json", str(result_path)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    result = json.loads(result_path.read_text())

    starts = {start["run"]: start for start in result["starts"]}
    assert result["customers"] == 200 and result["state_writes"] > 200
    assert starts["store kept"]["replayed_records"] == 0
    assert starts["after SIGKILL, store kept"]["replayed_records"] < 10  # at most the killed run's last batch
    assert starts["store deleted"]["replayed_records"] >= result["state_writes"]
    assert all(0 < start["ready_s"] < 60 for start in starts.values())
