"""Topic names and their creation: one place knows how every topic is named and configured."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from seamline.config import Config, KafkaConfig
from seamline.kafka_settings import client_settings, record_limit
from seamline.processor_config import ProcessorConfig

OFFSETS = "seamline.offsets"
IDENTITY = "seamline.identity"
SUGGESTIONS = "seamline.suggestions"
DECISIONS = "seamline.decisions"
STATE_CHANGELOG = "-resolve-state-changelog"
RESOLVE_KEYS = "-resolve-keys"


def source_topic(kafka: KafkaConfig, system: str, obj: str) -> str:
    """Raw change events of one source object: `src.<system>.<object>`."""
    return f"{kafka.topic_prefix}src.{system}.{obj}"


def processor_input_topics(kafka: KafkaConfig, processor: ProcessorConfig) -> list[str]:
    """The raw change topics the processor reads."""
    return sorted({source_topic(kafka, *mapping.source.split(".", 1)) for mapping in processor.mappings})


def canonical_topic(kafka: KafkaConfig, entity: str) -> str:
    """The compacted canonical topic of an entity: `canonical.<entity>`."""
    return f"{kafka.topic_prefix}canonical.{entity}"


def dlq_topic(kafka: KafkaConfig, stage: str) -> str:
    """Dead letters of one stage: `dlq.<stage>`."""
    return f"{kafka.topic_prefix}dlq.{stage}"


def dq_topic(kafka: KafkaConfig, entity: str) -> str:
    """Data-quality records of one entity, `dq.<entity>`: fields its records went on without, or with as written."""
    return f"{kafka.topic_prefix}dq.{entity}"


def offsets_topic(kafka: KafkaConfig) -> str:
    """The compacted topic that holds source positions."""
    return f"{kafka.topic_prefix}{OFFSETS}"


def identity_topic(kafka: KafkaConfig) -> str:
    """Cleansed changes on their way to identity resolution: processor.resolve_partitions partitions, each resolved by
    one worker at a time (processors/routing.py says which change goes where)."""
    return f"{kafka.topic_prefix}{IDENTITY}"


def state_changelog_topic(app_id: str) -> str:
    """The changelog of the resolve stage's state (compacted, a partition per identity partition); named after the
    processor's app id, as its consumer group is."""
    return f"{app_id}{STATE_CHANGELOG}"


def resolve_keys_topic(app_id: str) -> str:
    """The golden id each referenced key names, written by the identity partition that resolves it and read by every
    worker (compacted, one partition; processors/reference_keys.py)."""
    return f"{app_id}{RESOLVE_KEYS}"


def suggestions_topic(kafka: KafkaConfig) -> str:
    """Merge suggestions of fuzzy and probabilistic match rules, for a data steward to review."""
    return f"{kafka.topic_prefix}{SUGGESTIONS}"


def decisions_topic(kafka: KafkaConfig) -> str:
    """Data stewards' decisions about merges (accept, reject, split): compacted and one partition, so the resolve
    stage applies them in one order, and a replay applies the same ones."""
    return f"{kafka.topic_prefix}{DECISIONS}"


def sink_group(kafka: KafkaConfig, name: str, group_id: str | None) -> str:
    """The consumer group of sink `name`: its configured group_id, else <topic_prefix>seamline-sink-<name>, so
    pipelines sharing a cluster under different prefixes never share a group."""
    return group_id or f"{kafka.topic_prefix}seamline-sink-{name}"


def tool_group(kafka: KafkaConfig, tool: str) -> str:
    """The consumer group a command such as `dlq purge` or `replay` reads with: <topic_prefix>seamline-<tool>."""
    return f"{kafka.topic_prefix}seamline-{tool}"


def deleted_versions_topic(kafka: KafkaConfig, sink: str) -> str:
    """seamline.sink.<name>.deleted: the highest version sink `name` deleted, per entity and golden id."""
    return f"{kafka.topic_prefix}seamline.sink.{sink}.deleted"


def partition_count(kafka: KafkaConfig, topic: str) -> int:
    """The identity topic, the decisions topic, the resolve state's changelog and its keys have one partition unless
    the processor says otherwise (`ensure_topics`' `partitions`); every other `kafka.partitions`."""
    bare = topic.removeprefix(kafka.topic_prefix)
    one = bare in (IDENTITY, DECISIONS) or topic.endswith((STATE_CHANGELOG, RESOLVE_KEYS))
    return 1 if one else kafka.partitions


def is_compacted(kafka: KafkaConfig, topic: str) -> bool:
    """Canonical topics, the offsets topic, the decisions topic, the sinks' deleted versions and the resolve state's
    changelog keep the latest record per key."""
    bare = topic.removeprefix(kafka.topic_prefix)
    return (
        bare.endswith((STATE_CHANGELOG, RESOLVE_KEYS))
        or bare.startswith("canonical.")
        or bare in (OFFSETS, DECISIONS)
        or (bare.startswith("seamline.sink.") and bare.endswith(".deleted"))
    )


def ensure_topics(kafka: KafkaConfig, topics: Iterable[str], partitions: Mapping[str, int] | None = None) -> None:
    """Create the topics that do not exist yet, with seamline's partitioning (or that of `partitions`, topic -> count)
    and cleanup policy. ValueError for a topic of `partitions` that exists with another count."""
    admin = AdminClient(client_settings(kafka, "admin"))
    existing = admin.list_topics(timeout=15).topics
    partitions = partitions or {}
    for topic, count in partitions.items():
        if topic in existing and len(existing[topic].partitions) != count:
            raise ValueError(
                f"topic {topic} has {len(existing[topic].partitions)} partitions, the processor needs {count} "
                "(processor.resolve_partitions): keep the count it was created with, or start a new app_id and "
                "topic_prefix and replay the source topics into them"
            )
    wanted = [
        NewTopic(
            topic,
            num_partitions=partitions.get(topic) or partition_count(kafka, topic),
            replication_factor=kafka.replication_factor,
            config={
                "max.message.bytes": str(record_limit(kafka)),
                **({"cleanup.policy": "compact"} if is_compacted(kafka, topic) else {}),
            },
        )
        for topic in sorted(set(topics) - existing.keys())
    ]
    if not wanted:
        return
    for topic, future in admin.create_topics(wanted, operation_timeout=15).items():
        try:
            future.result()
        except KafkaException as exc:
            error = exc.args[0]
            if error.name() in AUTHORIZATION_FAILURES:
                raise PermissionError(denied(kafka, f"creating topic {topic}", error.str())) from exc
            if error.name() != "TOPIC_ALREADY_EXISTS":
                raise


AUTHORIZATION_FAILURES = {"TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED"}


def denied(kafka: KafkaConfig, action: str, reason: str) -> str:
    """What to say when Kafka refuses an action to this process's principal."""
    principal = kafka.sasl_username or "this client"
    return (
        f"Kafka refused {action} to User:{principal} ({reason}): grant the component's ACLs "
        "(seamline/acls.py, docs/RELIABILITY.md) or run it with its own principal"
    )


def delete_prefixed(kafka: KafkaConfig) -> list[str]:
    """Delete the topics and consumer groups whose names start with the topic prefix (without its final dot, so a
    Faust app named after the prefix goes too): a test's or a benchmark's own. Returns the deleted topics."""
    stem = kafka.topic_prefix.rstrip(".")
    if not stem:
        raise ValueError("refusing to delete every topic: kafka.topic_prefix is empty")
    admin = AdminClient(client_settings(kafka, "admin"))
    topics = [topic for topic in admin.list_topics(timeout=15).topics if topic.startswith(stem)]
    listed = admin.list_consumer_groups().result().valid
    groups = [group.group_id for group in listed if group.group_id.startswith(stem)]
    futures = [*admin.delete_topics(topics).values()] if topics else []
    futures += [*admin.delete_consumer_groups(groups).values()] if groups else []
    for future in futures:
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() not in ("UNKNOWN_TOPIC_OR_PART", "GROUP_ID_NOT_FOUND", "NON_EMPTY_GROUP"):
                raise
    return topics


def config_topics(config: Config) -> list[str]:
    """Every Avro topic the configuration file implies: raw changes, canonical entities, data quality, suggestions,
    decisions, positions."""
    kafka = config.kafka
    topics = {offsets_topic(kafka)}
    for source in config.sources.values():
        topics.update(source_topic(kafka, source.system, obj) for obj in source.topic_objects())
    if config.processor is not None:
        topics.update(canonical_topic(kafka, mapping.entity) for mapping in config.processor.mappings)
        topics.update(dq_topic(kafka, mapping.entity) for mapping in config.processor.mappings)
        topics.add(decisions_topic(kafka))
        if any(rules.fuzzy or rules.probabilistic for rules in config.processor.identity.values()):
            topics.add(suggestions_topic(kafka))
    for sink in config.sinks.values():
        topics.update(canonical_topic(kafka, entity) for entity in sink.entities_written)
    return sorted(topics)
