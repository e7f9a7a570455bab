"""Crash anywhere, scale out and in, then replay everything: every process of a running pipeline is SIGKILLed
at random moments while the ERP changes, and a second processor worker and sink instance join and leave
meanwhile; afterwards both sinks replay the canonical topics from the start.

The pipeline: the ERP's customers (postgres_cdc) -> processor -> two sinks, PostgreSQL with its audit table
and the S/4HANA simulation with its log of executed writes. The ledger is the ERP itself: every change is one
committed transaction there. After the faults and a quiet period each target must hold exactly the ERP's
final state (0 lost), no (key, version) may have taken effect twice, and the versions that took effect on a
key must be strictly increasing. The replay must change no target and take no new effect. CI runs a reduced
size; `make chaos` the full one (docs/RELIABILITY.md).
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from sandbox.erp import SampleData
from sandbox.s4hana import S4HanaSim
from seamline.operations.local_pipeline import SINK, LocalPipeline
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from tests.chaos.oracle import (
    API,
    API_PASSWORD_VARIABLE,
    PROCESSES,
    ErpWriter,
    Verdict,
    add_sinks,
    http_verdict,
    judge,
    keep_alive,
    pipeline_processes,
    postgres_verdict,
    run_with_faults,
    wait_alive,
)
from tests.command import seamline

pytestmark = pytest.mark.slow

FULL = os.environ.get("SEAMLINE_CHAOS") == "full"


@dataclass(frozen=True)
class Size:
    keys: int
    changes: int
    changes_per_s: float
    rounds: int
    """SIGKILLs of each process, spread over 20-50% of the changes; a second processor worker and sink
    instance join at 55% and leave at 85%, with no SIGKILL meanwhile so that their rebalances complete."""
    burst: int
    """SIGKILLs of random processes 0.1-1 s apart, from 90% of the changes on."""


SIZE = Size(2_000, 100_000, 400.0, 3, 30) if FULL else Size(200, 1_000, 40.0, 1, 6)


def replay_every_sink(pipeline: LocalPipeline, sim: S4HanaSim) -> tuple[float, tuple[Verdict, Verdict]]:
    """`seamline replay --from earliest` of both sinks with fresh groups; seconds taken and the verdicts after."""
    started = time.monotonic()
    for sink in (SINK, API):
        done = seamline(
            "replay", "--sink", sink, "--from", "earliest", "--config", str(pipeline.config_path), timeout=600
        )
        assert done.returncode == 0, done.stderr[-2000:]
    return round(time.monotonic() - started, 1), (postgres_verdict(pipeline), http_verdict(pipeline, sim))


def second_instances(pipeline: LocalPipeline, work_dir: Path) -> Supervisor:
    """A second processor worker and a second instance of the PostgreSQL sink, to scale out and in."""
    config = yaml.safe_load(pipeline.config_path.read_text())
    config["processor"].update(metrics_port=free_port(), data_dir=str(work_dir / "processor"))
    config["sinks"][SINK]["metrics_port"] = free_port()
    work_dir.mkdir(parents=True)
    path = work_dir / "seamline.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    return Supervisor(path, work_dir / "logs", {"processor-2": ["process"], "sink-2": ["sink", "run", SINK]})


def took_part(extra: Supervisor) -> bool:
    """Whether the second processor worker and sink instance have each been assigned partitions."""
    logs = {name: (extra.log_dir / f"{name}.log").read_text() for name in ("processor-2", "sink-2")}
    return "Setting newly assigned partitions {TopicPartition" in logs["processor-2"] and bool(
        re.search(r"partitions assigned: .*customer\[\d\]", logs["sink-2"])
    )


def scan_logs(supervisors: list[Supervisor], values: list[str]) -> list[str]:
    """Log lines that hold a secret value, whole or URL-encoded."""
    logs = [path for supervisor in supervisors for path in supervisor.log_dir.glob("*.log")]
    lines = [line for path in logs for line in path.read_text().splitlines()]
    assert len(lines) > 20, "the processes logged almost nothing: nothing was scanned"
    return [line for line in lines for value in values if value in line or quote(value) in line]


def test_sigkills_of_every_process_lose_nothing_and_apply_nothing_twice(
    monkeypatch: pytest.MonkeyPatch, erp_api: S4HanaSim, pipeline: LocalPipeline, tmp_path: Path
) -> None:
    rng = random.Random(8)
    monkeypatch.setenv(API_PASSWORD_VARIABLE, erp_api.password)
    add_sinks(pipeline, erp_api)
    supervisor = pipeline_processes(pipeline, tmp_path / "logs")
    writer = ErpWriter(pipeline, SampleData(seed=17, invalid_every=10**9), SIZE.changes, SIZE.changes_per_s)

    kills: Counter[str] = Counter()
    per_kind = [name for _ in range(SIZE.rounds) for name in rng.sample(PROCESSES, len(PROCESSES))]
    extra = second_instances(pipeline, tmp_path / "second")
    both = [supervisor, extra]

    def kill(name: str) -> None:
        supervisor.kill(name)
        supervisor.start(name)
        kills[name] += 1

    planned: list[tuple[float, Callable[[], None]]] = [
        (0.2 + 0.3 * i / len(per_kind), partial(kill, name)) for i, name in enumerate(per_kind)
    ]

    def scale_out() -> None:
        extra.start_all()
        wait_alive(both, lambda: took_part(extra), 120, "the second processor and sink to take partitions")

    planned += [(0.55, scale_out), (0.85, extra.stop_all)]  # scale out, then in

    def faults() -> None:
        for share, fault in sorted(planned, key=lambda item: item[0]):
            at = int(SIZE.changes * share)
            wait_alive(both, lambda at=at: writer.done >= at, 600, f"{at} changes")  # type: ignore[misc]
            keep_alive(both, rng.uniform(0.0, 1.0))
            fault()
        wait_alive(both, lambda: writer.done >= SIZE.changes * 0.9, 600, "90% of the changes")
        for _ in range(SIZE.burst):
            kill(rng.choice(PROCESSES))
            time.sleep(rng.uniform(0.1, 1.0))

    try:
        run = run_with_faults(pipeline, erp_api, [supervisor], writer, SIZE.keys, faults)
    finally:
        extra.stop_all()
    postgres, http = run.postgres, run.http
    replayed_s, after_replay = replay_every_sink(pipeline, erp_api)
    leaked = scan_logs([supervisor, extra], [*pipeline.secrets, erp_api.password])
    figures = {
        "keys": SIZE.keys,
        "sigkills": dict(kills),
        "restarts_on_exit_75": dict(supervisor.restarts),
        **run.figures(),
        "log_lines_with_a_secret": len(leaked),
        "full_replay_of_both_sinks_s": replayed_s,
        "new_effects_of_the_replay": {
            "postgres": after_replay[0].effects - postgres.effects,
            "http": after_replay[1].effects - http.effects,
        },
    }
    print("\n" + json.dumps(figures, indent=1))
    run.judge(pipeline, SIZE.keys)
    assert leaked == [], leaked[:3]
    assert [verdict.problems for verdict in after_replay] == [[], []], "a replay changed a target"
    assert [verdict.effects for verdict in after_replay] == [postgres.effects, http.effects], "a replay wrote again"
    assert sum(kills.values()) == SIZE.rounds * len(PROCESSES) + SIZE.burst


def test_the_judge_sees_a_duplicate_a_version_going_down_and_a_second_delete() -> None:
    verdict = Verdict()
    judge(verdict, [("a", 1), ("a", 2), ("b", 3), ("a", 2), ("b", 2), ("c", 1), ("c", "delete"), ("c", "delete")])
    assert (verdict.effects, verdict.duplicated, verdict.out_of_order) == (8, 2, 2)
