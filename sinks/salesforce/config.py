"""The section of a salesforce sink: the org and the sObject each entity is upserted into."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from seamline.connectors.sections import MappedSink, TargetFields
from seamline.field_rules import EachRule
from seamline.salesforce_api import SalesforceConnection


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


class SalesforceSink(MappedSink[SalesforceObjectTarget], SalesforceConnection):
    """A Salesforce org: upserts by external id through sObject Collections, guarded by a version field."""

    kind: Literal["salesforce"]
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
