"""The Mailchimp Marketing API calls of the mailchimp sink: member reads, single calls and batch operations polled
until finished; whose problem a refusal is, as sinks/target_errors.py says for Mailchimp."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from seamline.connectors.sink import without_values
from seamline.outbound import http_client, path_segment
from seamline.retry import ServerUnavailable, retry_after
from sinks.mailchimp.config import MailchimpSink
from sinks.status_polling import poll_until_done
from sinks.target_errors import TRANSIENT_STATUSES, Operation, http_failing, whose_status

Record = dict[str, Any]
PAGE = 1000
"""Members per page of a members read, Mailchimp's maximum."""
_FIXES = {
    401: "fix the sink's api_key, and base_url's data center (the key's suffix, e.g. us21)",
    403: "use an API key of a user who may manage the audience",
    404: "fix the sink's list_id (Audience > Settings > Unique id) or base_url",
}


@dataclass(frozen=True)
class Call:
    """One call about one member: method, path, JSON body, and the operation it is for whose_status."""

    method: Literal["PUT", "POST", "DELETE"]
    path: str
    body: Record | None
    operation: Operation


@dataclass(frozen=True)
class Answer:
    """A call's status and, when refused, Mailchimp's problem title and detail (values masked)."""

    status: int
    body: Any = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class MailchimpApi:
    """REST client of the audience a mailchimp sink writes to."""

    def __init__(self, config: MailchimpSink) -> None:
        self.config = config
        self.list_path = f"/3.0/lists/{path_segment(config.list_id)}"
        self._http = http_client(
            config.timeout_s,
            base_url=config.base_url.rstrip("/"),
            auth=("seamline", config.api_key.get_secret_value()),
            headers={"Accept": "application/json"},
            limits=httpx.Limits(max_connections=config.max_connections),
        )

    def close(self) -> None:
        self._http.close()

    def merge_tags(self) -> set[str]:
        """The tags of the audience's merge fields."""
        answer = self._whole("GET", f"{self.list_path}/merge-fields", params={"count": PAGE})
        return {str(field["tag"]) for field in answer["merge_fields"]}

    def members(self, since: str | None) -> Iterator[Record]:
        """Every member (archived ones too) changed at or after `since` (ISO 8601; None: all), page by page."""
        offset = 0
        while True:
            params: Record = {"count": PAGE, "offset": offset} | ({"since_last_changed": since} if since else {})
            page = self._whole("GET", f"{self.list_path}/members", params=params)["members"]
            yield from page
            if len(page) < PAGE:
                return
            offset += PAGE

    def call(self, call: Call) -> Answer:
        """One call about one member; raises when the refusal is not the member's."""
        response = self._send(call.method, call.path, json=call.body)
        answer = _answer(response.status_code, response.content, call)
        return self._judged(answer, call)

    def batch(self, calls: list[Call]) -> list[Answer]:
        """The calls as one batch operation, polled until finished; their answers in order."""
        operations = [
            {"method": c.method, "path": c.path, "operation_id": str(n)}
            | ({"body": json.dumps(c.body)} if c.body else {})
            for n, c in enumerate(calls)
        ]
        batch = self._whole("POST", "/3.0/batches", json={"operations": operations})
        finished = self._finished(str(batch["id"]))
        by_id = {str(result.get("operation_id")): result for result in self._results(finished["response_body_url"])}
        if len(by_id) < len(calls):  # the guard makes a repeat harmless
            raise ServerUnavailable("a Mailchimp batch finished without a result for every operation")
        answers = []
        for n, call in enumerate(calls):
            result = by_id[str(n)]
            answers.append(self._judged(_answer(int(result["status_code"]), result.get("response"), call), call))
        return answers

    def _finished(self, key: str) -> Record:
        """The batch's status once finished, polled with a growing pause; one not finished within
        batch_timeout_s raises a transient error (the sink's batch is written again)."""

        def finished() -> Record | None:
            status = self._whole("GET", f"/3.0/batches/{path_segment(key)}", label="/3.0/batches/{id}")
            return dict(status) if status["status"] == "finished" else None

        timeout = self.config.batch_timeout_s
        return poll_until_done(
            finished, timeout, f"a Mailchimp batch did not finish within {timeout:g}s (batch_timeout_s)"
        )

    def _results(self, url: str) -> list[Record]:
        """A finished batch's results: Mailchimp's tar.gz of JSON arrays (or one JSON array), fetched without
        the API key, as the link is a pre-signed URL of another host."""
        with http_client(self.config.timeout_s) as plain:
            response = plain.get(url)
        if response.status_code in TRANSIENT_STATUSES:
            raise ServerUnavailable(f"GET a batch's results: HTTP {response.status_code}", retry_after(response))
        if not response.is_success:
            raise http_failing(response.status_code, "GET a batch's results", fix="check Mailchimp's status page")
        if response.content[:2] != b"\x1f\x8b":
            return list(response.json())
        results: list[Record] = []
        with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
            for member in archive.getmembers():
                extracted = archive.extractfile(member) if member.isfile() and member.name.endswith(".json") else None
                if extracted is not None:
                    results += json.load(extracted)
        return results

    def _judged(self, answer: Answer, call: Call) -> Answer:
        if answer.status in TRANSIENT_STATUSES:
            raise ServerUnavailable(f"{call.method} {_label(call.path)}: HTTP {answer.status}")
        if not answer.ok and whose_status(answer.status, call.operation) == "target":
            fix = _FIXES.get(answer.status)
            raise http_failing(answer.status, f"{call.method} {_label(call.path)}", answer.problem, fix)
        return answer

    def _whole(self, method: str, path: str, label: str | None = None, **kwargs: Any) -> Any:
        """The JSON answer of a call about no one member: any refusal is the target's."""
        response = self._send(method, path, **kwargs)
        if not response.is_success:
            problem = _problem(response.content, kwargs.get("json"))
            raise http_failing(
                response.status_code, f"{method} {label or _label(path)}", problem, _FIXES.get(response.status_code)
            )
        return response.json()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._http.request(method, path, **kwargs)
        if response.status_code in TRANSIENT_STATUSES:
            raise ServerUnavailable(f"{method} {_label(path)}: HTTP {response.status_code}", retry_after(response))
        return response


def _answer(status: int, content: Any, call: Call) -> Answer:
    if 200 <= status < 300:
        try:
            return Answer(status, json.loads(content) if content else None)
        except ValueError:
            return Answer(status)
    return Answer(status, problem=_problem(content, call.body))


def _problem(content: Any, sent: object) -> str:
    """Mailchimp's problem title and detail, every value of `sent` masked."""
    try:
        body = json.loads(content) if content else {}
    except ValueError:
        body = {}
    if not isinstance(body, dict) or not (body.get("title") or body.get("detail")):
        text = content.decode(errors="replace") if isinstance(content, bytes) else str(content or "")
        return without_values(" ".join(text.split())[:200], sent)
    return without_values(f"{body.get('title', '')}: {body.get('detail', '')}"[:300], sent)


def _label(path: str) -> str:
    """A path with its list id and subscriber hash replaced by their names: no member is named in a message."""
    parts = path.split("/")
    named = {3: "{list_id}", 5: "{subscriber_hash}"}
    return "/".join(named.get(n, part) if len(parts) > 4 else part for n, part in enumerate(parts))
