"""Credentials of HTTP APIs, shared by the sources and sinks that call them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from seamline.sections import Section


class BearerAuth(Section):
    """An OAuth access token sent as `Authorization: Bearer <token>`."""

    kind: Literal["bearer"]
    token: SecretStr = Field(description="The access token; write it as ${ENV_VAR}.")


class ApiTokenAuth(Section):
    """An API token sent as HTTP basic auth '<user>/token:<token>' (Zendesk's API token scheme)."""

    kind: Literal["api_token"]
    user: str = Field(description="The token owner's e-mail address.")
    token: SecretStr = Field(description="The API token; write it as ${ENV_VAR}.")


class BasicAuth(Section):
    """HTTP basic auth, e.g. an SAP communication user."""

    kind: Literal["basic"]
    user: str = Field(min_length=1, description="User name.")
    password: SecretStr = Field(description="Password; write it as ${ENV_VAR}.")


class OAuthClientCredentials(Section):
    """OAuth 2.0 client credentials: a token from `token_url`, cached, fetched again when refused (401)."""

    kind: Literal["oauth2"]
    token_url: str = Field(pattern=r"^https?://", description="The token endpoint, e.g. https://<tenant>/oauth/token.")
    client_id: str = Field(min_length=1, description="Client id, sent with the secret as basic auth.")
    client_secret: SecretStr = Field(description="Client secret; write it as ${ENV_VAR}.")
    scope: str | None = Field(None, description="Scope to ask for, if the server needs one.")
