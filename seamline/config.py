"""The one YAML configuration file: typed, validated, `${ENV}` for secrets."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and how to fix it."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaConfig(_Section):
    """How every process reaches Kafka and the schema registry."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="host:port[,host:port] of the Kafka brokers.")
    schema_registry_url: str = Field(
        "http://127.0.0.1:8081/apis/ccompat/v7", description="Base URL of a Confluent-compatible schema registry."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol."
    )
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism, used with SASL_* protocols."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password; write it as ${ENV_VAR}.")
    ssl_ca_location: Path | None = Field(None, description="CA bundle (PEM) that signed the brokers' certificates.")
    topic_prefix: str = Field("", description="Prepended to every topic name; isolates environments sharing a cluster.")
    partitions: int = Field(3, ge=1, description="Partitions of the topics seamline creates.")
    replication_factor: int = Field(1, ge=1, description="Replication factor of the topics seamline creates.")


class PostgresCdcSource(_Section):
    """A PostgreSQL database captured through logical replication (pgoutput)."""

    kind: Literal["postgres_cdc"]
    dsn: SecretStr = Field(description="libpq connection string of a role with the REPLICATION attribute.")
    system: str = Field(description="Name of the source system in topics and xrefs, e.g. 'erp'.")
    tables: list[str] = Field(min_length=1, description="Tables to capture, 'table' or 'schema.table'.")
    slot: str = Field(
        pattern=r"^[a-z0-9_]{1,63}$", description="Logical replication slot name (created if missing): a-z, 0-9, _."
    )
    publication: str = Field(description="Publication name (created for the tables if missing).")
    metrics_port: int = Field(9101, description="Port of this process's /metrics endpoint on 127.0.0.1.")


SQL_POLL_SCHEMES = ("postgresql+psycopg", "mysql+pymysql", "mariadb+pymysql")


class SqlPollSource(_Section):
    """A SQL table polled through a timestamp + key watermark (query-based capture, any SQL database)."""

    kind: Literal["sql_poll"]
    dsn: SecretStr = Field(
        description="SQLAlchemy URL of a user that may SELECT from the table: "
        "postgresql+psycopg://user:password@host:port/db or mysql+pymysql://user:password@host:port/db."
    )
    system: str = Field(description="Name of the source system in topics and xrefs, e.g. 'erp'.")
    table: str = Field(min_length=1, description="Table to poll, 'table' or 'schema.table' ('database.table').")
    key_column: str = Field("id", min_length=1, description="Column that identifies a row (unique, not null).")
    timestamp_column: str = Field(
        "updated_at",
        min_length=1,
        description="Date-time column set on every insert and update (use microseconds: DATETIME(6) on MariaDB); "
        "the watermark follows it. Values without a time zone are read as UTC.",
    )
    poll_interval_s: float = Field(1.0, gt=0, description="Seconds to wait between polls once caught up.")
    overlap_s: float = Field(
        0.0,
        ge=0,
        description="Seconds re-read behind the watermark on every poll, to catch rows committed late "
        "with an older timestamp; rows in the window may be re-sent after a restart (same event_id).",
    )
    batch_size: int = Field(1000, ge=1, description="Rows read per query.")
    soft_delete_column: str | None = Field(
        None, description="Optional boolean column; a row where it is true is published as a delete (op 'd')."
    )
    delete_detection: Literal["none", "soft_delete", "key_comparison"] | None = Field(
        None,
        description="How deletes are found: 'soft_delete' (soft_delete_column; the default when it is set), "
        "'key_comparison' (hard deletes: the table's keys are compared with the live keys published, every "
        "key_comparison_interval_s), 'none' (the default otherwise).",
    )
    key_comparison_interval_s: float = Field(
        60.0, gt=0, description="Seconds between two key comparisons with delete_detection 'key_comparison'."
    )
    metrics_port: int = Field(9101, description="Port of this process's /metrics endpoint on 127.0.0.1.")

    @field_validator("dsn")
    @classmethod
    def _supported_url(cls, dsn: SecretStr) -> SecretStr:
        scheme = dsn.get_secret_value().partition("://")[0]
        if scheme not in SQL_POLL_SCHEMES:
            raise ValueError(f"unsupported database URL scheme {scheme!r}: use one of {', '.join(SQL_POLL_SCHEMES)}")
        return dsn

    @model_validator(mode="after")
    def _soft_delete_needs_column(self) -> SqlPollSource:
        if self.delete_detection == "soft_delete" and self.soft_delete_column is None:
            raise ValueError("delete_detection 'soft_delete' needs soft_delete_column: name the boolean column")
        return self


Source = Annotated[PostgresCdcSource | SqlPollSource, Field(discriminator="kind")]


class EntityMapping(_Section):
    """Maps one source object onto a canonical entity."""

    source: str = Field(description="'<system>.<object>', e.g. 'erp.customers'.")
    entity: Literal["customer"] = Field(description="Canonical entity the object maps to.")
    fields: dict[str, str] = Field(description="canonical field -> source column.")
    default_region: str = Field("US", description="ISO country used to parse phone numbers written without +code.")


class ProcessorConfig(_Section):
    """The Faust stream processor."""

    app_id: str = Field("seamline-processor", description="Faust app id: consumer group and changelog prefix.")
    data_dir: Path = Field(Path("/var/tmp/seamline/processor"), description="Where the RocksDB table stores live.")
    mappings: list[EntityMapping] = Field(min_length=1, description="Source object to canonical entity mappings.")
    batch_size: int = Field(500, ge=1, description="Events processed per batch.")
    metrics_port: int = Field(9102, description="Port of this process's /metrics endpoint on 127.0.0.1.")


class PostgresSink(_Section):
    """A PostgreSQL target: batched upserts guarded by version."""

    kind: Literal["postgres"]
    dsn: SecretStr = Field(description="libpq connection string of the target database.")
    tables: dict[Literal["customer"], str] = Field(description="canonical entity -> target table name.")
    group_id: str | None = Field(None, description="Kafka consumer group; defaults to 'seamline-sink-<name>'.")
    batch_size: int = Field(500, ge=1, description="Records written per transaction.")
    metrics_port: int = Field(9103, description="Port of this process's /metrics endpoint on 127.0.0.1.")


Sink = Annotated[PostgresSink, Field(discriminator="kind")]


class Config(_Section):
    """The whole seamline configuration file."""

    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    sources: dict[str, Source] = Field(default_factory=dict)
    processor: ProcessorConfig | None = None
    sinks: dict[str, Sink] = Field(default_factory=dict)


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _interpolate(text: str, path: Path) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            line = text.count("\n", 0, match.start()) + 1
            raise ConfigError(f"{path}:{line}: environment variable {name} is not set; export it or remove ${{{name}}}")
        return os.environ[name]

    return _ENV_REF.sub(replace, text)


def _key_lines(text: str) -> dict[str, int]:
    """Line number of each mapping key's first appearance, by dotted path."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = f"{prefix}.{key.value}" if prefix else str(key.value)
                lines.setdefault(path, key.start_mark.line + 1)
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                path = f"{prefix}.{index}"
                lines.setdefault(path, item.start_mark.line + 1)
                walk(item, path)

    root = yaml.compose(text)
    if root is not None:
        walk(root, "")
    return lines


def _explain(error: ValidationError, text: str, path: Path) -> str:
    lines = _key_lines(text)
    problems = []
    for item in error.errors():
        parts = [str(part) for part in item["loc"]]
        dotted, line = "", None
        for index, part in enumerate(parts):
            candidate = f"{dotted}.{part}" if dotted else part
            if candidate in lines:
                dotted, line = candidate, lines[candidate]
            elif index == len(parts) - 1:
                dotted = candidate  # a missing key: name it; other unknown parts are union tags
        where = f"{path}:{line}" if line else str(path)
        problems.append(f"{where}: {dotted or '(top level)'}: {item['msg']}")
    return "\n".join(problems)


def load_config(path: Path) -> Config:
    """Read, interpolate and validate a configuration file; raise ConfigError saying what to fix."""
    try:
        raw_text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from exc
    text = _interpolate(raw_text, path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys kafka, sources, processor, sinks")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, text, path)) from exc
