"""Credentials of HTTP APIs, shared by the sources and sinks that call them."""

from __future__ import annotations

import base64
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


def authorization(auth: ApiTokenAuth | BearerAuth) -> dict[str, str]:
    """The Authorization header of an API token (basic '<user>/token:<token>') or of a bearer token."""
    if isinstance(auth, ApiTokenAuth):
        basic = f"{auth.user}/token:{auth.token.get_secret_value()}".encode()
        return {"Authorization": f"Basic {base64.b64encode(basic).decode()}"}
    return {"Authorization": f"Bearer {auth.token.get_secret_value()}"}
