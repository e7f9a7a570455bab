"""The section of a salesforce source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from seamline.connectors.sections import SourceSection
from seamline.salesforce_api import SalesforceConnection


class SalesforceSource(SourceSection, SalesforceConnection):
    """Salesforce objects polled through SOQL on SystemModstamp (REST API, OAuth 2.0 client credentials)."""

    kind: Literal["salesforce"]
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

    def topic_objects(self) -> list[str]:
        """The captured sObjects."""
        return self.objects
