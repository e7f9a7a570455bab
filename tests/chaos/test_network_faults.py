"""Network faults under the oracle of tests/chaos/oracle.py, while the ERP changes:

- every Kafka connection of the pipeline's processes through a proxy (tests/chaos/fault_proxy.py) that adds
  latency and jitter, breaks connections at random and black-holes all traffic for longer than the processor's
  session timeout (this machine's kernel has no netem; see the proxy for what it stands in for);
- a processor worker of two paused with SIGSTOP for longer than its session timeout, so that the other takes its
  partitions, then woken: whatever it still sends is late. Afterwards both workers are SIGKILLed and their local
  state deleted, so the tables come back from the changelogs the late worker may also have written to, and the
  ERP goes on changing.

Both targets must end with the ERP's state, nothing applied twice or out of order. CI: 20 s of faults and one
pause; `make chaos`: 5 minutes and three pauses (docs/RELIABILITY.md)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import psycopg
import pytest
import yaml

from sandbox.erp import SampleData, insert
from sandbox.s4hana import S4HanaSim
from seamline.local_pipeline import LocalPipeline, free_port
from seamline.supervisor import Supervisor
from tests.chaos.fault_proxy import FaultProxy
from tests.chaos.oracle import (
    API_PASSWORD_VARIABLE,
    ErpWriter,
    Verdict,
    add_sinks,
    http_verdict,
    pipeline_processes,
    postgres_verdict,
    trace,
)
from tests.conftest import wait_until

pytestmark = pytest.mark.slow

FULL = os.environ.get("SEAMLINE_CHAOS") == "full"
NETWORK_S = 300.0 if FULL else 20.0
BLACKHOLES = 4 if FULL else 1
BLACKHOLE_S = 15.0
FAULTY_LISTENER_PORT, PROXY_PORT = 9096, 9097  # deploy/local/kafka/server.properties
PAUSES = 3 if FULL else 1
SESSION_TIMEOUT_S = 10.0  # processors/app.py
KEYS, CHANGES_PER_S = (2_000, 40.0) if FULL else (200, 10.0)


def run_with_faults(
    pipeline: LocalPipeline, sim: S4HanaSim, supervisors: list[Supervisor], changes: int, faults: Callable[[], None]
) -> tuple[ErpWriter, float, Verdict, Verdict]:
    """Start the processes and the ERP writer, inject `faults`, let the writer finish and the targets converge;
    the writer, the seconds from its last change to convergence, and both verdicts."""
    data = SampleData(seed=37, invalid_every=10**9)
    with psycopg.connect(pipeline.erp_dsn) as conn:
        insert(conn, list(data.customers(KEYS)))
    writer = ErpWriter(pipeline, data, changes, CHANGES_PER_S)

    def converged() -> bool:
        for supervisor in supervisors:
            crashed = supervisor.crashed()
            assert not crashed, f"exited: {crashed}\n" + "\n".join(supervisor.log_tail(name) for name in crashed)
        return postgres_verdict(pipeline).problems == [] and http_verdict(pipeline, sim).problems == []

    for supervisor in supervisors:
        supervisor.start_all()
    writer.start()
    try:
        faults()
        writer.join(changes / CHANGES_PER_S + 300)
        assert not writer.is_alive(), "the ERP writer did not finish"
        healed = time.monotonic()
        try:
            wait_until(converged, 300, "both targets to hold the ERP's final state", interval=2.0)
        except TimeoutError:
            pass  # judged below, with every problem listed
        recovered_s = time.monotonic() - healed
        time.sleep(5)  # a quiet period: nothing may change any more
    finally:
        writer.stopping.set()
        if writer.is_alive():
            writer.join()
        for supervisor in supervisors:
            supervisor.stop_all()
    return writer, recovered_s, postgres_verdict(pipeline), http_verdict(pipeline, sim)


def judged(pipeline: LocalPipeline, postgres: Verdict, http: Verdict) -> None:
    assert (postgres.problems, http.problems) == ([], []), (
        postgres.problems[:10],  # type: ignore[index]
        http.problems[:10],  # type: ignore[index]
        trace(pipeline, postgres.problems[:10]),  # type: ignore[index]
    )
    assert (postgres.duplicated, postgres.out_of_order, http.duplicated, http.out_of_order) == (0, 0, 0, 0)
    assert postgres.effects > KEYS and http.effects > KEYS


def test_latency_broken_connections_and_a_partition_on_the_kafka_connections_lose_nothing(
    monkeypatch: pytest.MonkeyPatch, erp_api: S4HanaSim, pipeline: LocalPipeline, tmp_path: Path
) -> None:
    monkeypatch.setenv(API_PASSWORD_VARIABLE, erp_api.password)
    add_sinks(pipeline, erp_api)
    config = yaml.safe_load(pipeline.config_path.read_text())
    config["kafka"]["bootstrap_servers"] = f"127.0.0.1:{PROXY_PORT}"  # the broker advertises the proxy there too
    processes_config = tmp_path / "through-the-proxy.yaml"
    processes_config.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    supervisor = pipeline_processes(pipeline, tmp_path / "logs", processes_config)
    changes = int(CHANGES_PER_S * (NETWORK_S + 10))

    with FaultProxy(PROXY_PORT, FAULTY_LISTENER_PORT, seed=41) as proxy:

        def faults() -> None:
            proxy.latency_s, proxy.jitter_s, proxy.break_share = 0.02, 0.03, 0.002
            started = time.monotonic()
            for blackhole in range(BLACKHOLES):
                at = started + NETWORK_S * (blackhole + 1) / (BLACKHOLES + 1)
                time.sleep(max(0.0, at - time.monotonic()))
                proxy.blackhole(BLACKHOLE_S)
            time.sleep(max(0.0, started + NETWORK_S - time.monotonic()))
            proxy.latency_s, proxy.jitter_s, proxy.break_share = 0.0, 0.0, 0.0

        writer, recovered_s, postgres, http = run_with_faults(pipeline, erp_api, [supervisor], changes, faults)
    figures = {
        "keys": KEYS,
        "changes": writer.done,
        "faults_s": NETWORK_S,
        "proxy": dict(proxy.counts),
        "blackhole_s": BLACKHOLE_S,
        "restarts_on_exit_75": dict(supervisor.restarts),
        "seconds_to_recover_after_the_last_change": round(recovered_s, 1),
        "postgres": {k: v for k, v in asdict(postgres).items() if k != "problems"},
        "http": {k: v for k, v in asdict(http).items() if k != "problems"},
    }
    print("\n" + json.dumps(figures, indent=1))
    judged(pipeline, postgres, http)
    assert proxy.counts["broken"] > 0 and proxy.counts["blackholes"] == BLACKHOLES
    assert proxy.counts["connections"] > len(supervisor.commands), "the processes did not go through the proxy"


def test_a_worker_paused_past_its_session_timeout_changes_nothing_when_it_wakes(
    monkeypatch: pytest.MonkeyPatch, erp_api: S4HanaSim, pipeline: LocalPipeline, tmp_path: Path
) -> None:
    monkeypatch.setenv(API_PASSWORD_VARIABLE, erp_api.password)
    add_sinks(pipeline, erp_api)
    supervisor = pipeline_processes(pipeline, tmp_path / "logs")
    config = yaml.safe_load(pipeline.config_path.read_text())
    config["processor"].update(metrics_port=free_port(), data_dir=str(tmp_path / "processor-2"))
    second_config = tmp_path / "processor-2.yaml"
    second_config.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
    second = Supervisor(second_config, tmp_path / "logs", {"processor-2": ["process"]})
    state_dirs = [Path(pipeline.config.processor.data_dir), tmp_path / "processor-2"]
    pause_s = 2 * SESSION_TIMEOUT_S
    changes = int(CHANGES_PER_S * (PAUSES * (pause_s + 10) + 35))
    paused: list[float] = []

    def assigned(name: str) -> int:
        return (
            (tmp_path / "logs" / f"{name}.log").read_text().count("Setting newly assigned partitions {TopicPartition")
        )

    def faults() -> None:
        before = 0
        for _ in range(PAUSES):
            wait_until(
                lambda before=before: assigned("processor-2") > 0 and assigned("processor") > before,  # type: ignore[misc]
                120,
                "both workers to hold partitions",
            )
            time.sleep(3)
            worker = supervisor.children["processor"]
            worker.send_signal(signal.SIGSTOP)
            before = assigned("processor")  # the next pause waits until it holds partitions again
            started = time.monotonic()
            time.sleep(pause_s)
            worker.send_signal(signal.SIGCONT)
            paused.append(round(time.monotonic() - started, 1))
        time.sleep(5)
        for running, name in ((supervisor, "processor"), (second, "processor-2")):
            running.kill(name)
        for state in state_dirs:
            shutil.rmtree(state, ignore_errors=True)  # the tables come back from the changelogs
        supervisor.start("processor")
        second.start("processor-2")

    writer, recovered_s, postgres, http = run_with_faults(pipeline, erp_api, [supervisor, second], changes, faults)
    figures = {
        "keys": KEYS,
        "changes": writer.done,
        "pauses_s": paused,
        "session_timeout_s": SESSION_TIMEOUT_S,
        "restarts_on_exit_75": {**supervisor.restarts, **second.restarts},
        "seconds_to_recover_after_the_last_change": round(recovered_s, 1),
        "postgres": {k: v for k, v in asdict(postgres).items() if k != "problems"},
        "http": {k: v for k, v in asdict(http).items() if k != "problems"},
    }
    print("\n" + json.dumps(figures, indent=1))
    judged(pipeline, postgres, http)
    assert len(paused) == PAUSES and all(pause > SESSION_TIMEOUT_S for pause in paused)
    expelled = (tmp_path / "logs" / "processor.log").read_text().count("member_id was not recognized")
    assert expelled >= PAUSES, "the paused worker was not taken out of the group: nothing it sent was late"
