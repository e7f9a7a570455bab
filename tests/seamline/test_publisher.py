"""Publisher.send_all without a broker: what it queues, in order, and what it refuses before queueing."""

from __future__ import annotations

from typing import Any

import pytest

from seamline.config import KafkaConfig
from seamline.publisher import Publisher, RecordTooLarge


class Queue:
    """Records the produce calls a real producer would queue; full once, as librdkafka's queue can be."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, bytes | None, bytes, int]] = []
        self.full_once = True

    def produce(self, topic: str, value: bytes | None, key: bytes, partition: int, *_: Any, **__: Any) -> None:
        if self.full_once:
            self.full_once = False
            raise BufferError("Local: Queue full")
        self.queued.append((topic, value, key, partition))

    def poll(self, timeout: float) -> int:
        return 0


def test_send_all_queues_every_record_in_order_and_refuses_one_over_the_limit_before_queueing_it() -> None:
    sending = Publisher(KafkaConfig(max_record_bytes=65_536))
    queue = Queue()
    sending.producer = queue  # type: ignore[assignment]
    sending.send_all("t", [(b"k1", b"v" * 100), (b"k2", None), (b"k3", b"v" * 65_534)], partition=2)
    assert queue.queued == [("t", b"v" * 100, b"k1", 2), ("t", None, b"k2", 2), ("t", b"v" * 65_534, b"k3", 2)]
    with pytest.raises(RecordTooLarge, match=r"^the record for t is 65,537 bytes, over kafka.max_record_bytes"):
        sending.send_all("t", [(b"k4", b"v"), (b"k5", b"v" * 65_535)])
    assert [key for _, _, key, _ in queue.queued] == [b"k1", b"k2", b"k3", b"k4"]
    assert queue.queued[-1][3] == -1  # no partition given: the partitioner's choice
