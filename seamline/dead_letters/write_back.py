"""Dead letters of a sink written back through it, once the cause of their refusal is fixed."""

from __future__ import annotations

from collections.abc import Sequence

from seamline.config import KafkaConfig
from seamline.connectors.sink import Outcome, Rejected, Sink, SinkRecord
from seamline.dead_letters.letters import Letter
from seamline.pii import FieldCipher, SealedFieldError
from seamline.retry import retrying
from seamline.serde import AvroSerde, SerdeError
from seamline.topics import canonical_topic


def write_back(
    kafka: KafkaConfig, sink: Sink, chosen: Sequence[Letter], cipher: FieldCipher
) -> tuple[Sequence[SinkRecord], Outcome]:
    """Write the letters' records through `sink` as one batch (transient failures retried), their personal fields
    opened; the records and what became of them. A letter still refused stays where it is, in the DLQ."""
    serde, prefix = AvroSerde(kafka), canonical_topic(kafka, "")
    records: list[SinkRecord] = []
    unreadable: list[Rejected] = []
    for letter in chosen:
        topic = letter.headers.get("original.topic", "")
        record = SinkRecord(
            entity=topic.removeprefix(prefix),
            id="",
            value=None,
            topic=topic,
            partition=int(letter.headers.get("original.partition", -1)),
            offset=int(letter.headers.get("original.offset", -1)),
            raw_key=letter.key,
            raw_value=letter.value,
        )
        try:
            key, value = serde.decode(topic, letter.key, key=True), serde.decode(topic, letter.value)
            value = None if value is None else cipher.open(record.entity, value)
        except (SerdeError, SealedFieldError) as exc:
            unreadable.append(Rejected(record, str(exc), type(exc).__name__))
            continue
        records.append(
            SinkRecord(record.entity, key, value, topic, record.partition, record.offset, letter.key, letter.value)
        )
    sink.setup()
    try:
        for attempt in retrying(timeout_s=60):
            with attempt:
                outcome = sink.write(records) if records else Outcome()
    finally:
        sink.close()
    outcome.rejected += unreadable
    return [*records, *(item.record for item in unreadable)], outcome
