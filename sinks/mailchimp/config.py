"""The section of a mailchimp sink: the account, the audience, and how a canonical customer becomes a member."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from seamline.connectors.sections import MappedSink, TargetFields
from seamline.sections import raise_problems

MEMBER_PROPERTIES = frozenset({"email_address", "tags", "language", "vip", "email_type"})
"""Writable member properties the sink may map (besides merge_fields.<TAG>)."""
MERGE_TAG = r"^[A-Z0-9_]{1,10}$"


class MailchimpCustomers(TargetFields):
    """How canonical customers are written as audience members: `fields` maps member properties
    (email_address, tags, language, vip, email_type, or merge_fields.<TAG>) to rules reading the customer."""

    status_if_new: Literal["subscribed", "pending", "transactional", "unsubscribed"] = Field(
        "subscribed",
        description="Status of a member the sink creates; an existing member's status (e.g. unsubscribed) is kept.",
    )

    @model_validator(mode="after")
    def _known_properties(self) -> MailchimpCustomers:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for name in self.fields:
            head, dot, tag = name.partition(".")
            if dot and head == "merge_fields" and tag.isupper() and len(tag) <= 10:
                continue
            if name not in MEMBER_PROPERTIES:
                known = ", ".join(sorted(MEMBER_PROPERTIES))
                problems.append((("fields", name), f"not a member property: use one of {known} or merge_fields.<TAG>"))
        if "email_address" not in self.fields:
            problems.append((("fields",), "map email_address: Mailchimp identifies a member by its e-mail address"))
        raise_problems(problems)
        return self


class MailchimpSink(MappedSink[MailchimpCustomers]):
    """A Mailchimp audience: customers upserted as members (PUT by subscriber hash), archived when deleted."""

    kind: Literal["mailchimp"]
    base_url: str = Field(
        pattern=r"^https?://",
        description="The account's API root with its data center, e.g. https://us21.api.mailchimp.com.",
    )
    api_key: SecretStr = Field(description="An API key of the account (sent as basic auth); write it as ${ENV_VAR}.")
    list_id: str = Field(pattern=r"^[A-Za-z0-9]+$", description="The audience's id (Audience > Settings).")
    system: str | None = Field(
        "marketing",
        description="The source system this audience is (as named in xrefs and origin), for loop prevention: a "
        "version whose origin is this system, and whose values the member already holds, is not written back.",
    )
    sync_field: str = Field(
        "SEAMLINE",
        pattern=MERGE_TAG,
        description="Merge tag of a text merge field (create it once in Audience fields) where the sink keeps the "
        "version it wrote and a digest of the values (seamline/sync_marks.py).",
    )
    id_field: str = Field(
        "SEAMLINEID",
        pattern=MERGE_TAG,
        description="Merge tag of a text merge field holding the golden id, by which the sink finds a customer's "
        "member after its e-mail address changed.",
    )
    batch_threshold: int = Field(
        200,
        ge=1,
        description="A write of more calls than this (a replay, a large batch) goes as one batch operation "
        "(POST /3.0/batches, polled until finished) instead of single calls.",
    )
    max_connections: int = Field(10, ge=1, le=10, description="Simultaneous connections; Mailchimp allows 10.")
    timeout_s: float = Field(30.0, gt=0, description="Seconds one HTTP call may take.")
    batch_timeout_s: float = Field(
        600.0, gt=0, description="Seconds a batch operation may take to finish before the batch is tried again."
    )

    @model_validator(mode="after")
    def _customers_only(self) -> MailchimpSink:
        others = [entity for entity in self.entities if entity != "customer"]
        if others:
            raise ValueError(f"entities: a Mailchimp audience holds people: map customer only, not {others[0]}")
        for tag in (self.sync_field, self.id_field):
            if f"merge_fields.{tag}" in self.entities["customer"].fields:
                raise ValueError(f"remove merge_fields.{tag} from the fields: the sink sets it")
        return self
