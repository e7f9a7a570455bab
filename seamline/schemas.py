"""Which Avro schema each topic uses, read from the .avsc files in schemas/ (the source of truth)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import fastavro

#: The repository's schemas/, installed as the package seamline.avro_schemas (pyproject.toml). pip installs it as
#: files, so it is a directory, as `seamline schemas check --schema-dir` takes one.
SCHEMA_DIR = Path(str(files("seamline.avro_schemas")))


class SchemaNotFound(LookupError):
    """No schema file in schemas/ belongs to the topic."""


def schema_name(bare_topic: str, *, key: bool) -> str:
    """The schema file name (without .avsc) for a topic name stripped of its prefix."""
    kind, _, rest = bare_topic.partition(".")
    if kind == "src":
        return "source_key" if key else "change_event"
    if kind == "canonical":
        return "entity_key" if key else rest
    if bare_topic == "seamline.offsets":
        return "position_key" if key else "position"
    if bare_topic == "seamline.suggestions":
        return "entity_key" if key else "merge_suggestion"
    if bare_topic == "seamline.decisions":
        return "decision_key" if key else "decision"
    if bare_topic.startswith("dlq.source."):  # changes a source refused, their columns as text
        return "source_key" if key else "change_event"
    if kind == "dq":  # fields a record went on without, or with as written
        return "source_key" if key else "data_quality"
    raise SchemaNotFound(
        f"topic {bare_topic!r} has no schema: seamline topics start with src., canonical., dlq.source., dq. or are "
        "seamline.offsets, seamline.suggestions or seamline.decisions"
    )


def object_typed(bare_topic: str, *, key: bool) -> bool:
    """True for source topic values: their schema is made per object from its columns (seamline.rows)."""
    return not key and bare_topic.startswith("src.")


def schema_text(name: str, schema_dir: Path = SCHEMA_DIR) -> str:
    """The text of schemas/<name>.avsc."""
    path = schema_dir / f"{name}.avsc"
    if not path.exists():
        raise SchemaNotFound(f"{path} does not exist: add the schema file or fix the entity name")
    return path.read_text(encoding="utf-8")


@cache
def parse(text: str) -> Any:
    """A fastavro parsed schema, cached by its text."""
    return fastavro.parse_schema(json.loads(text))
