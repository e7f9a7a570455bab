"""The whole slice on the real stack: ERP PostgreSQL → Kafka → Faust → target PostgreSQL (its crashes are in
tests/chaos/test_crash_anywhere.py)."""

from __future__ import annotations

import json
from collections import defaultdict
from urllib.parse import quote

import httpx
import psycopg
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from processors.identity import born_id, xref
from sandbox.erp import ChangeStream, SampleData, insert
from seamline.dead_letters.writer import read_headers
from seamline.operations.convergence import compare, dead_letter_reasons
from seamline.operations.local_pipeline import PII_FIELDS, SOURCE, LocalPipeline
from seamline.serde import AvroSerde
from seamline.stack import StackInfo
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, dlq_topic, source_topic
from tests.command import seamline
from tests.conftest import wait_until

pytestmark = pytest.mark.slow

INITIAL = 400
INVALID_EVERY = 50


def converged(pipeline: LocalPipeline, supervisor: Supervisor) -> bool:
    crashed = supervisor.crashed()
    if crashed:
        pytest.fail(f"processes exited: {crashed}\n" + "\n".join(supervisor.log_tail(n) for n in crashed))
    return compare(pipeline.config, pipeline.erp_dsn, pipeline.target_dsn).ok


def assert_in_sync(pipeline: LocalPipeline, supervisor: Supervisor, timeout: float = 120) -> None:
    try:
        wait_until(lambda: converged(pipeline, supervisor), timeout, "the target to match the ERP")
    except TimeoutError as exc:
        report = compare(pipeline.config, pipeline.erp_dsn, pipeline.target_dsn)
        raise AssertionError(f"{exc}:\n" + "\n".join(report.problems[:20])) from None
    report = compare(pipeline.config, pipeline.erp_dsn, pipeline.target_dsn)
    assert report.matched + report.invalid_in_dlq == report.source_rows


def assert_no_duplicate_effect(pipeline: LocalPipeline) -> None:
    """Each (golden id, version) stands for one set of values, and the target holds the newest version."""
    config = pipeline.config
    topic = canonical_topic(config.kafka, "customer")
    serde = AvroSerde(config.kafka)
    seen: dict[tuple[str, int], dict[str, object]] = {}
    newest: dict[str, int] = defaultdict(int)
    for message in read_to_end(config.kafka, topic):
        value = serde.decode(topic, message.value())
        if value is None:
            continue
        fields = {k: v for k, v in value.items() if k not in ("updated_at",)}
        assert seen.setdefault((value["id"], value["version"]), fields) == fields, f"two contents for {value['id']}"
        newest[value["id"]] = max(newest[value["id"]], value["version"])
    with psycopg.connect(pipeline.target_dsn) as conn:
        for gid, version in conn.execute("SELECT id, version FROM customers").fetchall():
            assert version == newest[gid], f"target holds version {version} of {gid}, newest is {newest[gid]}"


def assert_no_secret_in_logs(pipeline: LocalPipeline, supervisor: Supervisor) -> None:
    """No line any process logged holds a secret of the pipeline, whole or URL-encoded."""
    assert pipeline.secrets, "a pipeline without secrets would make this check prove nothing"
    lines = [line for path in supervisor.log_dir.glob("*.log") for line in path.read_text().splitlines()]
    assert len(lines) > 10, "the processes logged almost nothing: nothing was scanned"
    for secret in pipeline.secrets:
        leaked = [line for line in lines if secret in line or quote(secret) in line]
        assert leaked == [], f"a secret in {len(leaked)} log lines, first: {leaked[0][:200]}"


def seed(pipeline: LocalPipeline) -> SampleData:
    data = SampleData(seed=11, invalid_every=INVALID_EVERY)
    with psycopg.connect(pipeline.erp_dsn) as conn:
        insert(conn, list(data.customers(INITIAL)))
    return data


def test_snapshot_then_inserts_updates_deletes_reach_the_target(pipeline: LocalPipeline, processes: Supervisor) -> None:
    data = seed(pipeline)
    processes.start_all()
    assert_in_sync(pipeline, processes)

    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        changes = ChangeStream(conn, data)
        for _ in range(300):
            changes.step()
    assert min(changes.counts.values()) > 0
    assert_in_sync(pipeline, processes)
    assert_no_duplicate_effect(pipeline)
    assert_metrics_served(pipeline)
    assert_personal_data_sealed(pipeline, processes)
    assert_no_secret_in_logs(pipeline, processes)


def test_a_truncate_deletes_its_rows_in_the_target_and_rows_inserted_after_it_arrive(
    pipeline: LocalPipeline, processes: Supervisor
) -> None:
    data = seed(pipeline)
    processes.start_all()
    assert_in_sync(pipeline, processes)
    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE customers RESTART IDENTITY CASCADE")  # the new rows take the old ids again
        insert(conn, list(data.customers(20)))
    assert_in_sync(pipeline, processes)
    with psycopg.connect(pipeline.target_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM customers").fetchone()
    assert row is not None and row[0] <= 20


@pytest.mark.parametrize(
    "repair",
    [
        ("reconcile", "--source", SOURCE, "--repair"),
        ("source", "snapshot", SOURCE, "--table", "customers", "--with-deletes"),
    ],
    ids=["reconcile", "snapshot"],
)
def test_rows_deleted_while_the_slot_was_gone_leave_the_target_after_a_source_repair(
    pipeline: LocalPipeline, processes: Supervisor, stack: StackInfo, repair: tuple[str, ...]
) -> None:
    seed(pipeline)
    processes.start_all()
    assert_in_sync(pipeline, processes)
    processes.kill("source")
    pipeline.drop_slot(stack.postgres_dsn)
    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM customers WHERE id % 10 = 3")  # 40 rows the stream never sees deleted
    config = str(pipeline.config_path)
    reset = seamline("source", "reset", SOURCE, "--config", config)
    assert reset.returncode == 0, reset.stderr
    processes.start("source")  # a new snapshot: the rows left, not the ones gone
    with pytest.raises(TimeoutError):
        wait_until(lambda: converged(pipeline, processes), 20, "the target to match the ERP")

    repaired = seamline(*repair, "--config", config)
    assert "published 40 delete(s)" in repaired.stdout + repaired.stderr, repaired.stdout + repaired.stderr
    assert_in_sync(pipeline, processes)


def test_a_value_of_a_megabyte_arrives_and_a_change_over_the_record_limit_is_a_source_dead_letter(
    pipeline: LocalPipeline, processes: Supervisor
) -> None:
    processes.start_all()
    long_name, too_long = "Lovelace " * 116_508, "x" * (9 * 1024 * 1024)  # ~1 MB; over the default 8 MiB
    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE customers REPLICA IDENTITY FULL")  # an update then carries both images
        ids = {}
        for name, full_name in (("long", long_name), ("too long", too_long), ("after", "Ada Lovelace")):
            row = conn.execute(
                "INSERT INTO customers (full_name, country_code) VALUES (%s, 'DE') RETURNING id", (full_name,)
            ).fetchone()
            assert row is not None
            ids[name] = str(row[0])
        conn.execute("UPDATE customers SET full_name = full_name || ' Jr' WHERE id = %s", (ids["long"],))

    def target_names() -> dict[str, str]:
        assert not processes.crashed(), {n: processes.log_tail(n) for n in processes.crashed()}
        with psycopg.connect(pipeline.target_dsn) as conn:
            exists = conn.execute("SELECT to_regclass('customers') IS NOT NULL").fetchone()
            if not exists or not exists[0]:
                return {}
            rows = conn.execute("SELECT id, name FROM customers").fetchall()
        return {gid: name for gid, name in rows}

    wanted = {
        born_id(xref("erp", "customers", ids["long"])): " Jr",
        born_id(xref("erp", "customers", ids["after"])): "Ada Lovelace",
    }

    def arrived() -> bool:
        names = target_names()
        return all(names.get(gid, "").endswith(end) for gid, end in wanted.items())

    wait_until(arrived, 120, "the megabyte row, its update (both images under FULL identity) and the row after")
    assert len(target_names()[born_id(xref("erp", "customers", ids["long"]))]) > 1_000_000
    assert born_id(xref("erp", "customers", ids["too long"])) not in target_names()
    [letter] = list(read_to_end(pipeline.config.kafka, dlq_topic(pipeline.config.kafka, f"source.{SOURCE}")))
    headers = read_headers(letter.headers())
    assert "over kafka.max_record_bytes (8,388,608)" in headers["error.reason"] and letter.value() is None
    assert int(headers["value.omitted_bytes"]) > 9 * 1024 * 1024
    assert not processes.crashed()


def assert_personal_data_sealed(pipeline: LocalPipeline, processes: Supervisor) -> None:
    """The canonical topic holds the marked fields only as tokens (the target got them in clear, as
    assert_in_sync saw); no personal value is in a dead letter's headers, a log line or a metric."""
    config = pipeline.config
    assert config.processor is not None
    topic = canonical_topic(config.kafka, "customer")
    serde = AvroSerde(config.kafka)
    with psycopg.connect(pipeline.erp_dsn) as conn:
        rows = conn.execute("SELECT full_name, email, phone FROM customers").fetchall()
    personal = {value for row in rows for value in row if value and len(value) >= 6}
    sealed = 0
    for message in read_to_end(config.kafka, topic):
        raw = message.value()
        if raw is None:
            continue
        value = serde.decode(topic, raw)
        for field in PII_FIELDS:
            if value[field] is not None:
                assert value[field].startswith("enc:v1:k1:"), f"{field} in clear on {topic}"
                sealed += 1
        assert not any(text.encode() in raw for text in personal if "@" in text)
    assert sealed >= INITIAL
    headers = [read_headers(m.headers()) for m in read_to_end(config.kafka, dlq_topic(config.kafka, "cleanse"))]
    assert headers, "the seed's invalid rows are dead letters"
    logs = "".join(path.read_text() for path in processes.log_dir.glob("*.log"))
    metrics = "".join(
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        for port in (
            config.sources["erp"].metrics_port,
            config.processor.metrics_port,
            config.sinks["warehouse"].metrics_port,
        )
    )
    for text in personal:
        assert text not in json.dumps(headers, ensure_ascii=False), "personal data in a dead letter's headers"
        assert text not in logs, "personal data in a log"
        assert text not in metrics, "personal data in a metric"


def scrape(port: int) -> dict[str, float]:
    """Samples of a /metrics endpoint, by name and labels."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        f"{sample.name}{sorted(sample.labels.items())}": sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def assert_metrics_served(pipeline: LocalPipeline) -> None:
    config = pipeline.config
    assert config.processor is not None
    raw = source_topic(config.kafka, "erp", "customers")
    canonical = canonical_topic(config.kafka, "customer")
    source = scrape(config.sources["erp"].metrics_port)
    processor = scrape(config.processor.metrics_port)
    sink = scrape(config.sinks["warehouse"].metrics_port)
    assert source[f"seamline_events_out_total{sorted({'stage': 'source', 'topic': raw}.items())}"] >= INITIAL + 300
    assert processor[f"seamline_events_in_total{sorted({'stage': 'cleanse', 'topic': raw}.items())}"] >= INITIAL + 300
    errors = processor[f"seamline_errors_total{sorted({'stage': 'cleanse', 'kind': 'InvalidRecord'}.items())}"]
    assert errors == INITIAL // INVALID_EVERY
    lag = sink[f"seamline_end_to_end_lag_seconds_count{sorted({'sink': 'warehouse', 'entity': 'customer'}.items())}"]
    assert lag >= INITIAL - INITIAL // INVALID_EVERY
    assert sink[f"seamline_events_in_total{sorted({'stage': 'sink', 'topic': canonical}.items())}"] >= lag


def test_invalid_rows_go_to_the_dlq_with_their_reason_and_the_rest_go_through(
    pipeline: LocalPipeline, processes: Supervisor
) -> None:
    seed(pipeline)
    config = pipeline.config
    raw_topic = source_topic(config.kafka, "erp", "customers")
    processes.start_all()
    assert_in_sync(pipeline, processes)

    reasons = dead_letter_reasons(config)
    assert len(reasons) == INITIAL // INVALID_EVERY
    assert (
        reasons[str(INVALID_EVERY)] == "email (text of 11 chars: letters, digits, '@') is not a valid address: "
        "There must be something after the @-sign."
    )

    # One change can be followed across stages by its event_id: its raw change, its dead letter, the JSON log line
    # the processor wrote about it, and (for a valid change) the header of the canonical version it made.
    letters = [read_headers(m.headers()) for m in read_to_end(config.kafka, dlq_topic(config.kafka, "cleanse"))]
    raw_ids = {
        AvroSerde(config.kafka).decode(raw_topic, m.value())["event_id"] for m in read_to_end(config.kafka, raw_topic)
    }
    assert all(letter["event_id"] in raw_ids for letter in letters)
    logged = [
        json.loads(line)
        for line in (processes.log_dir / "processor.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert {entry.get("event_id") for entry in logged if entry.get("stage") == "cleanse"} >= {letters[0]["event_id"]}
    canonical = list(read_to_end(config.kafka, canonical_topic(config.kafka, "customer")))
    assert all(read_headers(m.headers())["event_id"] in raw_ids for m in canonical)

    producer = Producer({"bootstrap.servers": config.kafka.bootstrap_servers})
    producer.produce(raw_topic, key=b"not-avro", value=b"\x07garbage")
    producer.flush(10)
    dlq = dlq_topic(config.kafka, "cleanse")

    def garbage_dead_lettered() -> bool:
        return any(message.value() == b"\x07garbage" for message in read_to_end(config.kafka, dlq))

    wait_until(garbage_dead_lettered, 60, "the non-Avro record in the DLQ")
    letter = next(m for m in read_to_end(config.kafka, dlq) if m.value() == b"\x07garbage")
    headers = read_headers(letter.headers())
    assert headers["stage"] == "cleanse"
    assert headers["error.class"] == "SerdeError"
    assert "not in the Confluent wire format" in headers["error.reason"]
    assert headers["original.topic"] == raw_topic

    with psycopg.connect(pipeline.erp_dsn) as conn:
        insert(conn, list(SampleData(seed=99, invalid_every=10**9).customers(5)))
    assert_in_sync(pipeline, processes)
