"""The one Avro serde: Confluent wire format (magic byte, schema id, body) through the schema registry."""

from __future__ import annotations

import io
import re
import struct
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from fastavro.read import SchemaResolutionError

from seamline.config import KafkaConfig
from seamline.schemas import object_typed, parse, schema_name, schema_text

MAGIC = 0
_HEADER = struct.Struct(">bI")


class SerdeError(ValueError):
    """Bytes that are not a readable Avro record in the Confluent wire format, or a value its schema refuses."""


def registry_client(kafka: KafkaConfig) -> SchemaRegistryClient:
    """A schema registry client for the configured registry."""
    settings: dict[str, Any] = {"url": kafka.schema_registry_url}
    if kafka.ssl_ca_location is not None:
        settings["ssl.ca.location"] = str(kafka.ssl_ca_location)
    if kafka.schema_registry_user is not None:
        password = kafka.schema_registry_password.get_secret_value() if kafka.schema_registry_password else ""
        settings["basic.auth.user.info"] = f"{kafka.schema_registry_user}:{password}"
    return SchemaRegistryClient(settings)


def subject_name(topic: str, *, key: bool) -> str:
    """The registry subject of a topic's keys or values: `<topic>-key` or `<topic>-value`."""
    return f"{topic}-{'key' if key else 'value'}"


def register_subject(client: SchemaRegistryClient, subject: str, text: str) -> int:
    """Register a schema under a subject with compatibility BACKWARD; return its id."""
    schema_id = client.register_schema(subject, Schema(text, "AVRO"))
    client.set_compatibility(subject_name=subject, level="BACKWARD")
    return schema_id


class AvroSerde:
    """Encodes and decodes keys and values of seamline topics; schemas are registered on first use."""

    def __init__(self, kafka: KafkaConfig, registry: SchemaRegistryClient | None = None) -> None:
        self._kafka = kafka
        self._registry = registry or registry_client(kafka)
        self._writer_ids: dict[tuple[str, bool, str | None], tuple[int, Any]] = {}
        self._writers_by_id: dict[int, Any] = {}
        self._readers: dict[tuple[str, bool, int], tuple[Any, Any]] = {}

    def _schema_for(self, topic: str, *, key: bool) -> str:
        return schema_text(schema_name(topic.removeprefix(self._kafka.topic_prefix), key=key))

    def register(self, topic: str, *, key: bool, schema: str | None = None) -> tuple[int, Any]:
        """Register a schema (compatibility BACKWARD) and return its id and parsed form.

        `schema` is the text of a schema made at run time (a source object's typed rows); without it the
        topic's schema file is used.
        """
        cached = self._writer_ids.get((topic, key, schema))
        if cached is None:
            text = schema or self._schema_for(topic, key=key)
            schema_id = register_subject(self._registry, subject_name(topic, key=key), text)
            cached = self._writer_ids[(topic, key, schema)] = (schema_id, parse(text))
        return cached

    def latest_schema(self, topic: str, *, key: bool = False) -> str | None:
        """The text of the newest schema registered for the topic's keys or values; None when there is none."""
        try:
            return str(self._registry.get_latest_version(subject_name(topic, key=key)).schema.schema_str)
        except SchemaRegistryError as exc:
            if exc.http_status_code != 404:
                raise
            return None

    def encode(self, topic: str, value: Any, *, key: bool = False, schema: str | None = None) -> bytes:
        """The wire-format bytes of a key or value for the topic, written with `schema` or the topic's file."""
        schema_id, parsed = self.register(topic, key=key, schema=schema)
        out = io.BytesIO()
        out.write(_HEADER.pack(MAGIC, schema_id))
        try:
            fastavro.schemaless_writer(out, parsed, value)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise SerdeError(f"value does not fit the schema of {topic}: {_without_datum(exc)}") from exc
        return out.getvalue()

    def decode(self, topic: str, data: bytes | None, *, key: bool = False) -> Any:
        """The record in wire-format bytes, read with the writer's schema and resolved to the topic's schema file.

        Values of source topics whose rows are typed per object are read with the writer's schema alone.
        """
        if data is None:
            return None
        if len(data) < _HEADER.size or data[0] != MAGIC:
            raise SerdeError(
                f"{len(data)} bytes on {topic} are not in the Confluent wire format (magic byte 0 + schema id); "
                "produce with a schema-registry serializer"
            )
        _, schema_id = _HEADER.unpack_from(data)
        writer, reader = self._reader(topic, key, schema_id)
        try:
            return fastavro.schemaless_reader(io.BytesIO(data[_HEADER.size :]), writer, reader)
        except SchemaResolutionError as exc:  # its message holds both schemas whole
            raise SerdeError(
                f"the record on {topic} was written with schema id {schema_id} ({_name(writer)}), which cannot be "
                f"read as {_name(reader)}: produce it to the topic of its own schema"
            ) from exc
        except Exception as exc:  # fastavro raises many kinds on corrupt input; their repr may hold the bytes read
            raise SerdeError(
                f"cannot read the Avro body on {topic} with schema id {schema_id}: {type(exc).__name__}: {exc}"
            ) from exc

    def _reader(self, topic: str, key: bool, schema_id: int) -> tuple[Any, Any]:
        """Writer and reader schema; the reader is None when both are the same, sparing schema resolution."""
        cached = self._readers.get((topic, key, schema_id))
        if cached is None:
            writer = self._writer(schema_id)
            bare = topic.removeprefix(self._kafka.topic_prefix)
            reader = writer if object_typed(bare, key=key) else parse(self._schema_for(topic, key=key))
            cached = self._readers[(topic, key, schema_id)] = (writer, None if reader == writer else reader)
        return cached

    def _writer(self, schema_id: int) -> Any:
        writer = self._writers_by_id.get(schema_id)
        if writer is None:
            try:
                text = self._registry.get_schema(schema_id).schema_str
            except SchemaRegistryError as exc:
                if exc.http_status_code != 404:
                    raise
                raise SerdeError(
                    f"schema id {schema_id} is unknown to the registry: the record was written elsewhere"
                ) from exc
            writer = parse(text)
            self._writers_by_id[schema_id] = writer
        return writer


_DATUM = re.compile(r"^.*\(type <class '([\w.]+)'>\) do not match", re.DOTALL)
"""fastavro's "<the value's repr> (type <class 'str'>) do not match ...": up to the last such mark, so that no
part of the value is left."""


def _without_datum(exc: Exception) -> str:
    """fastavro's message about a value that does not fit, without the value (a record's, maybe personal data)."""
    return _DATUM.sub(r"a value of type \1 does not match", str(exc), count=1)


def _name(schema: Any) -> str:
    """A parsed schema's full name, or its type when it has none."""
    return str(schema.get("name", schema.get("type"))) if isinstance(schema, dict) else str(schema)
