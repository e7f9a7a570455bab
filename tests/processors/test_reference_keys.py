"""The copy of the referenced keys every worker keeps, against real Kafka and RocksDB: it reads committed key
records only, names each key's latest golden id, and lists the keys changed between two offsets, after a restart
too."""

from __future__ import annotations

from pathlib import Path

from processors.reference_keys import KeysCopy, announcement, golden_id
from seamline.config import KafkaConfig
from seamline.publisher import TransactionalPublisher
from seamline.topics import ensure_topics, resolve_keys_topic


def send(kafka: KafkaConfig, app_id: str, changes: list[tuple[str, str | None]], commit: bool = True) -> None:
    """One transaction of key records (key, golden id), committed or aborted."""
    producer = TransactionalPublisher(kafka, f"{app_id}-test")
    try:
        producer.begin()
        for key, gid in changes:
            record_key, value = announcement(key, gid, "erp", 1)
            producer.send(resolve_keys_topic(app_id), value, key=record_key)
        if commit:
            producer.commit()
        else:
            producer.producer.abort_transaction(30)
    finally:
        producer.close()


def test_the_copy_follows_committed_key_records_and_lists_the_keys_changed_since_an_offset(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    app_id = f"{kafka.topic_prefix}keys"
    ensure_topics(kafka, [resolve_keys_topic(app_id)])
    send(kafka, app_id, [("x:erp.customers:1", "g1"), ("x:erp.customers:2", "g2")])
    copy = KeysCopy(kafka, app_id, tmp_path)
    try:
        first = copy.catch_up()
        assert golden_id(copy.get("x:erp.customers:1")) == "g1" and copy.get("x:erp.customers:3") is None
        send(kafka, app_id, [("x:erp.customers:3", "g3")], commit=False)
        send(kafka, app_id, [("x:erp.customers:1", "g2"), ("x:erp.customers:2", None), ("x:erp.customers:1", "g4")])
        end = copy.catch_up()
        assert end > first
        assert golden_id(copy.get("x:erp.customers:1")) == "g4" and golden_id(copy.get("x:erp.customers:2")) is None
        assert copy.get("x:erp.customers:3") is None  # its transaction was aborted
        assert [key for _, key in copy.announced(first, end)] == ["x:erp.customers:2", "x:erp.customers:1"]
        assert [key for _, key in copy.announced(0, first)] == ["x:erp.customers:1", "x:erp.customers:2"]
    finally:
        copy.close()
    again = KeysCopy(kafka, app_id, tmp_path)
    try:
        assert again.catch_up() == end  # the store kept its position: nothing to read
        assert golden_id(again.get("x:erp.customers:1")) == "g4"
        assert [key for _, key in again.announced(0, end)] == ["x:erp.customers:2", "x:erp.customers:1"]
    finally:
        again.close()
