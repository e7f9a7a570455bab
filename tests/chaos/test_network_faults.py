"""Network faults under the oracle of tests/chaos/oracle.py, while the ERP changes:

- every Kafka connection of the pipeline's processes through a proxy (tests/chaos/fault_proxy.py) that adds
  latency and jitter, breaks connections at random, breaks all of them at once, and black-holes all traffic for
  longer than the processor's session timeout (this machine's kernel has no netem; see the proxy for what it
  stands in for);
- a processor worker of two paused with SIGSTOP for longer than its session timeout, so that the other takes its
  partitions, then woken: whatever it still sends is late. Afterwards both workers are SIGKILLed and their local
  state deleted, so the tables come back from the changelogs the late worker may also have written to, and the
  ERP goes on changing.

Both targets must end with the ERP's state, nothing applied twice or out of order. CI: 20 s of faults and one
pause; `make chaos`: 5 minutes and three pauses (docs/RELIABILITY.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest
import yaml

from sandbox.erp import SampleData
from sandbox.s4hana import S4HanaSim
from seamline.operations.local_pipeline import LocalPipeline
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from tests.chaos.fault_proxy import FaultProxy
from tests.chaos.oracle import (
    API_PASSWORD_VARIABLE,
    ErpWriter,
    add_sinks,
    keep_alive,
    pipeline_processes,
    run_with_faults,
    wait_alive,
)

# exclusive: the broker's faulty listener and the proxy's fixed ports; black holes timed against session timeouts
pytestmark = [pytest.mark.slow, pytest.mark.exclusive]

FULL = os.environ.get("SEAMLINE_CHAOS") == "full"
NETWORK_S = 300.0 if FULL else 20.0
BLACKHOLES = 4 if FULL else 1
BLACKHOLE_S = 15.0
FAULTY_LISTENER_PORT, PROXY_PORT = 9096, 9097  # deploy/local/kafka/server.properties
PAUSES = 3 if FULL else 1
SESSION_TIMEOUT_S = 10.0  # processors/app.py
KEYS, CHANGES_PER_S = (2_000, 40.0) if FULL else (200, 10.0)


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
    writer = ErpWriter(
        pipeline, SampleData(seed=37, invalid_every=10**9), int(CHANGES_PER_S * (NETWORK_S + 10)), CHANGES_PER_S
    )

    with FaultProxy(PROXY_PORT, FAULTY_LISTENER_PORT, seed=41) as proxy:

        def faults() -> None:
            proxy.latency_s, proxy.jitter_s, proxy.break_share = 0.02, 0.03, 0.002
            started = time.monotonic()
            keep_alive([supervisor], 5)
            proxy.cut()
            for blackhole in range(BLACKHOLES):
                at = started + NETWORK_S * (blackhole + 1) / (BLACKHOLES + 1)
                keep_alive([supervisor], at - time.monotonic())
                proxy.blackhole(BLACKHOLE_S)
            keep_alive([supervisor], started + NETWORK_S - time.monotonic())
            proxy.latency_s, proxy.jitter_s, proxy.break_share = 0.0, 0.0, 0.0

        run = run_with_faults(pipeline, erp_api, [supervisor], writer, KEYS, faults)
    figures = {
        "keys": KEYS,
        "faults_s": NETWORK_S,
        "proxy": dict(proxy.counts),
        "blackhole_s": BLACKHOLE_S,
        "restarts_on_exit_75": dict(supervisor.restarts),
        **run.figures(),
    }
    print("\n" + json.dumps(figures, indent=1))
    run.judge(pipeline, KEYS)
    assert proxy.counts["cut"] > 0 and proxy.counts["blackholes"] == BLACKHOLES
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
    assert pipeline.config.processor is not None, "the local pipeline has a processor"
    state_dirs = [Path(pipeline.config.processor.data_dir), tmp_path / "processor-2"]
    pause_s = 2 * SESSION_TIMEOUT_S
    changes = int(CHANGES_PER_S * (PAUSES * (pause_s + 10) + 25))
    writer = ErpWriter(pipeline, SampleData(seed=43, invalid_every=10**9), changes, CHANGES_PER_S)
    paused: list[float] = []

    def assigned(name: str) -> int:
        return (
            (tmp_path / "logs" / f"{name}.log").read_text().count("Setting newly assigned partitions {TopicPartition")
        )

    both = [supervisor, second]

    def expelled() -> int:
        """How often the paused worker heard that the group had taken it out."""
        log = (tmp_path / "logs" / "processor.log").read_text()
        return len(re.findall(r"member_id was not recognized|UnknownMemberIdError", log))

    def faults() -> None:
        before = 0
        for _ in range(PAUSES):
            wait_alive(
                both,
                lambda before=before: assigned("processor-2") > 0 and assigned("processor") > before,  # type: ignore[misc]
                120,
                "both workers to hold partitions",
            )
            keep_alive(both, 3)
            worker = supervisor.children["processor"]
            worker.send_signal(signal.SIGSTOP)
            before = assigned("processor")  # the next pause waits until it holds partitions again
            started = time.monotonic()
            keep_alive(both, pause_s)  # a stopped process is not an exited one
            worker.send_signal(signal.SIGCONT)
            paused.append(round(time.monotonic() - started, 1))
        # a woken worker learns at its next heartbeat that it was taken out; under load that takes more than a beat
        wait_alive(both, lambda: expelled() >= PAUSES, 60, "the woken worker to hear it was taken out of the group")
        for running, name in ((supervisor, "processor"), (second, "processor-2")):
            running.kill(name)
        for state in state_dirs:
            shutil.rmtree(state, ignore_errors=True)  # the tables come back from the changelogs
        supervisor.start("processor")
        second.start("processor-2")

    run = run_with_faults(pipeline, erp_api, both, writer, KEYS, faults)
    figures = {
        "keys": KEYS,
        "pauses_s": paused,
        "session_timeout_s": SESSION_TIMEOUT_S,
        "restarts_on_exit_75": {**supervisor.restarts, **second.restarts},
        **run.figures(),
    }
    print("\n" + json.dumps(figures, indent=1))
    run.judge(pipeline, KEYS)
    assert len(paused) == PAUSES and all(pause > SESSION_TIMEOUT_S for pause in paused)
    assert expelled() >= PAUSES, "the paused worker was not taken out of the group: nothing it sent was late"
