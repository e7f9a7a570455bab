"""The Kafka ACLs each component needs, one principal per component, derived from the configuration file.

Least privilege by prefix: sources write their raw topics and the positions topic; the processor reads raw
topics and owns its identity, canonical, data-quality, suggestion and DLQ topics, its Faust topics, state
changelog, group and the transactional ids of its state; sinks read the canonical topics and own their group,
DLQ and deleted-versions topics. A principal acting outside them is refused by the broker (TOPIC_ or
GROUP_AUTHORIZATION_FAILED), and seamline stops with that message.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from seamline.config import Config, KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.topics import OFFSETS, deleted_versions_topic, dlq_topic, sink_group

Grant = tuple[ResourceType, str, ResourcePatternType, AclOperation]
OWN = (AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS)
READ = (AclOperation.READ, AclOperation.DESCRIBE)
TOPIC, GROUP, TRANSACTIONAL_ID = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
PREFIXED, LITERAL = ResourcePatternType.PREFIXED, ResourcePatternType.LITERAL


def _grants(
    resource: ResourceType, name: str, pattern: ResourcePatternType, operations: Iterable[AclOperation]
) -> list[Grant]:
    return [(resource, name, pattern, operation) for operation in operations]


def source_grants(config: Config) -> list[Grant]:
    """What the sources need: their raw topics, their DLQs and the positions topic."""
    prefix = config.kafka.topic_prefix
    return [
        *_grants(TOPIC, f"{prefix}src.", PREFIXED, OWN),
        *_grants(TOPIC, f"{prefix}dlq.source.", PREFIXED, OWN),
        *_grants(TOPIC, f"{prefix}{OFFSETS}", LITERAL, OWN),
    ]


def processor_grants(config: Config) -> list[Grant]:
    """What the processor needs: raw topics to read (and create, if it starts before their source); its own
    topics, Faust's topics, its group and its state's transactional ids (processors/checkpoint.py)."""
    if config.processor is None:
        return []
    prefix, app_id = config.kafka.topic_prefix, config.processor.app_id
    owned = [
        f"{prefix}seamline.identity",
        f"{prefix}seamline.suggestions",
        f"{prefix}seamline.decisions",
        f"{prefix}dlq.cleanse",
        f"{prefix}dlq.resolve",
    ]
    return [
        *_grants(TOPIC, f"{prefix}src.", PREFIXED, (*READ, AclOperation.CREATE)),
        *_grants(TOPIC, f"{prefix}canonical.", PREFIXED, OWN),
        *_grants(TOPIC, f"{prefix}dq.", PREFIXED, OWN),
        *(grant for topic in owned for grant in _grants(TOPIC, topic, LITERAL, OWN)),
        *_grants(TOPIC, app_id, PREFIXED, OWN),
        *_grants(GROUP, app_id, LITERAL, READ),
        *_grants(TRANSACTIONAL_ID, app_id, PREFIXED, (AclOperation.WRITE, AclOperation.DESCRIBE)),
    ]


def sink_grants(config: Config, name: str) -> list[Grant]:
    """What sink `name` needs: the canonical topics to read; its group, DLQ and deleted-versions topics."""
    kafka = config.kafka
    owned = [dlq_topic(kafka, f"sink.{name}"), deleted_versions_topic(kafka, name)]
    return [
        *_grants(TOPIC, f"{kafka.topic_prefix}canonical.", PREFIXED, (*READ, AclOperation.CREATE)),
        *(grant for topic in owned for grant in _grants(TOPIC, topic, LITERAL, OWN)),
        *_grants(GROUP, sink_group(kafka, name, config.sinks[name].group_id), LITERAL, READ),
    ]


def bindings(principal: str, grants: Iterable[Grant]) -> list[AclBinding]:
    """ALLOW bindings of `grants` for User:<principal>, from any host."""
    return [
        AclBinding(resource, name, pattern, f"User:{principal}", "*", operation, AclPermissionType.ALLOW)
        for resource, name, pattern, operation in grants
    ]


def apply(admin_kafka: KafkaConfig, acls: list[AclBinding]) -> None:
    """Create the ACLs with an admin principal's settings; an existing one is left as it is."""
    admin = AdminClient(client_settings(admin_kafka, "admin"))
    for future in admin.create_acls(acls).values():
        future.result()
