"""Hostile records on every topic seamline reads: each one goes to its stage's DLQ with the reason and the rest
flow on, without a crash loop; a DLQ that Kafka refuses to take stops consumption instead of skipping."""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from pathlib import Path

import msgpack
import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from processors.framing import frames
from seamline.config import KafkaConfig
from seamline.connectors.sink import Outcome, Sink, SinkRecord
from seamline.dead_letters.writer import read_headers
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.publisher import DeliveryFailed, Publisher
from seamline.runtime import EXIT_TRANSIENT
from seamline.serde import AvroSerde
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end, record_position
from seamline.topics import canonical_topic, dlq_topic, ensure_topics, identity_topic, sink_group, source_topic
from sinks.runner import SinkRunner
from tests.canonical_topics import Canonical
from tests.conftest import wait_until
from tests.processors.fault_stream import fault_stream
from tests.processors.raw_events import publish
from tests.processors.test_processor_faults import ENTITIES, wait_for_state, write_config
from tests.sinks.canonical_records import customer, product

pytestmark = pytest.mark.slow

UNKNOWN_SCHEMA_ID = struct.pack(">bI", 0, 987_654_321)


def hostile(serde: AvroSerde, key: bytes, good: bytes, other_topic: str) -> dict[str, tuple[bytes, bytes, str]]:
    """Name -> (key, value, what the dead letter's reason says) of records no stage can read, made from a good
    record's key and value."""
    return {
        "bytes that are not the wire format": (key, b"\x07garbage \xff\xfe", "not in the Confluent wire format"),
        "an empty value": (key, b"", "not in the Confluent wire format"),
        "a schema id the registry does not know": (key, UNKNOWN_SCHEMA_ID + good[5:], "is unknown to the registry"),
        "a truncated Avro body": (key, good[:-3], "cannot read the Avro body"),
        "a record of another topic's schema": (key, _other(serde, other_topic), "which cannot be read as"),
        "a key that is not the wire format": (b"\x01key", good, "not in the Confluent wire format"),
    }


def _other(serde: AvroSerde, other_topic: str) -> bytes:
    return serde.encode(other_topic, product(1, 1))


class Recording(Sink):
    """A target that keeps what it was given."""

    def __init__(self) -> None:
        self.written: list[tuple[str, int]] = []

    def setup(self) -> None:
        pass

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        self.written.extend((record.id, record.value["version"]) for record in records if record.value)
        return Outcome()

    def close(self) -> None:
        pass


def ends(kafka: KafkaConfig, topic: str) -> dict[tuple[str, int], int]:
    """The end offsets of the topic's partitions that hold records, as a bounded run takes them."""
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": "seamline-test-ends"}))
    try:
        partitions = consumer.list_topics(topic, timeout=15).topics[topic].partitions
        highs = {
            (topic, p): consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in partitions
        }
        return {partition: high for partition, high in highs.items() if high}
    finally:
        consumer.close()


def committed(kafka: KafkaConfig, group: str, topic: str, partition: int | None = None) -> int:
    """The group's committed offsets on the topic (or one partition), summed; never committed counts 0."""
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": group}))
    try:
        partitions = (
            consumer.list_topics(topic, timeout=15).topics[topic].partitions if partition is None else [partition]
        )
        offsets = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=15)
        return sum(max(0, position.offset) for position in offsets)
    finally:
        consumer.close()


def set_max_message_bytes(kafka: KafkaConfig, topic: str, size: int | None) -> None:
    """Make Kafka refuse every record of the topic (a tiny size), or take them again (None)."""
    entry = ConfigEntry(
        "max.message.bytes",
        str(size or ""),
        incremental_operation=AlterConfigOpType.SET if size else AlterConfigOpType.DELETE,
    )
    admin = AdminClient(client_settings(kafka, "admin"))
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=15)


def test_hostile_canonical_records_go_to_the_sink_dlq_and_an_unwritable_dlq_stops_the_sink(
    kafka: KafkaConfig,
) -> None:
    topic = canonical_topic(kafka, "customer")
    dlq = dlq_topic(kafka, "sink.hostile")
    ensure_topics(kafka, [topic, dlq])
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    first, first_key = serde.encode(topic, customer(1, 1)), serde.encode(topic, "c1", key=True)
    records = hostile(serde, first_key, first, canonical_topic(kafka, "product"))
    publisher.send(topic, first, key=first_key)
    for key, value, _ in records.values():
        publisher.send(topic, value, key=key)
    publisher.send(topic, serde.encode(topic, customer(2, 1)), key=serde.encode(topic, "c2", key=True))
    publisher.flush()
    group = sink_group(kafka, "hostile", None)

    set_max_message_bytes(kafka, dlq, 1)
    sink = Recording()
    runner = SinkRunner("hostile", kafka, sink, ["customer"], Metrics.create())
    with pytest.raises(DeliveryFailed, match="MSG_SIZE_TOO_LARGE|too large"):
        runner.run(stop_on_signals=False, until=ends(kafka, topic))
    assert committed(kafka, group, topic) == 0, "a batch whose dead letters Kafka refused must not be committed"
    assert list(read_to_end(kafka, dlq)) == []

    set_max_message_bytes(kafka, dlq, None)
    runner = SinkRunner("hostile", kafka, sink, ["customer"], Metrics.create())
    worker = threading.Thread(target=runner.run, kwargs={"stop_on_signals": False, "until": ends(kafka, topic)})
    worker.start()
    worker.join(60)
    assert not worker.is_alive(), "the sink did not finish its bounded run"
    assert ("c1", 1) in sink.written and ("c2", 1) in sink.written
    letters = list(read_to_end(kafka, dlq))
    assert len(letters) == len(records)
    by_record = {(m.key(), m.value()): read_headers(m.headers()) for m in letters}
    for name, (key, value, reason) in records.items():
        headers = by_record[(key, value)]
        assert reason in headers["error.reason"], f"{name}: {headers['error.reason']}"
        assert headers["error.class"] == "SerdeError" and headers["original.topic"] == topic
    assert committed(kafka, group, topic) == sum(ends(kafka, topic).values())


def test_hostile_source_and_identity_records_go_to_the_processor_dlqs_without_a_crash_loop(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    processor, phases = fault_stream(seed=7, scale=1)
    phase = phases[0]
    publish(kafka, phase.changes[: len(phase.changes) // 2])
    system, obj = phase.changes[0].source.split(".", 1)
    raw = source_topic(kafka, system, obj)
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    good = next(iter(read_to_end(kafka, raw)))
    good_key, good_value = good.key(), good.value()
    assert good_key is not None and good_value is not None, "source changes have a key and a value"
    records = hostile(serde, good_key, good_value, canonical_topic(kafka, "product"))
    for key, value, _ in records.values():
        publisher.send(raw, value, key=key)
    identity = identity_topic(kafka)
    ensure_topics(kafka, [identity])
    # a change of 12 fields whose `fields` is no mapping, in a well-made frame: its letter holds the change alone
    foreign = msgpack.packb(["customer", "evil", "accounts", "1", "c", "x", "0/1", "pg", 1, "e-hostile", [], None])
    hostile_frames = [b"\x00\xffnot msgpack", b'{"entity": "customer"}', msgpack.packb([1, 2]), *frames([foreign])]
    for frame in hostile_frames:
        publisher.send(identity, frame)
    publisher.flush()
    publish(kafka, phase.changes[len(phase.changes) // 2 :])

    app_id = f"{kafka.topic_prefix}hostile"
    config = write_config(tmp_path / "p.yaml", kafka, processor, app_id, tmp_path / "state")
    supervisor = Supervisor(config, tmp_path / "logs", {"processor": ["process"]})
    supervisor.start("processor")
    try:
        wait_for_state(Canonical(kafka, ENTITIES), phase.expected, [supervisor])
    finally:
        supervisor.stop_all()
    assert supervisor.restarts.get("processor", 0) == 0, "a hostile record made the processor exit"
    # the hostile records span raw partitions, so their letters come in no fixed order
    cleanse_letters = list(read_to_end(kafka, dlq_topic(kafka, "cleanse")))
    by_record = {(m.key(), m.value()): read_headers(m.headers()) for m in cleanse_letters}
    assert len(cleanse_letters) == len(records)
    assert sorted(by_record) == sorted((key, value) for key, value, _ in records.values())
    for name, (key, value, reason) in records.items():
        if name != "a record of another topic's schema":  # source rows are read with the writer's schema alone
            assert reason in by_record[(key, value)]["error.reason"], name
    letters = list(read_to_end(kafka, dlq_topic(kafka, "resolve")))
    resolve_letters = [read_headers(m.headers()) for m in letters]
    assert [(h["error.class"], h["original.topic"]) for h in resolve_letters] == [("InvalidRecord", identity)] * 4
    assert all("not a change written by the cleanse stage" in h["error.reason"] for h in resolve_letters)
    # letters without a key spread over the DLQ's partitions: compare them unordered
    found = sorted((m.value() or b"", h.get("event_id") or "") for m, h in zip(letters, resolve_letters, strict=True))
    assert found == sorted([*((frame, "") for frame in hostile_frames[:3]), (foreign, "e-hostile")])


def test_an_unwritable_processor_dlq_stops_the_processor_without_committing_past_the_record(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    processor, phases = fault_stream(seed=11, scale=1)
    phase = phases[0]
    publish(kafka, phase.changes)
    first = phase.changes[0].source.split(".", 1)
    raw = source_topic(kafka, *first)
    good = next(iter(read_to_end(kafka, raw)))
    publisher = Publisher(kafka)
    publisher.send(raw, b"\x07garbage", key=good.key())
    publisher.flush()
    garbage = TopicPartition(raw, record_position(good)[1])
    dlq = dlq_topic(kafka, "cleanse")
    ensure_topics(kafka, [dlq])
    set_max_message_bytes(kafka, dlq, 1)

    app_id = f"{kafka.topic_prefix}hostile-dlq"
    config = write_config(tmp_path / "p.yaml", kafka, processor, app_id, tmp_path / "state")
    supervisor = Supervisor(config, tmp_path / "logs", {"processor": ["process"]})
    supervisor.start("processor")
    try:
        child = supervisor.children["processor"]
        wait_until(lambda: child.poll() is not None, 120, "the processor to stop")
        assert child.returncode == EXIT_TRANSIENT, supervisor.log_tail("processor")
        assert "Kafka refused" in supervisor.log_tail("processor", 200)
        assert committed(kafka, app_id, raw, garbage.partition) <= ends(kafka, raw)[(raw, garbage.partition)] - 1
        assert list(read_to_end(kafka, dlq)) == []

        set_max_message_bytes(kafka, dlq, None)
        supervisor.start("processor")
        wait_for_state(Canonical(kafka, ENTITIES), phase.expected, [supervisor])
        wait_until(lambda: bool(list(read_to_end(kafka, dlq))), 60, "the dead letter")
    finally:
        supervisor.stop_all()
    assert [m.value() for m in read_to_end(kafka, dlq)] == [b"\x07garbage"]
    assert supervisor.restarts.get("processor", 0) == 0
