"""Records over kafka.max_record_bytes in the processor, on the real stack: a change too large for the resolve
state goes to dlq.cleanse with its key and reason (its value too when the letter fits, else a header saying how
large it was), and the stream goes on; changes within the limit pass whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seamline.config import KafkaConfig
from seamline.dead_letters.writer import read_headers
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, dlq_topic, source_topic
from tests.conftest import wait_until
from tests.processors.raw_events import RawChange, publish

pytestmark = pytest.mark.slow

LIMIT = 64 * 1024
NAMES = {"small": "Ada Lovelace", "within": "w" * 10_000, "over": "o" * 20_000, "far-over": "f" * 100_000}


def test_changes_over_a_quarter_of_the_limit_are_dead_letters_and_the_rest_pass(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    config = tmp_path / "seamline.yaml"
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    processor = {
        "app_id": f"{kafka.topic_prefix}oversized",
        "data_dir": str(tmp_path / "state"),
        "metrics_port": free_port(),
        "mappings": [{"source": "erp.customers", "entity": "customer", "fields": {"name": "name"}}],
    }
    config.write_text(yaml.safe_dump({"kafka": {**kafka_section, "max_record_bytes": LIMIT}, "processor": processor}))
    changes = [
        RawChange("erp.customers", key, {"name": name}, tick, 1_700_000_000_000 + tick)
        for tick, (key, name) in enumerate(NAMES.items(), 1)
    ]
    changes.append(RawChange("erp.customers", "after", {"name": "Grace Hopper"}, 9, 1_700_000_009_000))
    publish(kafka, changes)  # the source topic under the default limit: the raw records are all publishable
    supervisor = Supervisor(config, tmp_path / "logs", {"processor": ["process"]})
    supervisor.start("processor")
    serde, topic, dlq = AvroSerde(kafka), canonical_topic(kafka, "customer"), dlq_topic(kafka, "cleanse")
    try:

        def names() -> set[str]:
            assert not supervisor.crashed(), supervisor.log_tail("processor")
            return {serde.decode(topic, m.value())["name"] for m in read_to_end(kafka, topic) if m.value()}

        wait_until(lambda: len(names()) == 3, 120, "the changes within the limit to be resolved")
        assert names() == {NAMES["small"], NAMES["within"], "Grace Hopper"}
        raw = source_topic(kafka, "erp", "customers")  # a letter keeps the record's key as it came
        letters = {serde.decode(raw, m.key(), key=True)["columns"]["id"]: m for m in read_to_end(kafka, dlq)}
        assert set(letters) == {"over", "far-over"}
        for key, letter in letters.items():
            headers = read_headers(letter.headers())
            assert "over a quarter of kafka.max_record_bytes (16,384)" in headers["error.reason"]
            assert NAMES[key] not in headers["error.reason"]
        assert letters["over"].value() is not None, "a letter within the limit keeps the original record"
        assert (
            letters["far-over"].value() is None
            and int(read_headers(letters["far-over"].headers())["value.omitted_bytes"]) > LIMIT
        )
        assert not supervisor.crashed(), supervisor.log_tail("processor")
    finally:
        supervisor.stop_all()
