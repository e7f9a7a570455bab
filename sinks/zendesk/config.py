"""The section of a zendesk sink: the account, and how a canonical customer becomes a user or an organization."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from seamline.connectors.http_auth import ApiTokenAuth, BearerAuth
from seamline.connectors.sections import MappedSink, TargetFields
from seamline.field_rules import FieldRule
from seamline.mapping_check import read_problems, record_fields
from seamline.sections import Section, raise_problems

USER_PROPERTIES = frozenset(
    {"name", "email", "phone", "alias", "details", "notes", "locale", "time_zone", "tags", "signature", "verified"}
)
"""Writable properties of a Zendesk user the sink may map (besides user_fields.<key>)."""
ORGANIZATION_PROPERTIES = frozenset(
    {"name", "details", "notes", "domain_names", "tags", "group_id", "shared_tickets", "shared_comments"}
)
"""Writable properties of a Zendesk organization the sink may map (besides organization_fields.<key>)."""


class ZendeskOrganizations(Section):
    """Which customers are companies, written as Zendesk organizations, and how."""

    when: str = Field(
        description="A field of the canonical customer: a customer with a value in it is a company and becomes an "
        "organization (e.g. tax_id); the others are persons and become users."
    )
    fields: dict[str, FieldRule] = Field(
        min_length=1,
        description="organization property (name, details, notes, domain_names, tags, ..., or "
        "organization_fields.<key>) -> rule reading the canonical customer.",
    )

    @model_validator(mode="after")
    def _known_properties(self) -> ZendeskOrganizations:
        raise_problems(list(_property_problems(self.fields, ORGANIZATION_PROPERTIES, "organization")))
        if self.when not in record_fields("customer"):
            raise ValueError(f"when: the canonical customer has no field {self.when!r} (schemas/customer.avsc)")
        return self


class ZendeskCustomers(TargetFields):
    """How canonical customers are written: persons as users (`fields`), companies as organizations."""

    organizations: ZendeskOrganizations | None = Field(
        None, description="Companies as organizations; none: every customer is written as a user."
    )

    @model_validator(mode="after")
    def _known_properties(self) -> ZendeskCustomers:
        raise_problems(list(_property_problems(self.fields, USER_PROPERTIES, "user")))
        return self


class ZendeskSink(MappedSink[ZendeskCustomers]):
    """A Zendesk Support account: customers upserted as users and organizations by external id, in bulk jobs."""

    kind: Literal["zendesk"]
    base_url: str = Field(pattern=r"^https?://", description="The account's URL, e.g. https://acme.zendesk.com.")
    auth: Annotated[BearerAuth | ApiTokenAuth, Field(discriminator="kind")] = Field(
        description="Credentials: {kind: api_token, user, token} or {kind: bearer, token} (OAuth)."
    )
    system: str | None = Field(
        "support",
        description="The source system this account is (as named in xrefs and origin), for loop prevention: a "
        "version whose origin is this system, and whose values Zendesk already holds, is not written back.",
    )
    sync_field: str = Field(
        "seamline_sync",
        pattern=r"^[a-z0-9_]+$",
        description="Key of a text custom field of users and of organizations (create them once in Admin Center) "
        "where the sink keeps the version it wrote and a digest of the values (seamline/sync_marks.py).",
    )
    timeout_s: float = Field(30.0, gt=0, description="Seconds one HTTP call may take.")
    job_timeout_s: float = Field(
        300.0, gt=0, description="Seconds a bulk job may take to complete before the batch is tried again."
    )

    @model_validator(mode="after")
    def _customers_only(self) -> ZendeskSink:
        others = [entity for entity in self.entities if entity != "customer"]
        if others:
            raise ValueError(f"entities: Zendesk holds people and companies: map customer only, not {others[0]}")
        customers = self.entities["customer"]
        organizations = customers.organizations
        for kind, fields in (("user", customers.fields), ("organization", organizations and organizations.fields)):
            if fields and f"{kind}_fields.{self.sync_field}" in fields:
                raise ValueError(f"remove {kind}_fields.{self.sync_field} from the fields: the sink sets its sync mark")
        if organizations is not None:
            raise_problems(
                [
                    (("entities", "customer", "organizations", "fields", *where), message)
                    for where, message in read_problems("customer", organizations.fields, self.lookups)
                ]
            )
        return self


def _property_problems(
    fields: dict[str, FieldRule], properties: frozenset[str], kind: str
) -> list[tuple[tuple[str | int, ...], str]]:
    """A problem per mapped name that is not a writable property of a `kind`, nor one of its custom fields."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name in fields:
        custom, dot, key = name.partition(".")
        if dot and custom == f"{kind}_fields" and key:
            continue
        if name not in properties:
            known = ", ".join(sorted(properties))
            message = f"not a {kind} property the sink writes: use one of {known} or {kind}_fields.<key>"
            problems.append((("fields", name), message))
    if "name" not in fields:
        problems.append((("fields",), f"map name: Zendesk requires a {kind}'s name"))
    return problems
