"""The notify process: reads every dead-letter and data-quality topic of the pipeline, has each failure announced
on its route's channels, and commits a record only once every channel took what it owed."""

from __future__ import annotations

import logging
import re
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from notify.channels import open_senders
from notify.dispatch import Dispatcher
from notify.failures import DLQ, DQ, FailureReader
from notify.ledger import Ledger
from notify.outbox import Outbox
from seamline.config import Config
from seamline.group_member import GroupCommits, readable
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.notify_config import NotifyConfig
from seamline.runtime import process_stop
from seamline.topic_reader import record_position
from seamline.topics import tool_group

log = logging.getLogger(__name__)

BATCH = 500
TOPIC_REFRESH_MS = 10_000
"""How soon a new dlq.<stage> or dq.<entity> topic is read: the consumer's metadata refresh (librdkafka's default
is 5 minutes)."""
DRAIN_S = 10.0
"""On a stop, how long the channels may take to send what is queued before the last commit."""


def notify_group(config: Config) -> str:
    """The consumer group of `seamline notify`: notify.group_id, else <topic_prefix>seamline-notify."""
    assert config.notify is not None
    return config.notify.group_id or tool_group(config.kafka, "notify")


def topic_pattern(config: Config) -> str:
    """The regular expression of the topics notify reads: <prefix>dlq.* and <prefix>dq.*, present and future."""
    return f"^{re.escape(config.kafka.topic_prefix)}({re.escape(DLQ)}|{re.escape(DQ)}).+"


class NotifyRunner:
    """Runs `seamline notify` until stopped. Delivery is at-least-once: a record's offset is committed only once
    every channel of its route took its notice or digest (or it was a repeat, or no route takes it); each channel
    has its own outbox, so one that is down is retried with backoff while the others go on, and reading pauses
    while any outbox holds more than notify.max_backlog notices. A crash between a send and its commit sends that
    notice again after the restart."""

    def __init__(self, config: Config, metrics: Metrics) -> None:
        assert config.notify is not None, "the configuration has no notify section"
        self.config = config
        self.notify: NotifyConfig = config.notify
        self.group_id = notify_group(config)
        self.outboxes = {
            name: Outbox(sender, metrics, self.notify.retry_wait_max_s)
            for name, sender in open_senders(self.notify).items()
        }
        self.dispatcher = Dispatcher(self.notify, self.outboxes, metrics)
        self.ledger = Ledger()
        self.reader = FailureReader(config)
        self._stopping = False
        self._paused: list[TopicPartition] = []
        self._commits = GroupCommits()

    def stop(self, *_: object) -> None:
        """Finish the step in hand, let the channels send what is queued (up to DRAIN_S), commit, return."""
        self._stopping = True

    def run(self, stop_on_signals: bool = True) -> None:
        """Read and announce until stop() or, when `stop_on_signals` (main thread only), SIGTERM/SIGINT."""
        if stop_on_signals:
            process_stop.on_request(self.stop)
            process_stop.on_signals()
        settings = {"group.id": self.group_id, "topic.metadata.refresh.interval.ms": TOPIC_REFRESH_MS}
        consumer = Consumer(client_settings(self.config.kafka, "consumer", **settings))
        consumer.subscribe([topic_pattern(self.config)], on_assign=self._on_assign, on_revoke=self._on_revoke)
        for outbox in self.outboxes.values():
            outbox.start()
        try:
            while not self._stopping:
                self._step(consumer)
            self._drain(consumer)
        finally:
            for outbox in self.outboxes.values():
                outbox.stop(timeout_s=1.0)
            consumer.close()

    def _step(self, consumer: Consumer) -> None:
        """Read a batch (unless paused) and dispatch it, queue the digests that are due, commit what is done."""
        for outbox in self.outboxes.values():
            if outbox.failure is not None:
                raise outbox.failure
        if self._hold_back(consumer):
            _keep_alive(consumer)
        else:
            for message in consumer.consume(BATCH, timeout=0.2):
                if readable(self.config.kafka, self.group_id, message):
                    receipt = self.ledger.open(*record_position(message))
                    self.dispatcher.take(self.reader.read(message), receipt)
                    receipt.release()
        self.dispatcher.flush_due()
        self._commit(consumer, consumer.assignment())

    def _drain(self, consumer: Consumer) -> None:
        """Give the channels up to DRAIN_S to send what is queued, pending digests included, so that a restart
        sends little again."""
        self.dispatcher.flush_due(stopping=True)
        deadline = time.monotonic() + DRAIN_S
        while any(outbox.backlog for outbox in self.outboxes.values()) and time.monotonic() < deadline:
            _keep_alive(consumer)
        self._commit(consumer, consumer.assignment())

    def _hold_back(self, consumer: Consumer) -> bool:
        """Pause reading while a channel's backlog is over notify.max_backlog, resume once none is; True while
        paused."""
        behind = [name for name, outbox in self.outboxes.items() if outbox.backlog > self.notify.max_backlog]
        if behind and not self._paused:
            log.warning(
                "channel(s) %s behind by over %d notifications: reading paused until they catch up",
                ", ".join(behind),
                self.notify.max_backlog,
            )
            self._paused = consumer.assignment()
            consumer.pause(self._paused)
        elif not behind and self._paused:
            consumer.resume(self._paused)
            self._paused = []
        return bool(self._paused)

    def _commit(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commit each partition up to its oldest record still owed a delivery (or its position). When the group
        rebalanced meanwhile, the partitions' new owner reads from the last commit: at-least-once."""
        if not partitions:
            return
        self._commits.commit(consumer, self.ledger.committable(consumer.position(partitions)))

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commits.forget(partitions)
        if self._paused:
            consumer.pause(partitions)
            self._paused += partitions
        log.info("notify: reading %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing")

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Commit what the channels took of the partitions leaving, then forget them: their new owner reads the
        rest again (notices still queued for them may be sent twice)."""
        try:
            self._commit(consumer, partitions)
        except KafkaException as exc:
            log.warning("notify: could not commit partitions being revoked: %s", exc)
        self.ledger.forget(partitions)
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._paused = [tp for tp in self._paused if (tp.topic, tp.partition) not in gone]


def _keep_alive(consumer: Consumer) -> None:
    """Poll the paused consumer, so that it keeps its group membership; a record that still comes is sought back
    to, to be read after the resume."""
    message = consumer.poll(0.1)
    if message is not None and message.error() is None:
        consumer.seek(TopicPartition(*record_position(message)))
