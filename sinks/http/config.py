"""The section of an http sink: a REST API and how each entity is written into it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from seamline.connectors.http_auth import BasicAuth, BearerAuth, OAuthClientCredentials
from seamline.connectors.sections import MappedSink, TargetFields


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
