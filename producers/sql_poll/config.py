"""The section of a sql_poll source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from seamline.connectors.sections import SourceSection

SQL_POLL_SCHEMES = ("postgresql+psycopg", "mysql+pymysql", "mariadb+pymysql")


class SqlPollSource(SourceSection):
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

    def topic_objects(self) -> list[str]:
        """The polled table."""
        return [self.table.rpartition(".")[2]]

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
