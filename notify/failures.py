"""What failed and why, read from a dead letter or a data-quality record: its place, key and reason, never a
field value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from confluent_kafka import Message

from seamline.config import Config
from seamline.dead_letters.letters import SOURCE_STAGE
from seamline.dead_letters.writer import read_headers
from seamline.schemas import SchemaNotFound
from seamline.serde import AvroSerde, SerdeError
from seamline.topic_reader import record_position

DLQ = "dlq."
DQ = "dq."
_KEY_MAX_CHARS = 200


@dataclass(frozen=True)
class Failure:
    """One failed record as the people who fix it need it: where it failed, which record, why, and when."""

    topic: str
    """Where notify read it: <prefix>dlq.<stage> or <prefix>dq.<entity>."""
    partition: int
    offset: int
    stage: str
    system: str | None
    object: str | None
    entity: str | None
    key: str | None
    """The record's key as the letter carries it: source key columns (`id=42`) or a golden id."""
    error_class: str
    reason: str
    event_id: str | None
    original: str | None
    """`topic[partition]@offset` of the record that failed (a source's refused change: its topic alone)."""
    failed_at: datetime
    attempt: int

    @property
    def identity(self) -> tuple[str, str]:
        """The record that failed, the same when it fails again: its stage and event id, else its position."""
        return self.stage, self.event_id or self.original or f"{self.topic}[{self.partition}]@{self.offset}"

    @property
    def letter(self) -> str | None:
        """`<stage>:<partition>:<offset>`, the name `seamline dlq show` takes; None for a data-quality record."""
        return None if self.stage.startswith(DQ) else f"{self.stage}:{self.partition}:{self.offset}"

    def commands(self) -> dict[str, str]:
        """What to run about it (docs/operations.md): show the letter, and replay it once the cause is fixed."""
        if self.letter is None:
            return {}
        found = {"show": f"seamline dlq show {self.letter}"}
        if self.stage.startswith(SOURCE_STAGE):
            found["replay"] = "none: fix the value in the source, and the row's next change is published"
        else:
            found["replay"] = (
                f"seamline dlq replay --stage {self.stage} --since {stamp(self.failed_at)} "
                f"--until {stamp(self.failed_at + timedelta(milliseconds=1))}"
            )
        return found


def stamp(moment: datetime) -> str:
    """A time as the dlq commands take it: ISO 8601 in UTC, to the millisecond."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FailureReader:
    """Reads failures from consumed records, naming each one's system, object and entity as the configuration
    maps them (a source object's entity, a sink's target system)."""

    def __init__(self, config: Config, serde: AvroSerde | None = None) -> None:
        self._prefix = config.kafka.topic_prefix
        mappings = config.processor.mappings if config.processor is not None else []
        self._entities: dict[str, str] = {mapping.source: mapping.entity for mapping in mappings}
        self._targets = {name: getattr(section, "system", None) or name for name, section in config.sinks.items()}
        self._serde = serde or AvroSerde(config.kafka)

    def read(self, message: Message) -> Failure:
        topic, partition, offset = record_position(message)
        bare = topic.removeprefix(self._prefix)
        headers = read_headers(message.headers())
        stage = bare.removeprefix(DLQ) if bare.startswith(DLQ) else bare
        original_topic = headers.get("original.topic")
        system, obj, entity = self._place(stage, (original_topic or "").removeprefix(self._prefix))
        original_offset = headers.get("original.offset", "-1")
        original = original_topic
        if original_topic and original_offset.lstrip("-").isdigit() and int(original_offset) >= 0:
            original = f"{original_topic}[{headers.get('original.partition')}]@{original_offset}"
        stamp_ms = headers.get("failed_at_ms", "")
        attempt = headers.get("attempt", "1")
        return Failure(
            topic=topic,
            partition=partition,
            offset=offset,
            stage=stage,
            system=system,
            object=obj,
            entity=entity,
            key=self._key(original_topic or topic, message.key()),
            error_class=headers.get("error.class", "unknown"),
            reason=headers.get("error.reason", "no reason given: the record has no error.reason header"),
            event_id=headers.get("event_id"),
            original=original,
            failed_at=datetime.fromtimestamp(
                (int(stamp_ms) if stamp_ms.isdigit() else message.timestamp()[1]) / 1000, UTC
            ),
            attempt=int(attempt) if attempt.isdigit() else 1,
        )

    def _place(self, stage: str, original: str) -> tuple[str | None, str | None, str | None]:
        """(system, object, entity) of a failure, from its stage and the topic of the record that failed."""
        system: str | None = None
        obj: str | None = None
        entity: str | None = None
        kind, _, rest = original.partition(".")
        if kind == "src":
            system, _, obj = rest.partition(".")
            entity = self._entities.get(rest)
        elif kind == "canonical":
            entity = rest
        if stage.startswith("sink."):
            system = self._targets.get(stage.removeprefix("sink."), stage.removeprefix("sink."))
        elif stage.startswith(DQ):
            entity = entity or stage.removeprefix(DQ)
        return system or None, obj or None, entity

    def _key(self, topic: str, data: bytes | None) -> str | None:
        """The key as text: a source key's columns or a golden id; None when it is neither (or unreadable)."""
        try:
            key = self._serde.decode(topic, data, key=True)
        except (SerdeError, SchemaNotFound):
            return None
        if isinstance(key, dict) and isinstance(key.get("columns"), dict):
            key = ", ".join(f"{column}={value}" for column, value in key["columns"].items())
        if not isinstance(key, str) or not key:
            return None
        return key if len(key) <= _KEY_MAX_CHARS else key[:_KEY_MAX_CHARS] + "…"
