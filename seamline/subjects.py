"""Schema subjects in the registry: check local .avsc files for backward compatibility, and register them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from seamline.config import KafkaConfig
from seamline.schemas import SCHEMA_DIR, schema_name, schema_text
from seamline.serde import register_subject, registry_client, subject_name


@dataclass(frozen=True)
class SubjectCheck:
    """The verdict on one subject."""

    subject: str
    schema_file: str
    compatible: bool
    detail: str


def _subjects(kafka: KafkaConfig, topics: Iterable[str]) -> list[tuple[str, str]]:
    pairs = []
    for topic in topics:
        bare = topic.removeprefix(kafka.topic_prefix)
        for key in (True, False):
            pairs.append((subject_name(topic, key=key), schema_name(bare, key=key)))
    return pairs


def _registered(client: SchemaRegistryClient, subject: str) -> bool:
    """Whether the subject has a version; asked per subject, since registries page their subject lists."""
    try:
        client.get_latest_version(subject)
    except SchemaRegistryError as exc:
        if exc.http_status_code == 404:
            return False
        raise
    return True


def check(kafka: KafkaConfig, topics: Iterable[str], schema_dir: Path = SCHEMA_DIR) -> list[SubjectCheck]:
    """Test each schema file against the latest registered version of its subject (BACKWARD)."""
    client = registry_client(kafka)
    results = []
    for subject, name in _subjects(kafka, topics):
        if not _registered(client, subject):
            results.append(SubjectCheck(subject, f"{name}.avsc", True, "new subject"))
            continue
        ok = client.test_compatibility(subject, Schema(schema_text(name, schema_dir), "AVRO"))
        detail = (
            "compatible with the registered version" if ok else "not backward compatible: old records could not be read"
        )
        results.append(SubjectCheck(subject, f"{name}.avsc", ok, detail))
    return results


def push(kafka: KafkaConfig, topics: Iterable[str], schema_dir: Path = SCHEMA_DIR) -> dict[str, int]:
    """Register each topic's schemas with compatibility BACKWARD; return subject -> schema id."""
    client = registry_client(kafka)
    ids = {}
    for subject, name in _subjects(kafka, topics):
        ids[subject] = register_subject(client, subject, schema_text(name, schema_dir))
    return ids


def delete_subjects(kafka: KafkaConfig, topics: Iterable[str]) -> None:
    """Delete, for good, the key and value subjects of these topics (those that exist)."""
    client = registry_client(kafka)
    for topic in topics:
        for key in (True, False):
            subject = subject_name(topic, key=key)
            try:
                client.delete_subject(subject)
                client.delete_subject(subject, permanent=True)
            except SchemaRegistryError as exc:
                if exc.http_status_code != 404:
                    raise
