"""`seamline dlq list|show|replay|purge` on the real stack: a sink's refused record is listed, shown, written back
once the cause is fixed; a processor stage's letter goes back to the topic it came from; purge deletes letters."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
import yaml
from pydantic import SecretStr
from typer.testing import CliRunner

from seamline.cli.main import app
from seamline.config import KafkaConfig
from seamline.dead_letters.writer import DeadLetters, Failed, read_headers
from seamline.metrics import Metrics
from seamline.publisher import Publisher, TransactionalPublisher
from seamline.stack.ports import free_port
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, ensure_topics, source_topic
from sinks.postgres.config import PostgresSink
from sinks.postgres.target import PostgresTarget
from tests.sinks.canonical_records import customer, publish

pytestmark = pytest.mark.slow

TABLES = {"customer": "customers"}


def cli(config: Path, *args: str) -> str:
    result = CliRunner().invoke(app, [*args, "--config", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def config(kafka: KafkaConfig, database: str, tmp_path: Path) -> Path:
    warehouse = {
        "kind": "postgres",
        "dsn": database,
        "tables": TABLES,
        "group_id": f"{kafka.topic_prefix}warehouse",
        "metrics_port": free_port(),
    }
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    path = tmp_path / "seamline.yaml"
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "sinks": {"warehouse": warehouse}}))
    return path


def test_a_refused_record_is_listed_shown_and_written_back_once_the_cause_is_fixed(
    kafka: KafkaConfig, database: str, config: Path
) -> None:
    target = PostgresTarget(PostgresSink(kind="postgres", dsn=SecretStr(database), tables=TABLES))
    target.setup()
    target.close()
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER TABLE customers ADD CONSTRAINT no_3 CHECK (name <> 'Customer 3 v1')")
    ensure_topics(kafka, [canonical_topic(kafka, "customer")])
    publish(kafka, [("customer", f"c{n}", customer(n, 1)) for n in range(6)])
    cli(config, "replay", "--sink", "warehouse")

    listed = [json.loads(line) for line in cli(config, "dlq", "list", "--json").splitlines() if line.startswith("{")]
    assert len(listed) == 1, listed
    letter = listed[0]
    assert letter["stage"] == "sink.warehouse" and "no_3" in letter["error.reason"]
    assert "Customer 3" not in letter["error.reason"], "the reason carries no record values"
    assert "sink.warehouse" in cli(config, "dlq", "list", "--stage", "sink.warehouse", "--reason", "CHECK")
    assert "sink.warehouse:" not in cli(config, "dlq", "list", "--reason", "no such reason")
    assert "sink.warehouse:" not in cli(config, "dlq", "list", "--since", "2999-01-01T00:00:00")

    shown = cli(config, "dlq", "show", letter["letter"])
    assert "Customer 3 v1" in shown and "error.reason" in shown

    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER TABLE customers DROP CONSTRAINT no_3")
    assert "1 letter(s) written back or already held, 0 refused" in cli(config, "dlq", "replay")
    with psycopg.connect(database) as conn:
        assert conn.execute("SELECT name, version FROM customers WHERE id = 'c3'").fetchone() == ("Customer 3 v1", 1)


def test_a_processor_letter_goes_back_to_its_input_and_purge_deletes_letters(kafka: KafkaConfig, config: Path) -> None:
    original = source_topic(kafka, "erp", "customers")
    publisher = Publisher(kafka)
    letters = DeadLetters(kafka, publisher, "cleanse", Metrics.create())
    ensure_topics(kafka, [original, letters.topic])
    letters.send(Failed(original, 2, 41, b"key-7", b"raw change", "InvalidField", "email: not an address (text(9))"))
    publisher.flush()
    publisher.close()

    listed = cli(config, "dlq", "list", "--stage", "cleanse")
    assert "InvalidField" in listed and f"{original}[2]@41" in listed
    assert "1 letter(s) sent back" in cli(config, "dlq", "replay", "--stage", "cleanse")
    back = list(read_to_end(kafka, original))
    assert [(m.key(), m.value()) for m in back] == [(b"key-7", b"raw change")]
    assert read_headers(back[0].headers())["replayed_from"].startswith("cleanse:")

    assert "purged 1 dead letter(s) of cleanse" in cli(config, "dlq", "purge", "--stage", "cleanse", "--yes")
    assert "cleanse:" not in cli(config, "dlq", "list", "--stage", "cleanse")


def test_purge_counts_letters_written_in_transactions_not_their_markers(kafka: KafkaConfig, config: Path) -> None:
    original = f"{kafka.topic_prefix}seamline.identity"
    producer = TransactionalPublisher(kafka, f"{kafka.topic_prefix}dlq-purge-test")
    letters = DeadLetters(kafka, producer, "resolve", Metrics.create())
    ensure_topics(kafka, [original, letters.topic])
    for offset in (3, 4):  # two resolve batches: a letter and a transaction marker each
        producer.begin()
        letters.send(Failed(original, 0, offset, None, b"item", "InvalidRecord", "not a change"))
        producer.commit()
    producer.close()

    assert "purged 2 dead letter(s) of resolve" in cli(config, "dlq", "purge", "--stage", "resolve", "--yes")


def test_bad_references_and_stages_are_one_clear_line(kafka: KafkaConfig, config: Path) -> None:
    runner = CliRunner()
    wrong = runner.invoke(app, ["dlq", "show", "cleanse-7", "--config", str(config)])
    assert wrong.exit_code == 2 and "write <stage>:<partition>:<offset>" in wrong.output
    unknown = runner.invoke(app, ["dlq", "list", "--stage", "nowhere", "--config", str(config)])
    assert unknown.exit_code == 2 and "no DLQ for stage 'nowhere'" in unknown.output
