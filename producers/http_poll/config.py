"""The section of an http_poll source, and Zendesk's incremental exports by name."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, field_validator

from seamline.connectors.http_auth import ApiTokenAuth, BearerAuth
from seamline.connectors.sections import SourceSection
from seamline.sections import Section


class HttpPollObject(Section):
    """One incrementally exported object of a REST API, e.g. Zendesk's tickets."""

    name: str = Field(pattern=r"^[A-Za-z0-9_]+$", description="Object name in topics: src.<system>.<name>.")
    path: str = Field(description="Export path under base_url, e.g. /api/v2/incremental/tickets/cursor.json.")
    records_field: str = Field(description="Response field holding the page's records, e.g. 'tickets'.")
    key_field: str = Field("id", description="Record field that identifies a record.")
    updated_at_field: str = Field("updated_at", description="Record field with its last change (ISO 8601 or epoch).")
    cursor_style: Literal["cursor", "time", "since"] = Field(
        "cursor",
        description="'cursor': start_time, then after_cursor until end_of_stream; "
        "'time': start_time, then end_time as the next start_time until end_of_stream; "
        "'since': since_last_changed, count and offset until total_items (Mailchimp's members), then the newest "
        "change read as the next since_last_changed.",
    )
    deleted_field: str | None = Field(None, description="Record field that marks a deleted record (op 'd').")
    deleted_value: bool | int | str | None = Field(
        None, description="Value of deleted_field on a deleted record, e.g. 'deleted' (tickets) or false (users)."
    )
    sync_mark_field: str | None = Field(
        None,
        description="Dotted path of the field where a seamline sink keeps its sync mark (seamline/sync_marks.py), "
        "e.g. user_fields.seamline_sync: a record that still holds what the sink wrote is its echo, left out "
        "instead of published; deletes are always published.",
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
        sync_mark_field="user_fields.seamline_sync",
    ),
    "organizations": HttpPollObject(
        name="organizations",
        path="/api/v2/incremental/organizations.json",
        records_field="organizations",
        cursor_style="time",
        sync_mark_field="organization_fields.seamline_sync",
    ),
}
"""Zendesk's incremental exports, usable in `objects` by name."""


class HttpPollSource(SourceSection):
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

    def topic_objects(self) -> list[str]:
        """The exported objects."""
        return [obj.name for obj in self.objects]

    @field_validator("objects", mode="before")
    @classmethod
    def _named_objects(cls, value: object) -> object:
        if not isinstance(value, list):
            return value
        named = [item for item in value if isinstance(item, str) and item not in ZENDESK_OBJECTS]
        if named:
            raise ValueError(f"unknown object {named[0]!r}: use one of {', '.join(ZENDESK_OBJECTS)} or define it")
        return [ZENDESK_OBJECTS[item] if isinstance(item, str) else item for item in value]
