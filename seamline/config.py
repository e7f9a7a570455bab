"""The one YAML configuration file: typed, validated, `${ENV}` for secrets."""

from __future__ import annotations

from abc import abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from seamline.config_file import ConfigError, explain, read_config_file
from seamline.field_rules import EachRule, FieldRule, LookupTables
from seamline.mapping_check import canonical_fields, read_problems
from seamline.pii import FieldCipher, KeyRing
from seamline.processor_config import Entity, ProcessorConfig
from seamline.sections import Section as _Section
from seamline.sections import raise_problems


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
    publication: str = Field(
        description="Publication name; created for the tables (and the signal table) if missing, extended if one is."
    )
    signal_table: str = Field(
        "seamline_signal",
        min_length=1,
        description="Table ('table' or 'schema.table', created if missing) through which incremental snapshots "
        "are requested (`seamline source snapshot`) and windowed; it is part of the publication, never published.",
    )
    snapshot_chunk_size: int = Field(1024, ge=1, description="Rows per chunk of an incremental snapshot.")
    heartbeat_interval_s: float = Field(
        10.0,
        gt=0,
        description="When the captured tables are idle, confirm the server's WAL position this often, so the "
        "replication slot does not hold back WAL written for other tables or databases.",
    )
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


class BearerAuth(_Section):
    """An OAuth access token sent as `Authorization: Bearer <token>`."""

    kind: Literal["bearer"]
    token: SecretStr = Field(description="The access token; write it as ${ENV_VAR}.")


class ApiTokenAuth(_Section):
    """An API token sent as HTTP basic auth '<user>/token:<token>' (Zendesk's API token scheme)."""

    kind: Literal["api_token"]
    user: str = Field(description="The token owner's e-mail address.")
    token: SecretStr = Field(description="The API token; write it as ${ENV_VAR}.")


class HttpPollObject(_Section):
    """One incrementally exported object of a REST API, e.g. Zendesk's tickets."""

    name: str = Field(pattern=r"^[A-Za-z0-9_]+$", description="Object name in topics: src.<system>.<name>.")
    path: str = Field(description="Export path under base_url, e.g. /api/v2/incremental/tickets/cursor.json.")
    records_field: str = Field(description="Response field holding the page's records, e.g. 'tickets'.")
    key_field: str = Field("id", description="Record field that identifies a record.")
    updated_at_field: str = Field("updated_at", description="Record field with its last change (ISO 8601 or epoch).")
    cursor_style: Literal["cursor", "time"] = Field(
        "cursor",
        description="'cursor': start_time, then after_cursor until end_of_stream; "
        "'time': start_time, then end_time as the next start_time until end_of_stream.",
    )
    deleted_field: str | None = Field(None, description="Record field that marks a deleted record (op 'd').")
    deleted_value: bool | int | str | None = Field(
        None, description="Value of deleted_field on a deleted record, e.g. 'deleted' (tickets) or false (users)."
    )


ZENDESK_OBJECTS = {
    "tickets": HttpPollObject(
        name="tickets",
        path="/api/v2/incremental/tickets/cursor.json",
        records_field="tickets",
        deleted_field="status",
        deleted_value="deleted",
    ),
    "users": HttpPollObject(
        name="users",
        path="/api/v2/incremental/users/cursor.json",
        records_field="users",
        deleted_field="active",
        deleted_value=False,
    ),
    "organizations": HttpPollObject(
        name="organizations",
        path="/api/v2/incremental/organizations.json",
        records_field="organizations",
        cursor_style="time",
    ),
}
"""Zendesk's incremental exports, usable in `objects` by name."""


class HttpPollSource(_Section):
    """A REST API's incremental exports (cursor- or time-based), e.g. Zendesk tickets and users."""

    kind: Literal["http_poll"]
    base_url: str = Field(pattern=r"^https?://", description="API root, e.g. https://acme.zendesk.com.")
    auth: Annotated[BearerAuth | ApiTokenAuth, Field(discriminator="kind")] = Field(
        description="Credentials: {kind: bearer, token} or {kind: api_token, user, token}."
    )
    system: str = Field("support", description="Name of the source system in topics and xrefs.")
    objects: list[HttpPollObject] = Field(
        min_length=1,
        description="Objects to export: a Zendesk name (tickets, users, organizations) or a full definition.",
    )
    start_time: AwareDatetime = Field(
        datetime(1970, 1, 1, tzinfo=UTC),
        description="Where the first run starts (ISO 8601 with zone, or epoch seconds); later runs resume.",
    )
    per_page: int = Field(1000, ge=1, le=1000, description="Records asked for per page.")
    poll_interval_s: float = Field(30.0, gt=0, description="Seconds to wait after end_of_stream before polling again.")
    timeout_s: float = Field(60.0, gt=0, description="Seconds one HTTP request may take.")
    metrics_port: int = Field(9101, description="Port of this process's /metrics endpoint on 127.0.0.1.")

    @field_validator("objects", mode="before")
    @classmethod
    def _named_objects(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        named = [item for item in value if isinstance(item, str) and item not in ZENDESK_OBJECTS]
        if named:
            raise ValueError(f"unknown object {named[0]!r}: use one of {', '.join(ZENDESK_OBJECTS)} or define it")
        return [ZENDESK_OBJECTS[item] if isinstance(item, str) else item for item in value]


class SalesforceSource(_Section):
    """Salesforce objects polled through SOQL on SystemModstamp (REST API, OAuth 2.0 client credentials)."""

    kind: Literal["salesforce"]
    login_url: str = Field(
        description="Base URL of the org's token endpoint (its My Domain URL, e.g. https://acme.my.salesforce.com); "
        "API calls then go to the instance_url the token comes with."
    )
    client_id: str = Field(
        min_length=1, description="Consumer key of the connected app using the client credentials flow."
    )
    client_secret: SecretStr = Field(description="Consumer secret of the connected app; write it as ${ENV_VAR}.")
    api_version: str = Field("60.0", pattern=r"^\d+\.0$", description="REST API version, e.g. '60.0'.")
    objects: list[str] = Field(min_length=1, description="sObject API names to capture, e.g. [Account, Contact].")
    system: str = Field("crm", description="Name of the source system in topics and xrefs.")
    poll_interval_s: float = Field(5.0, gt=0, description="Seconds to wait between polls once caught up.")
    batch_size: int = Field(
        2000, ge=200, le=2000, description="Records per query batch asked through Sforce-Query-Options (200..2000)."
    )
    usage_slowdown_fraction: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Above this fraction of the org's daily API limit (Sforce-Limit-Info) polls are 10 times rarer.",
    )
    metrics_port: int = Field(9101, description="Port of this process's /metrics endpoint on 127.0.0.1.")


WebhookProvider = Literal["stripe", "shopify", "zendesk", "salesforce_om"]


class WebhookEndpoint(_Section):
    """One receiving path: which provider posts to it, how requests are authenticated and mapped to changes.

    Paths into a JSON payload are dotted ('data.object.id'). A value source is 'field:<dotted path>' in the
    payload or 'header:<name>' of the request.
    """

    path: str = Field(pattern=r"^/[A-Za-z0-9/_.-]*$", description="URL path the provider posts to, e.g. /stripe.")
    provider: WebhookProvider = Field(
        description="Payload format and authentication: stripe, shopify, zendesk (HMAC-SHA256 signatures) or "
        "salesforce_om (Outbound Messaging SOAP, checked against org_id)."
    )
    secret: SecretStr | None = Field(
        None, description="Signing secret of stripe, shopify and zendesk endpoints; write it as ${ENV_VAR}."
    )
    previous_secret: SecretStr | None = Field(
        None,
        description="While a signing secret is rolled: the old one, also accepted until the provider signs with "
        "the new one only (Shopify takes up to an hour). Remove it afterwards.",
    )
    org_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$",
        description="salesforce_om: the Salesforce organization id (15 or 18 characters) messages must come from.",
    )
    object: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_]+$",
        description="Object name of every change (topic src.<system>.<object>); salesforce_om defaults to the "
        "sObject type of each notification.",
    )
    object_field: str | None = Field(
        None, description="JSON providers: dotted path of the payload field naming the object, when `object` is unset."
    )
    record_field: str | None = Field(
        None, description="JSON providers: dotted path of the record inside the payload (default: the whole payload)."
    )
    key_field: str | None = Field(
        None,
        min_length=1,
        description="Dotted path of the record's key in the payload (default id); salesforce_om: the sObject field "
        "(default Id).",
    )
    id_from: str | None = Field(
        None,
        pattern=r"^(field|header):.+$",
        description="Where the provider's event/delivery id is (the change's position, so a redelivery keeps its "
        "event_id): 'field:<path>' or 'header:<name>'. Defaults: stripe field:id, shopify header:X-Shopify-Webhook-Id, "
        "zendesk field:id, salesforce_om the Notification Id.",
    )
    type_from: str | None = Field(
        None,
        pattern=r"^(field|header):.+$",
        description="Where the event type is ('field:type', 'header:X-Shopify-Topic'); used with delete_types.",
    )
    delete_types: list[str] = Field(
        default_factory=list,
        description="Event types published as deletes (op 'd', the record as 'before'), e.g. customer.deleted.",
    )
    tolerance_s: float | None = Field(
        None,
        gt=0,
        description="Largest age (seconds) of a signed time (stripe t=, zendesk timestamp, shopify "
        "X-Shopify-Triggered-At); older or future requests get 401 as replays. Default 300; shopify 14700, "
        "because Shopify retries a delivery for 4 hours and a retry may carry the first X-Shopify-Triggered-At.",
    )
    max_body_bytes: int = Field(1_048_576, ge=1, description="Larger request bodies get 413 without being read.")

    @model_validator(mode="after")
    def _complete(self) -> WebhookEndpoint:
        if self.provider == "salesforce_om":
            if self.org_id is None:
                raise ValueError(f"endpoint {self.path}: salesforce_om needs org_id (Setup > Company Information)")
        elif self.secret is None:
            raise ValueError(f"endpoint {self.path}: {self.provider} needs the signing secret in `secret`")
        elif self.object is None and self.object_field is None:
            raise ValueError(f"endpoint {self.path}: set `object` or `object_field` to name the changed object")
        return self


class WebhookSource(_Section):
    """An HTTP receiver of provider webhooks (push); answers 2xx only after Kafka acknowledged the changes."""

    kind: Literal["webhook"]
    system: str = Field(description="Name of the source system in topics and xrefs, e.g. 'shop'.")
    host: str = Field("127.0.0.1", description="Address to listen on; put a TLS-terminating proxy in front.")
    port: int = Field(8080, ge=1, le=65535, description="Port to listen on.")
    endpoints: list[WebhookEndpoint] = Field(min_length=1, description="The receiving paths, one per provider hook.")
    ack_timeout_s: float = Field(
        4.0,
        gt=0,
        description="Seconds to wait for Kafka's acknowledgement before answering 503 (the sender retries); keep it "
        "under the providers' own response timeouts (Shopify waits 5 s).",
    )
    retry_after_s: int = Field(30, ge=1, description="Retry-After seconds sent with a 503.")
    drain_timeout_s: float = Field(30.0, gt=0, description="On SIGTERM, seconds given to requests in flight to end.")
    metrics_port: int = Field(9101, description="Port of this process's /metrics endpoint on 127.0.0.1.")

    @model_validator(mode="after")
    def _distinct_paths(self) -> WebhookSource:
        paths = [endpoint.path for endpoint in self.endpoints]
        if len(set(paths)) != len(paths):
            raise ValueError(f"endpoint paths must differ; got {paths}")
        return self


Source = Annotated[
    PostgresCdcSource | SqlPollSource | SalesforceSource | HttpPollSource | WebhookSource, Field(discriminator="kind")
]


class _SinkSection(_Section):
    """What every sink's section has: its consumer group, batch size and metrics port."""

    group_id: str | None = Field(None, description="Kafka consumer group; defaults to 'seamline-sink-<name>'.")
    batch_size: int = Field(500, ge=1, description="Records read and written per batch.")
    metrics_port: int = Field(9103, description="Port of this process's /metrics endpoint on 127.0.0.1.")

    @property
    @abstractmethod
    def entities_written(self) -> list[Entity]:
        """The canonical entities this sink reads and writes."""


class PostgresSink(_SinkSection):
    """A PostgreSQL target: batched upserts guarded by version."""

    kind: Literal["postgres"]
    dsn: SecretStr = Field(description="libpq connection string of the target database.")
    tables: dict[Entity, str] = Field(description="canonical entity -> target table name.")
    write_path: Literal["copy", "executemany"] = Field(
        "copy",
        description="How a batch is written: 'copy' (COPY into a staging table, then one merge) or 'executemany' "
        "(one upsert per record, pipelined); bench/postgres_sink_bench.py compares them.",
    )
    audit: bool = Field(
        False,
        description="Also record every applied change as (entity, id, version, op) in seamline_audit, in the same "
        "transaction: proof that each version took effect once, in order (tests/chaos reads it).",
    )

    @property
    def entities_written(self) -> list[Entity]:
        """The entities that have a table."""
        return list(self.tables)


class TargetFields(_Section):
    """How one canonical entity is written into a target: its reverse mapping."""

    fields: dict[str, FieldRule] = Field(
        min_length=1,
        description="target field -> rule reading the canonical record: a field name (id, version, name, "
        "'xrefs.erp', ...), {constant}, {lookup}, {concat}, {split}, {cast}, {convert}, or {each: lines, fields} "
        "for order lines.",
    )


TargetT = TypeVar("TargetT", bound=TargetFields)


class MappedSink(_SinkSection, Generic[TargetT]):
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


class BasicAuth(_Section):
    """HTTP basic auth, e.g. an SAP communication user."""

    kind: Literal["basic"]
    user: str = Field(min_length=1, description="User name.")
    password: SecretStr = Field(description="Password; write it as ${ENV_VAR}.")


class OAuthClientCredentials(_Section):
    """OAuth 2.0 client credentials: a token from `token_url`, cached, fetched again when refused (401)."""

    kind: Literal["oauth2"]
    token_url: str = Field(pattern=r"^https?://", description="The token endpoint, e.g. https://<tenant>/oauth/token.")
    client_id: str = Field(min_length=1, description="Client id, sent with the secret as basic auth.")
    client_secret: SecretStr = Field(description="Client secret; write it as ${ENV_VAR}.")
    scope: str | None = Field(None, description="Scope to ask for, if the server needs one.")


class HttpResource(TargetFields):
    """Where and how one canonical entity is written in a REST API."""

    collection: str = Field(description="Path of the collection under base_url, e.g. /API_PRODUCT_SRV/A_Product.")
    item: str = Field(
        pattern=r"\{key\}", description="Path of one record with {key}, e.g. /API_PRODUCT_SRV/A_Product('{key}')."
    )
    key_field: str = Field(description="The target field (one of `fields`) that holds the record's key.")
    version_field: str = Field(
        description="The target field (one of `fields`, mapped from `version`) that holds the canonical version: "
        "the version guard reads it so that an older version never overwrites a newer one."
    )
    create: Literal["POST", "PUT"] = Field("POST", description="POST to the collection, or PUT to the item path.")
    update: Literal["PATCH", "PUT"] = Field("PATCH", description="Method that changes an existing record.")

    @model_validator(mode="after")
    def _fields_mapped(self) -> HttpResource:
        for name in (self.key_field, self.version_field):
            if name not in self.fields:
                raise ValueError(f"{name!r} is not one of `fields`: map it (key_field and version_field are targets)")
        if self.fields[self.version_field] != "version":
            raise ValueError(f"map {self.version_field!r} from version: the version guard compares it")
        return self


class HttpSink(MappedSink[HttpResource]):
    """A REST API target (e.g. an ERP's OData services): version-guarded writes with an Idempotency-Key each."""

    kind: Literal["http"]
    base_url: str = Field(
        pattern=r"^https?://", description="API root, e.g. https://erp.example.com/sap/opu/odata/sap."
    )
    auth: Annotated[BearerAuth | BasicAuth | OAuthClientCredentials, Field(discriminator="kind")] = Field(
        description="Credentials: {kind: basic, user, password}, {kind: bearer, token} or "
        "{kind: oauth2, token_url, client_id, client_secret}."
    )
    format: Literal["odata_v2", "json"] = Field(
        "json",
        description="'odata_v2': reads answer {d: {...}}, decimals are strings, times /Date(ms)/, errors "
        "{error: {code, message: {value}}}; 'json': plain JSON records, ISO 8601 times.",
    )
    csrf_path: str | None = Field(
        None,
        description="Path to GET with `x-csrf-token: Fetch` for the token writes must carry (SAP); none: no CSRF.",
    )
    concurrency: int = Field(4, ge=1, le=64, description="Records written at the same time (one key at a time).")
    timeout_s: float = Field(10.0, gt=0, description="Seconds one HTTP call may take.")
    circuit_failures: int = Field(5, ge=1, description="Transient failures in a row that open the circuit.")
    circuit_cool_down_s: float = Field(30.0, gt=0, description="Seconds the circuit stays open before a trial call.")


class SalesforceObjectTarget(TargetFields):
    """The sObject one canonical entity is upserted into, by external id."""

    sobject: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", description="sObject API name, e.g. Account.")
    external_id_field: str = Field(
        "Seamline_Id__c", description="External id field of the sObject holding the golden id; the sink sets it."
    )
    version_field: str = Field(
        "Seamline_Version__c",
        description="Number field holding the canonical version; the sink sets it and compares it before writing.",
    )

    @model_validator(mode="after")
    def _scalar_fields(self) -> SalesforceObjectTarget:
        for name in (self.external_id_field, self.version_field):
            if name in self.fields:
                raise ValueError(f"remove {name!r} from `fields`: the sink sets it from the record's id and version")
        nested = [name for name, rule in self.fields.items() if isinstance(rule, EachRule)]
        if nested:
            raise ValueError(f"{nested[0]!r}: an sObject field holds one value; map lines to their own sObject")
        return self


class SalesforceSink(MappedSink[SalesforceObjectTarget]):
    """A Salesforce org: upserts by external id through sObject Collections, guarded by a version field."""

    kind: Literal["salesforce"]
    login_url: str = Field(
        pattern=r"^https?://", description="The org's My Domain URL, e.g. https://acme.my.salesforce.com."
    )
    client_id: str = Field(min_length=1, description="Consumer key of the connected app (client credentials flow).")
    client_secret: SecretStr = Field(description="Consumer secret of the connected app; write it as ${ENV_VAR}.")
    api_version: str = Field("60.0", pattern=r"^\d+\.0$", description="REST API version, e.g. '60.0'.")
    system: str | None = Field(
        "crm",
        description="The source system this org is (as named in xrefs and origin), for loop prevention: a version "
        "whose origin is this system, and whose values the org already holds, is not written back.",
    )
    timeout_s: float = Field(30.0, gt=0, description="Seconds one API call may take.")
    usage_slowdown_fraction: float = Field(
        0.8,
        gt=0,
        le=1,
        description="Above this fraction of the org's daily API limit (Sforce-Limit-Info) every call waits "
        "usage_pause_s first.",
    )
    usage_pause_s: float = Field(2.0, ge=0, description="Seconds each API call waits once usage is above the share.")


Sink = Annotated[PostgresSink | HttpSink | SalesforceSink, Field(discriminator="kind")]


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
    """The whole seamline configuration file."""

    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    sources: dict[str, Source] = Field(default_factory=dict)
    processor: ProcessorConfig | None = None
    sinks: dict[str, Sink] = Field(default_factory=dict)
    pii: PiiConfig | None = None

    def cipher(self) -> FieldCipher:
        """The cipher of the personal fields the `pii` section marks (none without one)."""
        return FieldCipher.disabled() if self.pii is None else self.pii.cipher()


def load_config(path: Path) -> Config:
    """Read, interpolate and validate a configuration file; raise ConfigError saying what to fix."""
    data, text = read_config_file(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys kafka, sources, processor, sinks")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, text, path)) from exc
