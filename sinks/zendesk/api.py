"""The Zendesk Support API calls of the zendesk sink: bulk upserts as background jobs polled to completion, reads by
external id, deletes, merges and custom field definitions; whose problem a refusal is, as sinks/target_errors.py
says for Zendesk."""

from __future__ import annotations

from typing import Any, Literal

import httpx

from seamline.connectors.http_auth import authorization
from seamline.connectors.sink import TargetFailing, without_values
from seamline.outbound import http_client, on_origin, path_segment
from seamline.retry import ServerUnavailable, retry_after
from sinks.status_polling import poll_until_done
from sinks.target_errors import TRANSIENT_STATUSES, http_failing, whose_status
from sinks.zendesk.config import ZendeskSink

Resource = Literal["users", "organizations"]
Record = dict[str, Any]
BULK = 100
"""Items per create_or_update_many call and ids per show_many call, Zendesk's maximum."""
_FIXES = {
    401: "fix the sink's auth: the API token and its user's e-mail, or the OAuth token",
    403: "give the token's user a role that may manage end users and organizations",
    404: "fix the sink's base_url: the account's URL, e.g. https://acme.zendesk.com",
}


class ZendeskApi:
    """REST client of the Zendesk account a zendesk sink writes to."""

    def __init__(self, config: ZendeskSink) -> None:
        self.config = config
        self._http = http_client(
            config.timeout_s,
            base_url=config.base_url.rstrip("/"),
            headers={"Accept": "application/json", **authorization(config.auth)},
        )

    def close(self) -> None:
        self._http.close()

    def field_keys(self, kind: Literal["user", "organization"]) -> set[str]:
        """The keys of the account's custom fields of users or organizations."""
        keys: set[str] = set()
        page: str | None = f"/api/v2/{kind}_fields"
        while page is not None:
            answer = self._whole("GET", page, f"/api/v2/{kind}_fields")
            keys |= {str(item["key"]) for item in answer[f"{kind}_fields"]}
            following = answer.get("next_page")
            page = on_origin(self.config.base_url, following) if following else None
        return keys

    def held(self, resource: Resource, external_ids: list[str]) -> dict[str, Record]:
        """The live records of these external ids, by external id lower-cased (Zendesk compares them so)."""
        held: dict[str, Record] = {}
        for start in range(0, len(external_ids), BULK):
            wanted = ",".join(external_ids[start : start + BULK])
            answer = self._whole("GET", f"/api/v2/{resource}/show_many", params={"external_ids": wanted})
            held |= {str(record["external_id"]).lower(): record for record in answer[resource]}
        return held

    def upsert(self, resource: Resource, items: list[Record]) -> str:
        """Queue a create_or_update_many job of up to 100 items; its id."""
        answer = self._whole("POST", f"/api/v2/{resource}/create_or_update_many", json={resource: items})
        return str(answer["job_status"]["id"])

    def results(self, job: str) -> list[Record]:
        """The results of a job, one per item, polled with a growing pause until it completes; a job that does not
        within job_timeout_s raises a transient error (the batch is written again), one that fails TargetFailing."""

        def completed() -> list[Record] | None:
            status = self._whole("GET", f"/api/v2/job_statuses/{path_segment(job)}", "/api/v2/job_statuses/{id}")
            state = status["job_status"]["status"]
            if state in ("failed", "killed"):
                raise TargetFailing(
                    f"Zendesk ended a bulk job {state}: {status['job_status'].get('message') or 'no message'}",
                    "the batch is written again; if jobs keep failing, check Zendesk's status page",
                )
            return list(status["job_status"].get("results") or []) if state == "completed" else None

        timeout = self.config.job_timeout_s
        return poll_until_done(
            completed, timeout, f"a Zendesk job did not complete within {timeout:g}s (job_timeout_s)"
        )

    def delete(self, resource: Resource, key: int) -> tuple[int, str]:
        """Delete one record by Zendesk id: (status, Zendesk's error text if refused)."""
        return self._one("DELETE", f"/api/v2/{resource}/{key}", f"/api/v2/{resource}/{{id}}", None)

    def merge(self, key: int, into: int) -> tuple[int, str]:
        """Merge end user `key` into end user `into`: (status, Zendesk's error text if refused)."""
        body = {"user": {"id": into}}
        return self._one("PUT", f"/api/v2/users/{key}/merge", "/api/v2/users/{id}/merge", body)

    def _one(self, method: str, path: str, label: str, body: Record | None) -> tuple[int, str]:
        """A call about one record: its status and error text; raises when the error is not the record's."""
        response = self._send(method, path, label, json=body)
        if whose_status(response.status_code, "delete" if method == "DELETE" else "update") == "target":
            raise self._failing(response, method, label)
        return response.status_code, "" if response.is_success else _error_text(response, body)

    def _whole(self, method: str, path: str, label: str | None = None, **kwargs: Any) -> Any:
        """The JSON answer of a call about no one record (bulk, reads, definitions): any refusal is the target's."""
        response = self._send(method, path, label or path, **kwargs)
        if not response.is_success:
            raise self._failing(response, method, label or path, kwargs.get("json"))
        return response.json()

    def _send(self, method: str, path: str, label: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code in TRANSIENT_STATUSES:
            raise ServerUnavailable(f"{method} {label}: HTTP {response.status_code}", retry_after(response))
        return response

    @staticmethod
    def _failing(response: httpx.Response, method: str, label: str, sent: object = None) -> TargetFailing:
        status = response.status_code
        return http_failing(status, f"{method} {label}", _error_text(response, sent), _FIXES.get(status))


def _error_text(response: httpx.Response, sent: object) -> str:
    """Zendesk's error and its description, every value of `sent` masked."""
    try:
        body = response.json()
    except ValueError:
        return without_values(" ".join(response.text.split())[:200], sent)
    error = body.get("error") if isinstance(body, dict) else body
    if isinstance(error, dict):
        text = f"{error.get('title', '')}: {error.get('message', '')}"
    else:
        description = body.get("description") if isinstance(body, dict) else None
        text = ": ".join(str(part) for part in (error, description) if part)
    return without_values(text[:300], sent)
