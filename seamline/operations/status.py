"""What `seamline status` shows: the stack's health, each process, consumer group lag and throughput, DLQ depth,
each source's stored position, and on a machine with the local stack how its Prometheus scrapes the processes.
Everything is read from Kafka, the registry, the processes' metrics endpoints and Prometheus, so it needs nothing
but the configuration file."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import httpx
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from confluent_kafka.schema_registry.error import SchemaRegistryError

from notify.runner import notify_group, topic_pattern
from seamline.config import Config
from seamline.consumer_lag import group_lag
from seamline.kafka_settings import client_settings
from seamline.retry import HTTP_ERRORS, retrying
from seamline.serde import registry_client
from seamline.stack.scrape_targets import ScrapeTarget, local_prometheus, remove_stale, scrape_targets
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, dlq_topic, identity_topic, processor_input_topics, sink_group


@dataclass(frozen=True)
class Health:
    """One part of the stack or one seamline process: whether it answers, and how or why not."""

    name: str
    up: bool
    detail: str


@dataclass(frozen=True)
class GroupStatus:
    """A consumer group's records yet to read, and its committed records per second since the previous look."""

    group: str
    process: str
    lag: int
    committed: int
    per_second: float | None


@dataclass(frozen=True)
class SourcePosition:
    """A source's newest stored position and its age."""

    source: str
    position: str
    age_s: float | None


@dataclass
class Status:
    """One look at the pipeline."""

    health: list[Health] = field(default_factory=list)
    groups: list[GroupStatus] = field(default_factory=list)
    dead_letters: dict[str, int] = field(default_factory=dict)
    positions: list[SourcePosition] = field(default_factory=list)
    targets: list[ScrapeTarget] = field(default_factory=list)
    """The configured processes as the local stack's Prometheus scrapes them."""


class StatusReader:
    """Takes looks at a pipeline; throughput is the committed offsets' growth between two looks."""

    def __init__(self, config: Config, host: str = "127.0.0.1") -> None:
        self.config = config
        self.host = host
        self.admin = AdminClient(client_settings(config.kafka, "admin"))
        self._previous: dict[str, tuple[float, int]] = {}

    def look(self) -> Status:
        """The pipeline now; a part that does not answer is reported down, never raised."""
        status = Status(health=[self._kafka(), self._registry(), *self._processes()])
        self._scraped(status)
        if not status.health[0].up:
            return status
        status.groups = [self._group(group, process, topics) for group, (process, topics) in self._groups().items()]
        status.dead_letters = self._dead_letters()
        status.positions = self._positions()
        return status

    def _kafka(self) -> Health:
        try:
            brokers = self.admin.list_topics(timeout=5).brokers
        except KafkaException as exc:
            return Health("kafka", False, f"{self.config.kafka.bootstrap_servers}: {exc.args[0]}")
        return Health("kafka", True, f"{len(brokers)} broker(s) at {self.config.kafka.bootstrap_servers}")

    def _registry(self) -> Health:
        url = self.config.kafka.schema_registry_url
        try:
            subjects = registry_client(self.config.kafka).get_subjects()
        except (SchemaRegistryError, *HTTP_ERRORS) as exc:
            return Health("schema registry", False, f"{url}: {exc}")
        return Health("schema registry", True, f"{len(subjects)} subject(s) at {url}")

    def _ports(self) -> dict[str, int]:
        """Each configured process -> its metrics port."""
        ports = {f"source {name}": source.metrics_port for name, source in self.config.sources.items()}
        if self.config.processor is not None:
            ports["processor"] = self.config.processor.metrics_port
        if self.config.notify is not None:
            ports["notify"] = self.config.notify.metrics_port
        return ports | {f"sink {name}": sink.metrics_port for name, sink in self.config.sinks.items()}

    def _processes(self) -> list[Health]:
        found = []
        for process, port in self._ports().items():
            url = f"http://{self.host}:{port}/metrics"
            try:
                httpx.get(url, timeout=3).raise_for_status()
                found.append(Health(process, True, url))
            except httpx.HTTPError as exc:
                found.append(Health(process, False, f"{url}: {type(exc).__name__}"))
        return found

    def _scraped(self, status: Status) -> None:
        """Where the local stack runs: its Prometheus's health, and the targets of the configured processes (the
        target files of processes that are gone are removed first)."""
        prometheus = local_prometheus()
        if prometheus is None:
            return
        remove_stale(prometheus.targets)
        try:
            targets = scrape_targets(prometheus)
        except httpx.HTTPError as exc:
            status.health.append(Health("prometheus", False, f"{prometheus.url}: {type(exc).__name__}"))
            return
        ports = {str(port) for port in self._ports().values()}
        status.targets = [target for target in targets if target.instance.rpartition(":")[2] in ports]
        up = sum(target.health == "up" for target in status.targets)
        status.health.append(
            Health(
                "prometheus", True, f"{up} of {len(status.targets)} target(s) of these processes up at {prometheus.url}"
            )
        )

    def _groups(self) -> dict[str, tuple[str, list[str]]]:
        """Consumer group -> the process that owns it and the topics it reads."""
        kafka = self.config.kafka
        groups = {
            sink_group(kafka, name, sink.group_id): (
                f"sink {name}",
                [canonical_topic(kafka, e) for e in sink.entities_written],
            )
            for name, sink in self.config.sinks.items()
        }
        if self.config.processor is not None:
            read = [*processor_input_topics(kafka, self.config.processor), identity_topic(kafka)]
            groups[self.config.processor.app_id] = ("processor", read)
        if self.config.notify is not None:
            pattern = re.compile(topic_pattern(self.config))
            read = sorted(topic for topic in self.admin.list_topics(timeout=10).topics if pattern.match(topic))
            groups[notify_group(self.config)] = ("notify", read)
        return groups

    def _group(self, group: str, process: str, topics: list[str]) -> GroupStatus:
        partitions = group_lag(self.config.kafka, group, topics)
        committed = sum(p.committed or 0 for p in partitions)
        now, rate = time.monotonic(), None
        if group in self._previous:
            then, before = self._previous[group]
            rate = max(0, committed - before) / max(now - then, 1e-3)
        self._previous[group] = (now, committed)
        return GroupStatus(group, process, sum(p.lag for p in partitions), committed, rate)

    def _dead_letters(self) -> dict[str, int]:
        prefix = dlq_topic(self.config.kafka, "")
        topics = self.admin.list_topics(timeout=10).topics
        specs: dict[TopicPartition, OffsetSpec] = {}
        for topic, metadata in topics.items():
            if topic.startswith(prefix):
                for partition in metadata.partitions:
                    specs[TopicPartition(topic, partition)] = OffsetSpec.earliest()
        if not specs:
            return {}
        starts = self._offsets(specs)
        ends = self._offsets({tp: OffsetSpec.latest() for tp in specs})
        depth = {tp.topic.removeprefix(prefix): 0 for tp in specs}
        for topic in sorted({tp.topic for tp, end in ends.items() if end > starts[tp]}):
            # Counted: the resolve stage writes its letters in transactions, whose markers take offsets too
            depth[topic.removeprefix(prefix)] = sum(1 for _ in read_to_end(self.config.kafka, topic))
        return dict(sorted(depth.items()))

    def _offsets(self, specs: dict[TopicPartition, OffsetSpec]) -> dict[TopicPartition, int]:
        """Offsets by spec, retried while a partition's leader is not known yet or is moving."""
        offsets: dict[TopicPartition, int] = {}
        for attempt in retrying(timeout_s=30):
            with attempt:
                offsets = {tp: future.result().offset for tp, future in self.admin.list_offsets(specs).items()}
        return offsets

    def _positions(self) -> list[SourcePosition]:
        from producers.positions import PositionStore
        from seamline.publisher import Publisher
        from seamline.serde import AvroSerde

        if not self.config.sources:
            return []
        publisher = Publisher(self.config.kafka)
        try:
            stored = PositionStore(self.config.kafka, AvroSerde(self.config.kafka), publisher).newest()
        finally:
            publisher.close()
        now_ms = time.time() * 1000
        found = []
        for name in self.config.sources:
            entry = stored.get(name)
            if entry is None:
                found.append(SourcePosition(name, "none stored yet", None))
            else:
                found.append(SourcePosition(name, entry.checkpoint.position, (now_ms - entry.stored_at_ms) / 1000))
        return found
