"""The resolve stage's commit sequence against real Kafka and RocksDB: a batch's records and state writes go out in
one transaction, the store follows it, and a start replays only what the store misses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from confluent_kafka import KafkaException

from processors.checkpoint import Checkpoint
from processors.state_store import StateStore, Write, encode
from seamline.config import KafkaConfig
from seamline.publisher import TransactionalPublisher
from seamline.topic_reader import read_to_end, record_position
from seamline.topics import ensure_topics, state_changelog_topic


@pytest.fixture
def app_id(kafka: KafkaConfig) -> str:
    app_id = f"{kafka.topic_prefix}checkpoint"
    ensure_topics(kafka, [state_changelog_topic(app_id)])
    return app_id


def committed(kafka: KafkaConfig, app_id: str) -> dict[bytes, bytes | None]:
    """The changelog as a read_committed consumer sees it: key -> last value."""
    return {key: m.value() for m in read_to_end(kafka, state_changelog_topic(app_id)) if (key := m.key()) is not None}


def batch(checkpoint: Checkpoint, writes: list[Write]) -> None:
    """A batch that publishes nothing but its state writes."""
    checkpoint.begin()
    checkpoint.commit(writes)


def test_a_batch_reaches_the_changelog_and_the_store_with_the_position_after_it(
    kafka: KafkaConfig, app_id: str, tmp_path: Path
) -> None:
    checkpoint = Checkpoint(kafka, app_id, tmp_path)
    try:
        store = checkpoint.open()
        assert store.position is None
        batch(checkpoint, [("golden:a", {"v": 1}), ("links:x", {"g": "a"})])
        batch(checkpoint, [("golden:a", {"v": 2}), ("links:x", None)])
        batch(checkpoint, [])
        assert store.get("golden:a") == {"v": 2} and store.get("links:x") is None
        position = store.position
    finally:
        checkpoint.close()
    assert committed(kafka, app_id) == {b"golden:a": encode({"v": 2}), b"links:x": None}
    assert position is not None and position >= 4  # four records and at least one transaction marker


def test_each_identity_partition_writes_and_restores_only_its_own_changelog_partition(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    app_id = f"{kafka.topic_prefix}partitioned"
    ensure_topics(kafka, [state_changelog_topic(app_id)], {state_changelog_topic(app_id): 2})
    checkpoints = [Checkpoint(kafka, app_id, tmp_path, partition) for partition in (0, 1)]
    try:
        for partition, checkpoint in enumerate(checkpoints):
            checkpoint.open()
            batch(checkpoint, [(f"golden:{letter}{partition}", {"v": 1}) for letter in "abcdefgh"])
    finally:
        for checkpoint in checkpoints:
            checkpoint.close()
    by_partition: dict[int, set[bytes]] = {0: set(), 1: set()}
    for message in read_to_end(kafka, state_changelog_topic(app_id)):
        by_partition[record_position(message)[1]].add(message.key() or b"")
    assert by_partition == {p: {f"golden:{letter}{p}".encode() for letter in "abcdefgh"} for p in (0, 1)}
    shutil.rmtree(tmp_path / "resolve-1")
    restored = Checkpoint(kafka, app_id, tmp_path, 1)
    try:
        assert sorted(restored.open().scan("golden:")) == [f"golden:{letter}1" for letter in "abcdefgh"]
    finally:
        restored.close()


def test_a_changelog_made_with_another_partition_count_is_refused(kafka: KafkaConfig, app_id: str) -> None:
    with pytest.raises(ValueError, match=r"has 1 partitions, the processor needs 4 \(processor.resolve_partitions\)"):
        ensure_topics(kafka, [state_changelog_topic(app_id)], {state_changelog_topic(app_id): 4})


def test_a_lost_store_is_rebuilt_and_a_store_behind_replays_only_the_tail(
    kafka: KafkaConfig, app_id: str, tmp_path: Path
) -> None:
    first = Checkpoint(kafka, app_id, tmp_path / "one")
    first.open()
    batch(first, [(f"golden:{n}", {"n": n}) for n in range(50)])
    first.close()
    behind = StateStore(tmp_path / "one" / "resolve-0")
    position = behind.position
    behind.close()

    second = Checkpoint(kafka, app_id, tmp_path / "one")
    second.open()
    batch(second, [("golden:0", {"n": "new"}), ("golden:99", {"n": 99})])
    second.close()
    assert second.restored == 0 and position is not None

    # a store that missed the last batch (a crash after the transaction) catches up from the changelog
    stale = tmp_path / "stale"
    shutil.copytree(tmp_path / "one", stale)
    copy = StateStore(stale / "resolve-0")
    copy.apply([(b"golden:0", encode({"n": 0})), (b"golden:99", None)], position)
    copy.close()
    catching_up = Checkpoint(kafka, app_id, stale)
    caught_up = catching_up.open()
    assert caught_up.get("golden:0") == {"n": "new"} and caught_up.get("golden:99") == {"n": 99}
    assert catching_up.restored == 2

    rebuilding = Checkpoint(kafka, app_id, tmp_path / "empty")
    rebuilt = rebuilding.open()
    assert [rebuilt.get(f"golden:{n}") for n in (0, 1, 49, 99)] == [{"n": "new"}, {"n": 1}, {"n": 49}, {"n": 99}]
    assert rebuilding.restored == 52


def test_a_new_owner_fences_the_old_one_and_its_open_transaction_is_never_restored(
    kafka: KafkaConfig, app_id: str, tmp_path: Path
) -> None:
    old = Checkpoint(kafka, app_id, tmp_path / "old")
    old.open()
    batch(old, [("golden:a", {"v": 1})])
    # the old owner is mid-batch when the partition moves: its transaction is open, not committed
    dangling = TransactionalPublisher(kafka, f"{app_id}-resolve-0")
    dangling.begin()
    dangling.send(state_changelog_topic(app_id), encode({"v": "lost"}), key=b"golden:a")
    dangling.producer.flush(10)

    new = Checkpoint(kafka, app_id, tmp_path / "new")
    assert new.open().get("golden:a") == {"v": 1}
    batch(new, [("golden:b", {"v": 1})])
    with pytest.raises(KafkaException):
        dangling.commit()
    with pytest.raises(KafkaException):
        batch(old, [("golden:a", {"v": "late"})])
    assert committed(kafka, app_id) == {b"golden:a": encode({"v": 1}), b"golden:b": encode({"v": 1})}


def test_a_damaged_store_is_rebuilt(kafka: KafkaConfig, app_id: str, tmp_path: Path) -> None:
    checkpoint = Checkpoint(kafka, app_id, tmp_path)
    checkpoint.open()
    batch(checkpoint, [("golden:a", {"v": 1})])
    checkpoint.close()
    for path in (tmp_path / "resolve-0").iterdir():
        if path.name.startswith(("CURRENT", "MANIFEST")):
            path.write_bytes(b"garbage")
    assert Checkpoint(kafka, app_id, tmp_path).open().get("golden:a") == {"v": 1}


def test_a_batch_s_records_are_read_with_its_state_writes_or_never(
    kafka: KafkaConfig, app_id: str, tmp_path: Path
) -> None:
    output = f"{kafka.topic_prefix}canonical.checkpoint"
    ensure_topics(kafka, [output])
    old = Checkpoint(kafka, app_id, tmp_path / "old")
    old.open()
    old.begin().send(output, b"version 1", key=b"a")
    old.commit([("golden:a", {"v": 1})])
    old.begin().send(output, b"version 2", key=b"a")  # the worker stops here: the partition moves on
    assert [m.value() for m in read_to_end(kafka, output)] == [b"version 1"]

    new = Checkpoint(kafka, app_id, tmp_path / "new")
    assert new.open().get("golden:a") == {"v": 1}
    new.begin().send(output, b"version 2 again", key=b"a")
    new.commit([("golden:a", {"v": 2})])
    with pytest.raises(KafkaException):
        old.commit([("golden:a", {"v": "late"})])
    assert [m.value() for m in read_to_end(kafka, output)] == [b"version 1", b"version 2 again"]
    assert committed(kafka, app_id) == {b"golden:a": encode({"v": 2})}


def test_a_state_value_over_the_record_limit_goes_in_chunks_and_is_restored_whole(
    kafka: KafkaConfig, app_id: str, tmp_path: Path
) -> None:
    small = kafka.model_copy(update={"max_record_bytes": 64 * 1024})
    order = {"lines": {f"line-{n}": {"sku": f"SKU-{n}", "text": "x" * 200} for n in range(1000)}}  # ~230 KB
    checkpoint = Checkpoint(small, app_id, tmp_path / "one")
    try:
        checkpoint.open()
        batch(checkpoint, [("golden:big", order), ("golden:shrinks", order), ("golden:small", {"v": 1})])
        batch(checkpoint, [("golden:shrinks", {"v": 2})])
        batch(checkpoint, [("golden:big", {**order, "v": 3})])
    finally:
        checkpoint.close()
    records = list(read_to_end(kafka, state_changelog_topic(app_id)))
    assert max(len(m.value() or b"") for m in records) <= small.max_record_bytes
    assert sum(1 for m in records if (m.key() or b"").startswith(b"golden:big\x00")) >= 2 * 4

    rebuilt = Checkpoint(small, app_id, tmp_path / "two")
    try:
        store = rebuilt.open()
        assert store.get("golden:big") == {**order, "v": 3}
        assert store.get("golden:shrinks") == {"v": 2} and store.get("golden:small") == {"v": 1}
        assert store.get("golden:big\x000") is None, "chunks are not state"
    finally:
        rebuilt.close()
