"""Consumer group lag on real Kafka: committed offsets against the partitions' ends, exported as a gauge."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from seamline.config import KafkaConfig
from seamline.consumer_lag import LagExporter, group_lag
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.publisher import Publisher
from seamline.topics import ensure_topics


def test_lag_is_what_the_group_has_not_committed_and_is_exported(kafka: KafkaConfig) -> None:
    topic, group = f"{kafka.topic_prefix}lagged", f"{kafka.topic_prefix}group"
    ensure_topics(kafka, [topic])
    publisher = Publisher(kafka)
    for number in range(30):
        publisher.send(topic, b"x", key=str(number).encode())
    publisher.flush()
    publisher.close()
    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": group}))
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in metadata.partitions}
        committed = {p: end // 2 for p, end in ends.items()}
        consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()], asynchronous=False)
    finally:
        consumer.close()
    exporter = LagExporter(kafka, {group: [topic]}, Metrics.create())
    lags = group_lag(kafka, group, [topic])
    assert sorted((lag.partition, lag.committed, lag.end) for lag in lags) == sorted(
        (p, committed[p], ends[p]) for p in ends
    )
    exporter.export_once()
    value = exporter.metrics.registry.get_sample_value("seamline_consumer_lag", {"group": group, "topic": topic})
    assert value == sum(ends.values()) - sum(committed.values()) == 30 - sum(committed.values())
    assert group_lag(kafka, f"{kafka.topic_prefix}never-committed", [topic]) == []
