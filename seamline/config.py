"""The one YAML configuration file: typed, validated, `${ENV}` for secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import Field, SecretStr, ValidationError, create_model, model_validator

from seamline.config_file import ConfigError, explain, read_config_file
from seamline.connectors.registry import sink_kinds, source_kinds
from seamline.connectors.sections import SinkSection, SourceSection
from seamline.mapping_check import canonical_fields
from seamline.notify_config import NotifyConfig
from seamline.pii import FieldCipher, KeyRing
from seamline.processor_config import DATA_ROOT, DEFAULT_APP_ID, Entity, ProcessorConfig
from seamline.sections import Section as _Section


class KafkaConfig(_Section):
    """How every process reaches Kafka and the schema registry."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="host:port[,host:port] of the Kafka brokers.")
    schema_registry_url: str = Field(
        "http://127.0.0.1:8081/apis/ccompat/v7", description="Base URL of a Confluent-compatible schema registry."
    )
    schema_registry_user: str | None = Field(None, description="User of the registry's HTTP basic authentication.")
    schema_registry_password: SecretStr | None = Field(
        None, description="Password of the registry's basic authentication; write it as ${ENV_VAR}."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol."
    )
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism, used with SASL_* protocols."
    )
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password; write it as ${ENV_VAR}.")
    ssl_ca_location: Path | None = Field(
        None, description="CA bundle (PEM) that signed the brokers' (and an https registry's) certificates."
    )
    topic_prefix: str = Field("", description="Prepended to every topic name; isolates environments sharing a cluster.")
    max_record_bytes: int = Field(
        8 * 1024 * 1024,
        ge=64 * 1024,
        le=512 * 1024 * 1024,
        description="The largest record (key, value and headers) any stage publishes; the topics seamline creates "
        "take it (max.message.bytes). A larger change goes to the stage's DLQ with its key and reason, and the "
        "stream goes on.",
    )
    partitions: int = Field(3, ge=1, description="Partitions of the topics seamline creates.")
    replication_factor: int = Field(1, ge=1, description="Replication factor of the topics seamline creates.")


class PiiConfig(_Section):
    """Field-level encryption of personal data on the canonical topics (seamline/pii.py)."""

    key_file: Path = Field(
        description="JSON key file made by `seamline pii new-key`; the processor and every sink need it. Keep it"
        " out of the repository, readable by seamline only."
    )
    fields: dict[Entity, list[str]] = Field(
        description="Entity -> its text fields to encrypt, e.g. {customer: [email, phone, street]}."
    )

    @model_validator(mode="after")
    def _text_fields(self) -> PiiConfig:
        for entity, names in self.fields.items():
            fields = canonical_fields(entity)
            for name in names:
                if name not in fields:
                    raise ValueError(f"{entity} has no field {name!r}: use one of {', '.join(sorted(fields))}")
                if fields[name] not in ("string", ["null", "string"]):
                    raise ValueError(f"{entity}.{name} is not a text field; only text fields can be encrypted")
        return self

    def cipher(self) -> FieldCipher:
        """The cipher for these fields with the key file's keys; KeyFileError if the file is unusable."""
        return FieldCipher(
            KeyRing.load(self.key_file), {entity: frozenset(names) for entity, names in self.fields.items()}
        )


class Config(_Section):
    """The whole seamline configuration file; `sources` and `sinks` hold each registered kind's own section."""

    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    sources: dict[str, SourceSection] = Field(default_factory=dict)
    processor: ProcessorConfig | None = None
    sinks: dict[str, SinkSection] = Field(default_factory=dict)
    pii: PiiConfig | None = None
    notify: NotifyConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _names_of_the_pipeline(cls, data: Any) -> Any:
        """The processor's app id (its group, changelog and transactional ids) and state directory default to
        names under the pipeline's topic_prefix, so pipelines sharing a cluster or a machine stay apart."""
        if not isinstance(data, dict) or not isinstance(data.get("processor"), dict):
            return data
        kafka = data.get("kafka")
        prefix = kafka.get("topic_prefix", "") if isinstance(kafka, dict) else getattr(kafka, "topic_prefix", "")
        processor = dict(data["processor"])
        processor.setdefault("app_id", f"{prefix}{DEFAULT_APP_ID}")
        processor.setdefault("data_dir", str(DATA_ROOT / str(processor["app_id"])))
        return {**data, "processor": processor}

    def cipher(self) -> FieldCipher:
        """The cipher of the personal fields the `pii` section marks (none without one)."""
        return FieldCipher.disabled() if self.pii is None else self.pii.cipher()


def load_config(path: Path) -> Config:
    """Read, interpolate and validate a configuration file; raise ConfigError saying what to fix."""
    data, text = read_config_file(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys kafka, sources, processor, sinks")
    try:
        return config_model().model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, text, path)) from exc


def config_model() -> type[Config]:
    """Config whose sources and sinks are validated against the sections of the registered kinds, told apart
    by `kind`."""
    sources, sinks = (tuple(kind.section for kind in kinds.values()) for kinds in (source_kinds(), sink_kinds()))
    # Unions of the sections registered at run time: types no checker can know, hence Any (mypy's idiom).
    source_section: Any = Union[sources]  # noqa: UP007
    sink_section: Any = Union[sinks]  # noqa: UP007
    by_source_name = dict[str, Annotated[source_section, Field(discriminator="kind")]]
    by_sink_name = dict[str, Annotated[sink_section, Field(discriminator="kind")]]
    return create_model(
        "Config",
        __base__=Config,
        sources=(by_source_name, Field(default_factory=dict)),
        sinks=(by_sink_name, Field(default_factory=dict)),
    )
