"""A target outage while the ERP changes: the S/4HANA simulation answers 503 with Retry-After for a while, then
half of its calls 503 with 2 s of latency, and halfway through the outage the PostgreSQL server (the ERP's and the
PostgreSQL target's) is restarted. The backlog must drain within twice the outage, without a rebalance storm, and
the oracle of tests/chaos/oracle.py must hold. CI: a 12-second outage; `make chaos`: 5 minutes
(docs/RELIABILITY.md)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import psycopg
import pytest

from sandbox.erp import SampleData, insert
from sandbox.s4hana import S4HanaSim
from seamline.operations.local_pipeline import LocalPipeline
from seamline.stack import StackInfo
from seamline.stack.postgres import Postgres
from seamline.stack.service import restart
from tests.chaos.oracle import (
    API_PASSWORD_VARIABLE,
    ErpWriter,
    add_sinks,
    assert_alive,
    http_verdict,
    keep_alive,
    pipeline_processes,
    postgres_verdict,
)
from tests.conftest import wait_until

# exclusive: it restarts the stack's PostgreSQL, which every other test uses, and times the drain
pytestmark = [pytest.mark.slow, pytest.mark.exclusive]

FULL = os.environ.get("SEAMLINE_CHAOS") == "full"
OUTAGE_S = 300.0 if FULL else 12.0
DEGRADED_S = OUTAGE_S / 2
KEYS, CHANGES_PER_S = (2_000, 20.0) if FULL else (200, 10.0)


def test_an_api_outage_drains_within_twice_the_outage(
    monkeypatch: pytest.MonkeyPatch, stack: StackInfo, erp_api: S4HanaSim, pipeline: LocalPipeline, tmp_path: Path
) -> None:
    monkeypatch.setenv(API_PASSWORD_VARIABLE, erp_api.password)
    add_sinks(pipeline, erp_api, circuit_cool_down_s=5)
    supervisor = pipeline_processes(pipeline, tmp_path / "logs")
    data = SampleData(seed=23, invalid_every=10**9)
    with psycopg.connect(pipeline.erp_dsn) as conn:
        insert(conn, list(data.customers(KEYS)))

    def converged() -> bool:
        assert_alive([supervisor])
        return postgres_verdict(pipeline).problems == [] and http_verdict(pipeline, erp_api).problems == []

    supervisor.start_all()
    writer = ErpWriter(pipeline, data, int(CHANGES_PER_S * (OUTAGE_S + DEGRADED_S)), CHANGES_PER_S)
    try:
        wait_until(converged, 180, "the snapshot in both targets", interval=2.0)
        erp_api.outage(OUTAGE_S)
        outage_started = time.monotonic()
        writer.start()
        keep_alive([supervisor], outage_started + OUTAGE_S / 2 - time.monotonic())
        server = Postgres(stack.state_dir)
        log_start = server.log_file.stat().st_size
        restart_started = time.monotonic()
        restart(server)
        restart_s = time.monotonic() - restart_started
        with server.log_file.open(errors="replace") as log:
            log.seek(log_start)
            shutdown = [line for line in log if "shutdown request" in line]
        keep_alive([supervisor], outage_started + OUTAGE_S - time.monotonic())
        outage_ended = time.monotonic()
        erp_api.flaky(share_503=0.5)
        erp_api.latency_s = 2.0
        keep_alive([supervisor], DEGRADED_S)
        erp_api.flaky()
        erp_api.latency_s = 0.0
        writer.join()
        try:
            wait_until(converged, 2 * OUTAGE_S, "both targets to catch up", interval=2.0)
        except TimeoutError:
            pass  # judged below, with every problem listed
        drained_s = time.monotonic() - outage_ended
        time.sleep(5)  # a quiet period: nothing may change any more
    finally:
        writer.stopping.set()
        if writer.is_alive():
            writer.join()
        supervisor.stop_all()
    postgres, http = postgres_verdict(pipeline), http_verdict(pipeline, erp_api)
    logs = {path.stem: path.read_text() for path in supervisor.log_dir.glob("*.log")}
    rebalances = {name: logs[name].count("partitions assigned") for name in ("sink", "erp_api")}
    figures = {
        "keys": KEYS,
        "changes": writer.done,
        "outage_s": OUTAGE_S,
        "degraded_s": DEGRADED_S,
        "postgres_restart_s": round(restart_s, 1),
        "erp_writer_reconnects": writer.reconnects,
        "drained_s_after_the_outage": round(drained_s, 1),
        "assignments_per_sink": rebalances,
        "restarts_on_exit_75": dict(supervisor.restarts),
        "postgres": {
            "effects": postgres.effects,
            "duplicated": postgres.duplicated,
            "out_of_order": postgres.out_of_order,
        },
        "http": {"effects": http.effects, "duplicated": http.duplicated, "out_of_order": http.out_of_order},
    }
    print("\n" + json.dumps(figures, indent=1))
    assert (postgres.problems, http.problems) == ([], []), (postgres.problems[:10], http.problems[:10])  # type: ignore[index]
    assert (postgres.duplicated, postgres.out_of_order, http.duplicated, http.out_of_order) == (0, 0, 0, 0)
    # a fast shutdown waits for the source to confirm the WAL's end; the stack escalates to an immediate one
    assert [line.split("LOG:  ")[-1].strip() for line in shutdown] == ["received fast shutdown request"], shutdown
    assert drained_s <= 2 * OUTAGE_S, f"the backlog took {drained_s:.0f}s to drain after a {OUTAGE_S:.0f}s outage"
    assert all(count <= 2 for count in rebalances.values()), f"a rebalance storm: {rebalances}"
