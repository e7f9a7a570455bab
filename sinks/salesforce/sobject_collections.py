"""The Salesforce REST calls of the salesforce sink: the source's client plus sObject Collections upsert and delete.

Signing in, describe, SOQL reads and the one token refresh on 401 are the salesforce source's
(seamline/salesforce_api.py). Writes are sent once per call: a 5xx, 429 or transport error raises a
transient error and the sink runner retries the whole batch, which the version guard makes harmless; any other
refusal of a whole call raises SalesforceError, which the sink turns into TargetFailing.
Above `usage_slowdown_fraction` of the org's daily API limit (from Sforce-Limit-Info) every call first
waits `usage_pause_s`, so the sink spends the rest of the day's allowance slowly instead of exhausting it.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from seamline.connectors.source import SourceSetupError
from seamline.outbound import on_origin
from seamline.retry import ServerUnavailable, retry_after
from seamline.salesforce_api import SalesforceApi, SalesforceError
from sinks.salesforce.config import SalesforceSink

log = logging.getLogger(__name__)

LIMIT_WAIT_S = 300.0
Result = dict[str, Any]
"""One record's result: {id, success, errors: [{statusCode, message, fields}]} (+ created for upserts)."""


class SalesforceCollections(SalesforceApi):
    """REST client of the org a salesforce sink writes to."""

    def __init__(self, sink: str, config: SalesforceSink) -> None:
        super().__init__(sink, config, config.timeout_s)
        self.sink = config
        self._slowed = False

    def sign_in(self) -> None:
        """Get an access token; PermissionError (one line saying what to fix) if the client is refused."""
        try:
            self.login()
        except SourceSetupError as exc:
            raise PermissionError(
                f"sink {self.source}: Salesforce at {self.sink.login_url} refused the client credentials: check "
                "client_id and client_secret, and that the connected app enables the client credentials flow"
            ) from exc

    def upsert(self, sobject: str, external_id: str, rows: list[dict[str, Any]]) -> list[Result]:
        """Upsert up to 200 rows of one sObject by external id (allOrNone false): one result per row, in order."""
        body = {"allOrNone": False, "records": [{"attributes": {"type": sobject}, **row} for row in rows]}
        return self._call("PATCH", f"{self._data}/composite/sobjects/{sobject}/{external_id}", None, body)

    def delete(self, ids: list[str]) -> list[Result]:
        """Delete up to 200 records by Id (allOrNone false): one result per Id, in order."""
        return self._call("DELETE", f"{self._data}/composite/sobjects", {"ids": ",".join(ids), "allOrNone": "false"})

    def _send(self, path: str, params: dict[str, str] | None) -> httpx.Response:
        self._pace()
        return super()._send(path, params)

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            return super()._get(path, params)
        except SalesforceError as exc:
            if exc.code == "REQUEST_LIMIT_EXCEEDED":
                raise ServerUnavailable(f"GET {path}: Salesforce daily API limit reached", LIMIT_WAIT_S) from exc
            raise

    def _call(
        self, method: str, path: str, params: dict[str, str] | None, body: dict[str, Any] | None = None
    ) -> list[Result]:
        content = None if body is None else json.dumps(body, default=_json_value)
        for fresh_token in (False, True):
            self._pace()
            headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
            if content is not None:
                headers["Content-Type"] = "application/json"
            url = on_origin(self._instance, path)
            response = self._http.request(method, url, params=params, content=content, headers=headers)
            self._note_usage(response)
            if response.status_code != 401 or fresh_token:
                break
            log.info("sink %s: access token expired; getting a new one", self.source)
            self.login()
        if response.status_code >= 500 or response.status_code == 429:
            raise ServerUnavailable(f"{method} {path} answered {response.status_code}", retry_after(response))
        if response.status_code != 200:
            answer = response.json() if response.content else []
            first = answer[0] if isinstance(answer, list) and answer and isinstance(answer[0], dict) else {}
            code = first.get("errorCode", "UNKNOWN")
            if code == "REQUEST_LIMIT_EXCEEDED":  # the daily allowance is spent: wait for it to recover
                raise ServerUnavailable(f"{method} {path}: Salesforce daily API limit reached", LIMIT_WAIT_S)
            raise SalesforceError(response.status_code, code, first.get("message", ""))
        results = response.json()
        assert isinstance(results, list)
        return results

    def _note_usage(self, response: httpx.Response) -> None:
        header = response.headers.get("Sforce-Limit-Info", "")
        used, _, limit = header.removeprefix("api-usage=").partition("/")
        if used.isdigit() and limit.isdigit():
            self.usage = (int(used), int(limit))

    def _pace(self) -> None:
        """Wait usage_pause_s before a call while the org's API usage is above the configured share."""
        if self.usage is None or self.usage[0] < self.sink.usage_slowdown_fraction * self.usage[1]:
            self._slowed = False
            return
        if not self._slowed:
            log.warning(
                "sink %s: Salesforce API usage %d/%d is above %.0f%% of the daily limit; each call now waits %.1fs",
                self.source,
                *self.usage,
                self.sink.usage_slowdown_fraction * 100,
                self.sink.usage_pause_s,
            )
            self._slowed = True
        time.sleep(self.sink.usage_pause_s)


def _json_value(value: Any) -> Any:
    """JSON for the mapping's Python values: numbers as numbers, times as Salesforce's ISO 8601 forms."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        moment = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"no JSON form for {type(value).__name__}")
