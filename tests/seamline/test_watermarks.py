"""Partition offsets are read again while a partition's leader is not known yet or is moving."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from seamline.topic_reader import watermarks
from tests.clock import Clock


class LeaderlessAtFirst:
    """A consumer whose broker answers NOT_LEADER_FOR_PARTITION `failures` times, then (3, 7)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def get_watermark_offsets(self, *_: Any, **__: Any) -> tuple[int, int]:
        self.calls += 1
        if self.calls <= self.failures:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return 3, 7


def test_a_partition_without_a_leader_yet_is_asked_again(clock: Clock) -> None:
    consumer = LeaderlessAtFirst(failures=2)
    assert watermarks(consumer, "t", 0) == (3, 7)  # type: ignore[arg-type]
    assert consumer.calls == 3 and len(clock.waits) == 2  # backed off before each new question


def test_a_leader_that_never_comes_fails_after_the_timeout(clock: Clock) -> None:
    started = clock.monotonic()
    with pytest.raises(KafkaException, match="NOT_LEADER_FOR_PARTITION"):
        watermarks(LeaderlessAtFirst(failures=10**6), "t", 0, timeout_s=1.0)  # type: ignore[arg-type]
    assert clock.monotonic() - started >= 1.0  # asked again until the timeout (its waits on the test's clock)
