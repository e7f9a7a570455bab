"""The fault suite's oracle: a pipeline from the ERP to two targets that record every effect, and the
verdict on what each target took in (tests/chaos/test_crash_anywhere.py, test_target_outage.py)."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from processors.identity import born_id, xref
from sandbox.erp import ChangeStream, SampleData, insert
from sandbox.s4hana import S4HanaSim
from seamline.operations.convergence import compare
from seamline.operations.local_pipeline import SINK, SOURCE, LocalPipeline
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, source_topic
from tests.conftest import wait_until
from tests.sinks.s4_customers import PARTNERS, customer_sink

API = "erp_api"
PROCESSES = ("source", "processor", "sink", API)
API_PASSWORD_VARIABLE = "CHAOS_ERP_API_PASSWORD"


@dataclass
class Verdict:
    """What a target took in: the figures docs/RELIABILITY.md reports."""

    effects: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    problems: list[str] | None = None


def add_sinks(pipeline: LocalPipeline, sim: S4HanaSim, **api_settings: Any) -> None:
    """The PostgreSQL sink with its audit table, and an http sink into the simulation (its password from
    the environment)."""
    config = yaml.safe_load(pipeline.config_path.read_text())
    config["sinks"][SINK]["audit"] = True
    config["sinks"][API] = customer_sink(
        sim, "${" + API_PASSWORD_VARIABLE + "}", system="s4", timeout_s=5, metrics_port=free_port(), **api_settings
    )
    pipeline.config_path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))


def postgres_verdict(pipeline: LocalPipeline) -> Verdict:
    verdict = Verdict()
    report = compare(pipeline.config, pipeline.erp_dsn, pipeline.target_dsn)
    verdict.problems = report.problems
    verdict.lost = sum("missing" in problem or "differs" in problem for problem in report.problems)
    with psycopg.connect(pipeline.target_dsn) as conn:
        audited = conn.execute("SELECT to_regclass('seamline_audit') IS NOT NULL").fetchone()
        assert audited is not None, "a SELECT without FROM returns one row"
        effects = conn.execute("SELECT id, version FROM seamline_audit ORDER BY seq").fetchall() if audited[0] else []
    judge(verdict, [(gid, version) for gid, version in effects])
    return verdict


def http_verdict(pipeline: LocalPipeline, sim: S4HanaSim) -> Verdict:
    verdict = Verdict(problems=[])
    with psycopg.connect(pipeline.target_dsn) as conn:
        target = {gid: (name, email) for gid, name, email in conn.execute("SELECT id, name, email FROM customers")}
    held = {
        key: (entity["BusinessPartnerFullName"], entity.get("YY1_EmailAddress"))
        for key, entity in sim.entities(PARTNERS).items()
    }
    verdict.problems = [
        f"{key}: the API holds {held.get(key)!r}, PostgreSQL {fields!r}"
        for key, fields in target.items()
        if held.get(key) != fields
    ]
    verdict.problems += [f"{key}: in the API only" for key in sorted(held.keys() - target.keys())]
    verdict.lost = len(verdict.problems)
    effects: list[tuple[str, int | str]] = []
    for write in sim.writes:
        if write.entity_set == PARTNERS:
            effects.append((write.key, "delete" if write.body is None else write.body["YY1_SeamlineVersion"]))
    judge(verdict, effects)
    return verdict


def judge(verdict: Verdict, effects: list[tuple[str, Any]]) -> None:
    """Count effects applied twice and keys whose applied versions went down (a delete ends a key)."""
    verdict.effects = len(effects)
    verdict.duplicated = sum(count - 1 for count in Counter(effects).values() if count > 1)
    versions: dict[str, list[int]] = defaultdict(list)
    for key, version in effects:
        if version != "delete":
            versions[key].append(version)
    verdict.out_of_order = sum(
        any(later <= earlier for earlier, later in zip(applied, applied[1:], strict=False))
        for applied in versions.values()
    )


def trace(pipeline: LocalPipeline, problems: list[str]) -> list[str]:
    """Where each ERP customer named in `problems` stopped: its last records on the source topic and the
    canonical topic, and the target's row, so a failure says which stage lost a change."""
    erp_ids = sorted({int(found) for found in re.findall(r"erp customer (\d+)", " ".join(problems))})
    if not erp_ids:
        return []
    kafka = pipeline.config.kafka
    serde = AvroSerde(kafka)
    gids = {born_id(xref("erp", "customers", str(erp_id))): erp_id for erp_id in erp_ids}
    journeys: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    topic = source_topic(kafka, "erp", "customers")
    for message in read_to_end(kafka, topic):
        event = serde.decode(topic, message.value())
        row = event["after"] or event["before"]
        if int(row["id"]) in erp_ids:
            journeys[int(row["id"])]["source"].append(f"@{message.offset()} {event['op']} {row.get('email')}")
    topic = canonical_topic(kafka, "customer")
    for message in read_to_end(kafka, topic):
        value = message.value()
        record = serde.decode(topic, value) if value else None
        if record is not None and record["id"] in gids:
            journeys[gids[record["id"]]]["canonical"].append(
                f"{message.partition()}@{message.offset()} v{record['version']} {record['email']}"
                f" from {record['origin']}"
            )
    with psycopg.connect(pipeline.target_dsn) as conn:
        for gid, version, email in conn.execute(
            "SELECT id, version, email FROM customers WHERE id = ANY(%s)", (list(gids),)
        ).fetchall():
            journeys[gids[gid]]["target"].append(f"v{version} {email}")
    return [
        f"erp customer {erp_id}: "
        + "; ".join(f"{stage} {', '.join(lines[-3:])}" for stage, lines in journeys[erp_id].items())
        for erp_id in erp_ids
    ]


def pipeline_processes(pipeline: LocalPipeline, log_dir: Path, config_path: Path | None = None) -> Supervisor:
    """The pipeline's source, processor and both sinks, not started; with the pipeline's configuration file
    unless another is given."""
    return Supervisor(
        config_path or pipeline.config_path,
        log_dir,
        {
            "source": ["source", "run", SOURCE],
            "processor": ["process"],
            "sink": ["sink", "run", SINK],
            API: ["sink", "run", API],
        },
    )


class ErpWriter(threading.Thread):
    """Applies `changes` ERP changes (inserts, updates, deletes) at `per_s`, counting them in `done`."""

    def __init__(self, pipeline: LocalPipeline, data: SampleData, changes: int, per_s: float) -> None:
        super().__init__(name="erp-writer")
        self.pipeline, self.data, self.changes, self.per_s = pipeline, data, changes, per_s
        self.done = 0
        self.reconnects = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        step = 0
        while step < self.changes and not self.stopping.is_set():
            try:
                with psycopg.connect(self.pipeline.erp_dsn, autocommit=True, connect_timeout=5) as conn:
                    changes = ChangeStream(conn, self.data)
                    while step < self.changes and not self.stopping.is_set():
                        changes.step()
                        step = self.done = step + 1
                        time.sleep(max(0.0, started + step / self.per_s - time.monotonic()))
            except psycopg.OperationalError:
                # the server restarted (test_target_outage.py): the database, not this count, is the ledger,
                # so a change whose commit was cut off is simply made again or not
                self.reconnects += 1
                time.sleep(0.5)


@dataclass
class Run:
    """What a fault run ended with."""

    writer: ErpWriter
    recovered_s: float
    """From the ERP writer's last change to both targets holding the ERP's state."""
    postgres: Verdict
    http: Verdict

    def figures(self) -> dict[str, Any]:
        """The figures every fault test reports."""
        return {
            "changes": self.writer.done,
            "seconds_to_recover_after_the_last_change": round(self.recovered_s, 1),
            "postgres": {k: v for k, v in asdict(self.postgres).items() if k != "problems"},
            "http": {k: v for k, v in asdict(self.http).items() if k != "problems"},
        }

    def judge(self, pipeline: LocalPipeline, keys: int) -> None:
        """0 lost, 0 duplicated, 0 out of order in both targets, and more effects than keys."""
        postgres, http = self.postgres, self.http
        assert (postgres.problems, http.problems) == ([], []), (
            postgres.problems[:10],  # type: ignore[index]
            http.problems[:10],  # type: ignore[index]
            trace(pipeline, postgres.problems[:10]),  # type: ignore[index]
        )
        assert (postgres.duplicated, postgres.out_of_order, http.duplicated, http.out_of_order) == (0, 0, 0, 0)
        assert postgres.effects > keys and http.effects > keys


def assert_alive(supervisors: list[Supervisor]) -> None:
    """Restart what exited to be restarted (75); fail on a process that exited otherwise."""
    for supervisor in supervisors:
        crashed = supervisor.crashed()
        assert not crashed, f"exited: {crashed}\n" + "\n".join(supervisor.log_tail(name) for name in crashed)


def wait_alive(supervisors: list[Supervisor], check: Callable[[], bool], timeout: float, what: str) -> None:
    """wait_until `check` as assert_alive watches the processes."""

    def watched() -> bool:
        assert_alive(supervisors)
        return check()

    wait_until(watched, timeout, what)


def keep_alive(supervisors: list[Supervisor], seconds: float) -> None:
    """Wait `seconds` as assert_alive watches the processes."""
    deadline = time.monotonic() + seconds
    assert_alive(supervisors)
    while time.monotonic() < deadline:
        time.sleep(max(0.0, min(0.5, deadline - time.monotonic())))
        assert_alive(supervisors)


def run_with_faults(
    pipeline: LocalPipeline,
    sim: S4HanaSim,
    supervisors: list[Supervisor],
    writer: ErpWriter,
    keys: int,
    faults: Callable[[], None],
) -> Run:
    """Insert `keys` customers, start the processes and the ERP writer, inject `faults`, let the writer finish and
    the targets converge (a process that exits other than to be restarted fails the run); what it ended with."""
    with psycopg.connect(pipeline.erp_dsn) as conn:
        insert(conn, list(writer.data.customers(keys)))

    def converged() -> bool:
        assert_alive(supervisors)
        return postgres_verdict(pipeline).problems == [] and http_verdict(pipeline, sim).problems == []

    for supervisor in supervisors:
        supervisor.start_all()
    writer.start()
    try:
        faults()
        writer.join(writer.changes / writer.per_s + 300)
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
    return Run(writer, recovered_s, postgres_verdict(pipeline), http_verdict(pipeline, sim))
