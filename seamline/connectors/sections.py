"""The configuration sections every source and sink kind builds on."""

from __future__ import annotations

from abc import abstractmethod
from typing import Generic, TypeVar

from pydantic import Field, model_validator

from seamline.field_rules import FieldRule, LookupTables
from seamline.mapping_check import read_problems
from seamline.processor_config import Entity
from seamline.sections import Section, raise_problems


class SourceSection(Section):
    """What every source's section has: its kind, the system it captures and its metrics port."""

    kind: str
    system: str
    metrics_port: int = Field(9101, description="Port of this process's /metrics endpoint on 127.0.0.1.")

    @abstractmethod
    def topic_objects(self) -> list[str]:
        """The objects whose topics (src.<system>.<object>) are known before the first change arrives."""

    def listening_ports(self) -> dict[str, int]:
        """Key of this section -> the port the source's process listens on through it."""
        return {"metrics_port": self.metrics_port}


class SinkSection(Section):
    """What every sink's section has: its kind, consumer group, batch size and metrics port."""

    kind: str
    group_id: str | None = Field(
        None, description="Kafka consumer group; defaults to '<topic_prefix>seamline-sink-<name>'."
    )
    batch_size: int = Field(500, ge=1, description="Records read and written per batch.")
    metrics_port: int = Field(9103, description="Port of this process's /metrics endpoint on 127.0.0.1.")

    @property
    @abstractmethod
    def entities_written(self) -> list[Entity]:
        """The canonical entities this sink reads and writes."""

    def listening_ports(self) -> dict[str, int]:
        """Key of this section -> the port the sink's process listens on through it."""
        return {"metrics_port": self.metrics_port}


class TargetFields(Section):
    """How one canonical entity is written into a target: its reverse mapping."""

    fields: dict[str, FieldRule] = Field(
        min_length=1,
        description="target field -> rule reading the canonical record: a field name (id, version, name, "
        "'xrefs.erp', ...), {constant}, {lookup}, {concat}, {split}, {cast}, {convert}, or {each: lines, fields} "
        "for order lines.",
    )


TargetT = TypeVar("TargetT", bound=TargetFields)


class MappedSink(SinkSection, Generic[TargetT]):
    """A sink that writes each entity in the target's own shape, through a reverse mapping."""

    system: str | None = Field(
        None,
        description="The source system this target is (as named in xrefs and origin), for loop prevention: a "
        "version whose origin is this system, and whose values the target already holds, is not written back.",
    )
    lookups: LookupTables = Field(
        default_factory=dict,
        description="Lookup tables of this sink's {lookup} and {convert, rates} rules: name -> {value: result}.",
    )
    entities: dict[Entity, TargetT] = Field(min_length=1, description="canonical entity -> how it is written.")

    @property
    def entities_written(self) -> list[Entity]:
        """The entities that have a target."""
        return list(self.entities)

    @model_validator(mode="after")
    def _mappings_read_known_fields(self) -> MappedSink[TargetT]:
        raise_problems(
            [
                (("entities", entity, "fields", *where), message)
                for entity, target in self.entities.items()
                for where, message in read_problems(entity, target.fields, self.lookups)
            ]
        )
        return self
