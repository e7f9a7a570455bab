"""AvroSerde with the real schema registry and Kafka: wire format, round trips, errors, foreign readers."""

from __future__ import annotations

import struct
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from seamline.config import KafkaConfig
from seamline.events import Change
from seamline.kafka_settings import client_settings
from seamline.serde import AvroSerde, SerdeError
from seamline.topics import canonical_topic, ensure_topics, source_topic


def change_event() -> dict[str, object]:
    return Change(
        system="erp",
        object="customers",
        connector="postgres_cdc",
        op="u",
        key={"id": "7"},
        before={"id": "7", "full_name": "Ada", "email": None},
        after={"id": "7", "full_name": "Ada Lovelace", "email": "ada@example.com"},
        position="0/16B3748:1",
        source_ts_ms=1_700_000_000_000,
    ).envelope()


def customer() -> dict[str, Any]:
    return {
        "id": "c-" + uuid.uuid4().hex,
        "version": 3,
        "name": "অমর্ত্য সেন",
        "email": "amartya@example.com",
        "phone": None,
        "country": "IN",
        "tax_id": "IN27AAPFU0939F1ZV",
        "street": "Santiniketan",
        "postcode": "731235",
        "city": "Bolpur",
        "deleted": False,
        "xrefs": {"erp": "7", "crm": "003XYZ"},
        "links": ["crm.Contact:003XYZ", "erp.customers:7"],
        "origin": "erp",
        "updated_at": 1_700_000_000_123,
        "merged_into": None,
    }


def registry(kafka: KafkaConfig) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": kafka.schema_registry_url})


def test_change_event_round_trip(kafka: KafkaConfig) -> None:
    serde = AvroSerde(kafka)
    topic = source_topic(kafka, "erp", "customers")
    event = change_event()
    assert serde.decode(topic, serde.encode(topic, event)) == event
    key = {"columns": {"id": "7"}}
    assert serde.decode(topic, serde.encode(topic, key, key=True), key=True) == key


def test_customer_round_trip(kafka: KafkaConfig) -> None:
    serde = AvroSerde(kafka)
    topic = canonical_topic(kafka, "customer")
    value = customer()
    assert serde.decode(topic, serde.encode(topic, value)) == value
    assert serde.decode(topic, serde.encode(topic, value["id"], key=True), key=True) == value["id"]


def test_a_fresh_serde_reads_by_schema_id(kafka: KafkaConfig) -> None:
    topic = canonical_topic(kafka, "customer")
    value = customer()
    data = AvroSerde(kafka).encode(topic, value)
    assert AvroSerde(kafka).decode(topic, data) == value


def test_bytes_carry_magic_and_registered_id(kafka: KafkaConfig) -> None:
    serde = AvroSerde(kafka)
    client = registry(kafka)
    cases = [
        (canonical_topic(kafka, "customer"), "c-1", customer()),
        (source_topic(kafka, "erp", "customers"), {"columns": {"id": "7"}}, change_event()),
    ]
    for topic, key, value in cases:
        for subject, data in (
            (f"{topic}-value", serde.encode(topic, value)),
            (f"{topic}-key", serde.encode(topic, key, key=True)),
        ):
            magic, schema_id = struct.unpack(">bI", data[:5])
            assert magic == 0
            assert schema_id == client.get_latest_version(subject).schema_id


def test_tombstone_decodes_to_none(kafka: KafkaConfig) -> None:
    assert AvroSerde(kafka).decode(canonical_topic(kafka, "customer"), None) is None


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x00\x00", b'{"id": "7"}', b"\x01\x00\x00\x00\x01\x02"],
    ids=["empty", "short", "json", "magic-1"],
)
def test_foreign_bytes_raise_serde_error(kafka: KafkaConfig, payload: bytes) -> None:
    topic = canonical_topic(kafka, "customer")
    with pytest.raises(SerdeError, match="not in the Confluent wire format") as raised:
        AvroSerde(kafka).decode(topic, payload)
    assert topic in str(raised.value)


def test_unknown_schema_id_raises_serde_error(kafka: KafkaConfig) -> None:
    with pytest.raises(SerdeError, match="unknown to the registry"):
        AvroSerde(kafka).decode(canonical_topic(kafka, "customer"), b"\x00\x7f\xff\xff\xf0\x02")


def test_corrupt_body_raises_serde_error(kafka: KafkaConfig) -> None:
    serde = AvroSerde(kafka)
    topic = canonical_topic(kafka, "customer")
    data = serde.encode(topic, customer())
    with pytest.raises(SerdeError, match=topic):
        serde.decode(topic, data[:12])


def test_an_unreadable_body_is_described_without_its_bytes(kafka: KafkaConfig) -> None:
    topic = canonical_topic(kafka, "customer")
    serde = AvroSerde(kafka)
    garbled = serde.encode(topic, customer()).replace(b"Santiniketan", b"\xffantiniketan")
    with pytest.raises(SerdeError, match="cannot read the Avro body") as error:
        serde.decode(topic, garbled)
    assert "antiniketan" not in str(error.value)


@pytest.mark.parametrize(
    "change",
    [{"version": "three"}, {"xrefs": None}, {"name": 42}, {"id": None}],
    ids=["long-as-text", "missing-map", "int-for-string", "null-id"],
)
def test_value_not_fitting_schema_raises_serde_error(kafka: KafkaConfig, change: dict[str, Any]) -> None:
    topic = canonical_topic(kafka, "customer")
    with pytest.raises(SerdeError, match=f"does not fit the schema of {topic}"):
        AvroSerde(kafka).encode(topic, {**customer(), **change})


def test_a_value_not_fitting_the_schema_is_not_quoted(kafka: KafkaConfig) -> None:
    topic = canonical_topic(kafka, "customer")
    with pytest.raises(SerdeError) as error:
        AvroSerde(kafka).encode(topic, {**customer(), "name": ["Ada (type <class 'int'>) do not match Lovelace"]})
    assert str(error.value) == (
        f"value does not fit the schema of {topic}: a value of type list does not match ['null', 'string'] on field "
        "name"
    )


def test_confluent_deserializer_reads_our_records(kafka: KafkaConfig) -> None:
    topic = canonical_topic(kafka, "customer")
    ensure_topics(kafka, [topic])
    serde = AvroSerde(kafka)
    value = customer()
    producer = Producer(client_settings(kafka, "producer"))
    producer.produce(topic, key=serde.encode(topic, value["id"], key=True), value=serde.encode(topic, value))
    assert producer.flush(15) == 0

    consumer = Consumer(client_settings(kafka, "consumer", **{"group.id": f"serde-{uuid.uuid4().hex}"}))
    consumer.subscribe([topic])
    try:
        message = None
        for _ in range(30):
            message = consumer.poll(1.0)
            if message is not None:
                break
        assert message is not None and message.error() is None
    finally:
        consumer.close()
    client = registry(kafka)
    deserialize = AvroDeserializer(client)
    assert deserialize(message.value(), SerializationContext(topic, MessageField.VALUE)) == value
    assert deserialize(message.key(), SerializationContext(topic, MessageField.KEY)) == value["id"]
