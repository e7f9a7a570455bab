"""The restart benchmark runs on a small state: each start is timed and replays what it should."""

from pathlib import Path

import pytest

from seamline.stack import StackInfo
from tests.bench.run_bench import run_bench


@pytest.mark.slow
def test_a_kept_store_replays_nothing_and_a_deleted_one_is_rebuilt_from_the_changelog(
    stack: StackInfo, tmp_path: Path
) -> None:
    result = run_bench("restart_bench.py", tmp_path, "--customers", "200")

    starts = {start["run"]: start for start in result["starts"]}
    assert result["customers"] == 200 and result["state_writes"] > 200
    assert starts["store kept"]["replayed_records"] == 0
    assert starts["after SIGKILL, store kept"]["replayed_records"] < 10  # at most the killed run's last batch
    assert starts["store deleted"]["replayed_records"] >= result["state_writes"]
    assert all(0 < start["ready_s"] < 60 for start in starts.values())
