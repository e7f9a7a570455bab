"""The Salesforce REST client of the salesforce source and sink: how to reach an org, its client-credentials
token, describe, query pages.

Transient failures (5xx, transport errors) are retried with seamline.retry; a 401 gets one new token
and one more try; other refusals raise SalesforceError carrying Salesforce's errorCode and message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import Field, SecretStr

from seamline.connectors.source import SourceSetupError
from seamline.outbound import http_client, on_origin
from seamline.retry import ServerUnavailable, retrying
from seamline.sections import Section

log = logging.getLogger(__name__)

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceConnection(Section):
    """How to reach a Salesforce org, for a salesforce source and a salesforce sink alike."""

    login_url: str = Field(
        pattern=r"^https?://",
        description="The org's My Domain URL, e.g. https://acme.my.salesforce.com, where tokens are asked for; "
        "API calls then go to the instance_url the token comes with.",
    )
    client_id: str = Field(min_length=1, description="Consumer key of the connected app (client credentials flow).")
    client_secret: SecretStr = Field(description="Consumer secret of the connected app; write it as ${ENV_VAR}.")
    api_version: str = Field("60.0", pattern=r"^\d+\.0$", description="REST API version, e.g. '60.0'.")


class SalesforceError(Exception):
    """Salesforce refused a call; `code` is its errorCode (or OAuth error)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"Salesforce answered {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Page:
    """One batch of query results and the URL of the next batch (None when done)."""

    records: list[dict[str, Any]]
    next_url: str | None


class SalesforceApi:
    """REST client of one org, authenticated through the OAuth 2.0 client credentials flow."""

    def __init__(
        self, source: str, config: SalesforceConnection, timeout_s: float = 30.0, batch_size: int = 2000
    ) -> None:
        self.source = source
        self.config = config
        self.batch_size = batch_size
        self._http = http_client(timeout_s)
        self._token = ""
        self._instance = ""
        self.usage: tuple[int, int] | None = None  # (API calls used, daily limit) from Sforce-Limit-Info

    @property
    def _data(self) -> str:
        return f"/services/data/v{self.config.api_version}"

    def login(self) -> None:
        """Get an access token; SourceSetupError (one line saying what to fix) if the client is refused."""
        url = self.config.login_url.rstrip("/") + "/services/oauth2/token"
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret.get_secret_value(),
        }
        for attempt in retrying():
            with attempt:
                response = self._http.post(url, data=form, headers={"Accept": "application/json"})
                if response.status_code >= 500:
                    raise ServerUnavailable(f"token endpoint answered {response.status_code}")
        if response.status_code != 200:
            body = _json(response)
            error = body.get("error", response.status_code) if isinstance(body, dict) else response.status_code
            detail = body.get("error_description", "") if isinstance(body, dict) else response.text[:200]
            raise SourceSetupError(
                f"source {self.source}: Salesforce at {self.config.login_url} refused the client credentials "
                f"({error}: {detail}): check client_id and client_secret, and that the connected app enables "
                "the client credentials flow with a run-as user"
            )
        body = response.json()
        self._token, self._instance = body["access_token"], body["instance_url"].rstrip("/")
        log.info("source %s: signed in to Salesforce at %s", self.source, self._instance)

    def describe(self, obj: str) -> dict[str, Any]:
        """The describe result of one sObject; SourceSetupError if the org has no such object."""
        try:
            body = self._get(f"{self._data}/sobjects/{obj}/describe")
        except SalesforceError as exc:
            if exc.code != "NOT_FOUND":
                raise
            raise SourceSetupError(
                f"source {self.source}: Salesforce has no object {obj!r} visible to this client: fix 'objects' "
                "(API names such as Account or Invoice__c) or give the run-as user access to it"
            ) from exc
        assert isinstance(body, dict)
        return body

    def query(self, soql: str, include_deleted: bool = False) -> Page:
        """The first batch of a SOQL query (queryAll when `include_deleted`)."""
        return _page(self._get(f"{self._data}/{'queryAll' if include_deleted else 'query'}", {"q": soql}))

    def more(self, next_url: str) -> Page:
        """The next batch of a query, from its nextRecordsUrl."""
        return _page(self._get(next_url))

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        for fresh_token in (False, True):
            response = self._send(path, params)
            if response.status_code != 401 or fresh_token:
                break
            log.info("source %s: access token expired; getting a new one", self.source)
            self.login()
        if response.status_code == 200:
            return response.json()
        body = _json(response)
        first = body[0] if isinstance(body, list) and body and isinstance(body[0], dict) else {}
        raise SalesforceError(
            response.status_code, first.get("errorCode", "UNKNOWN"), first.get("message", response.text[:200])
        )

    def _send(self, path: str, params: dict[str, str] | None) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self._token}",
            "Accept": "application/json",
            "Sforce-Query-Options": f"batchSize={self.batch_size}",
        }
        for attempt in retrying():
            with attempt:
                response = self._http.get(on_origin(self._instance, path), params=params, headers=headers)
                if response.status_code >= 500:
                    raise ServerUnavailable(f"{path.split('?')[0]} answered {response.status_code}")
        usage = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if usage:
            self.usage = (int(usage.group(1)), int(usage.group(2)))
        return response

    def close(self) -> None:
        self._http.close()


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _page(body: Any) -> Page:
    return Page(records=list(body["records"]), next_url=body.get("nextRecordsUrl"))
