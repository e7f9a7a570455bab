"""What every consumer-group member of seamline does alike: commit only the positions that moved, retried while
the coordinator moves; tell a readable record from a consumer error, and a refusal of its ACLs from others."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from seamline.config import KafkaConfig
from seamline.retry import retrying
from seamline.topics import AUTHORIZATION_FAILURES, denied

log = logging.getLogger(__name__)

COMMIT_RETRY_S = 120.0
REBALANCED = (KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS, KafkaError.UNKNOWN_MEMBER_ID)


class GroupCommits:
    """What this member committed last per partition, so that a commit sends only the positions that moved."""

    def __init__(self) -> None:
        self._committed: dict[tuple[str, int], int] = {}

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions (re)assigned: another member may have committed them since."""
        for tp in partitions:
            self._committed.pop((tp.topic, tp.partition), None)

    def commit(self, consumer: Consumer, positions: Iterable[TopicPartition]) -> bool:
        """Commit the positions that moved (negative ones, never read, are left out), retried while the group's
        coordinator moves (a broker died). False when the group rebalanced meanwhile: the partitions' new owner
        reads from the last commit, so the caller's work since is done again (at-least-once)."""
        moved = [
            tp for tp in positions if tp.offset >= 0 and self._committed.get((tp.topic, tp.partition)) != tp.offset
        ]
        if not moved:
            return True
        for attempt in retrying(timeout_s=COMMIT_RETRY_S):
            with attempt:
                try:
                    consumer.commit(offsets=moved, asynchronous=False)
                except KafkaException as exc:
                    if exc.args[0].code() not in REBALANCED:
                        raise
                    return False
        self._committed.update(((tp.topic, tp.partition), tp.offset) for tp in moved)
        return True


def readable(kafka: KafkaConfig, group: str, message: Message) -> bool:
    """Whether a polled message is a record; a consumer error is logged and skipped, a refusal of the group's or
    the topic's ACLs raises PermissionError saying what the principal lacks."""
    error = message.error()
    if error is None:
        return True
    if error.name() in AUTHORIZATION_FAILURES:
        raise PermissionError(denied(kafka, f"reading {message.topic()} in group {group}", error.str()))
    log.warning("consumer error on %s: %s", message.topic(), error)
    return False
