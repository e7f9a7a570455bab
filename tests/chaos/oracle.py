"""The fault suite's oracle: a pipeline from the ERP to two targets that record every effect, and the
verdict on what each target took in (tests/chaos/test_crash_anywhere.py, test_target_outage.py)."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from processors.identity import born_id, xref
from sandbox.erp import ChangeStream, SampleData
from sandbox.s4hana import S4HanaSim
from seamline.convergence import compare
from seamline.local_pipeline import SINK, SOURCE, LocalPipeline, free_port
from seamline.serde import AvroSerde
from seamline.supervisor import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, source_topic
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
