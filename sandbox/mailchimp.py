"""A Mailchimp Marketing API 3.0 simulation, in memory: one account's audiences (lists) and their members, batch
operations, the connection limit, and webhooks to a configured URL.

What it follows from Mailchimp's public documentation:
- A member is addressed by its subscriber hash, the MD5 of its lower-cased e-mail address:
  `GET|PUT|DELETE /3.0/lists/{list_id}/members/{hash}`. PUT adds or updates: a new (or archived) member needs
  `email_address` and `status_if_new`; `merge_fields` are merged into the held ones, unknown merge tags refused
  (400). DELETE archives (204); an archived member is shown with status `archived` and comes back with a PUT.
  `POST .../members/{hash}/tags` with `{"tags": [{"name", "status": "active" | "inactive"}]}` (204).
- `GET /3.0/lists/{list_id}/members?since_last_changed=<ISO 8601>&count=<=1000&offset=`: `{members, total_items}`,
  ordered by last change; `GET /3.0/lists/{list_id}/merge-fields`: `{merge_fields: [{tag, name, type}]}`.
- `POST /3.0/batches` with `{"operations": [{"method", "path", "body" (a JSON string), "operation_id"}]}` answers
  `{"id", "status": "pending"}`; `GET /3.0/batches/{id}` shows `pending`, then `finished` with
  `finished_operations`, `errored_operations` and `response_body_url`. Simplification: Mailchimp serves the
  results as a tar.gz of JSON files; this one serves the same array, `[{"status_code", "operation_id",
  "response"}]`, as plain JSON at `response_body_url`.
- Errors are `application/problem+json`: `{"type", "title", "status", "detail", "instance"}`. Auth is HTTP basic
  with any user and the API key as password (else 401 "API Key Invalid"). At most 10 simultaneous connections:
  an 11th request gets 429 with Retry-After; `faults` (sandbox/injected_faults.py) forces 429s and 503s.
- Webhooks (sandbox/mailchimp_webhooks.py): form-encoded POSTs (`type`, `fired_at`, `data[email]`,
  `data[merges][FNAME]`, ...) to `webhook_url`
  (its secret in the path, as Mailchimp users configure it). Mailchimp sends changes made through the API only
  when the webhook's "via the API" source is ticked: here `webhook_api_changes` (default true). A subscriber's
  own unsubscribe (`unsubscribe()`) is always sent.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hashlib
import json
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.injected_faults import InjectedFaults
from sandbox.mailchimp_webhooks import HookSender
from sandbox.serving import BackgroundServer

Record = dict[str, Any]
MAX_CONNECTIONS = 10
MAX_COUNT = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_MEMBER = re.compile(r"/3\.0/lists/(?P<list>\w+)/members/(?P<hash>[0-9a-f]{32})")


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased e-mail address."""
    return hashlib.md5(email.lower().encode()).hexdigest()  # noqa: S324 - Mailchimp's id, not a secret


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class Refused(Exception):
    """A problem+json answer: its status, title, detail and, for a 429, its Retry-After seconds."""

    def __init__(self, status: int, title: str, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.retry_after = status, title, detail, retry_after


@dataclass
class Batch:
    """One batch operation: its operations, run once `due`, and their results."""

    id: str
    operations: list[Record]
    due: float
    results: list[Record] | None = None


@dataclass
class Mailchimp:
    """One account with one audience; thread-safe (tests change members while the server answers)."""

    api_key: str = "sim-key-us1"
    list_id: str = "a1b2c3d4e5"
    merge_fields: dict[str, str] = field(default_factory=lambda: {"FNAME": "text", "LNAME": "text"})
    """Merge tag -> type of the audience's merge fields (add_merge_field)."""
    members: dict[str, Record] = field(default_factory=dict)
    """The audience's members by subscriber hash, archived ones included."""
    latency_s: float = 0.0
    """Seconds added to every answer."""
    batch_s: float = 0.0
    """Seconds a batch operation waits before it runs."""
    webhook_url: str | None = None
    """Where webhooks are posted (the secret in its path); None: no webhook configured."""
    webhook_api_changes: bool = True
    """Whether changes made through the API are sent to the webhook (Mailchimp's "via the API" source)."""
    requests: list[tuple[float, str, str, int]] = field(default_factory=list)
    """(time.monotonic(), method, path with query, status) of every request answered."""
    batches: dict[str, Batch] = field(default_factory=dict)
    most_concurrent: int = 0
    """The most requests served at once."""
    _in_flight: int = 0
    faults: InjectedFaults = field(default_factory=InjectedFaults)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _sender: HookSender | None = None
    _base_url: str = ""

    # ---- data API for tests and demos
    def add_merge_field(self, tag: str, kind: str = "text") -> None:
        """Define a merge field of the audience, as its owner does in Audience fields and *|MERGE|* tags."""
        with self._lock:
            self.merge_fields[tag] = kind

    def live(self) -> dict[str, Record]:
        """The members not archived, by e-mail address."""
        with self._lock:
            return {m["email_address"]: dict(m) for m in self.members.values() if m["status"] != "archived"}

    def unsubscribe(self, email: str) -> Record:
        """The subscriber unsubscribes through a campaign's link: always sent to the webhook."""
        with self._lock:
            member = self.members[subscriber_hash(email)]
            member.update(status="unsubscribed", last_changed=_now())
            self._hook("unsubscribe", member, {"action": "unsub", "reason": "manual"})
            return dict(member)

    def archive(self, email: str) -> Record:
        """The audience's owner archives a member in Mailchimp's pages (no webhook: Mailchimp sends none)."""
        with self._lock:
            member = self.members[subscriber_hash(email)]
            member.update(status="archived", last_changed=_now())
            return dict(member)

    # ---- members
    def _member(self, list_id: str, key: str) -> Record:
        self._list(list_id)
        member = self.members.get(key)
        if member is None:
            raise Refused(404, "Resource Not Found", "The requested resource could not be found.")
        return member

    def _list(self, list_id: str) -> None:
        if list_id != self.list_id:
            raise Refused(404, "Resource Not Found", "The requested resource could not be found.")

    def _put(self, list_id: str, key: str, body: Any, via_api: bool = True) -> Record:
        self._list(list_id)
        if not isinstance(body, dict):
            raise Refused(400, "Invalid Resource", "The resource submitted could not be validated.")
        held = self.members.get(key)
        email = body.get("email_address") or (held or {}).get("email_address")
        if not isinstance(email, str) or not _EMAIL.fullmatch(email):
            raise Refused(400, "Invalid Resource", f"{email} looks fake or invalid, please enter a real email address.")
        if subscriber_hash(email) != key:
            raise Refused(400, "Invalid Resource", "The email address does not match the subscriber hash.")
        merges: Record = body.get("merge_fields") or {}
        unknown = [tag for tag in merges if tag not in self.merge_fields]
        if unknown:
            raise Refused(
                400, "Invalid Resource", f"Your merge fields were invalid: {unknown[0]} is not a merge field."
            )
        new = held is None or held["status"] == "archived"
        status = body.get("status") or (body.get("status_if_new") if new else None)
        if new and status not in ("subscribed", "unsubscribed", "cleaned", "pending", "transactional"):
            raise Refused(400, "Invalid Resource", "The resource submitted could not be validated: status_if_new.")
        member: Record = held if held is not None else {"id": key, "list_id": list_id, "tags": [], "merge_fields": {}}
        before = json.dumps(member, sort_keys=True)
        member["unique_email_id"] = member.get("unique_email_id") or uuid.uuid4().hex[:10]
        member["email_address"] = email
        member["merge_fields"] = {tag: "" for tag in self.merge_fields} | member["merge_fields"] | merges
        member["status"] = status or member["status"]
        self.members[key] = member
        if json.dumps(member, sort_keys=True) != before:
            member["last_changed"] = _now()
            if via_api and self.webhook_api_changes:
                self._hook("subscribe" if new else "profile", member)
        return dict(member)

    def _archive(self, list_id: str, key: str) -> None:
        member = self._member(list_id, key)
        if member["status"] == "archived":
            raise Refused(404, "Resource Not Found", "The requested resource could not be found.")
        member.update(status="archived", last_changed=_now())

    def _tags(self, list_id: str, key: str, body: Any) -> None:
        member = self._member(list_id, key)
        tags = body.get("tags") if isinstance(body, dict) else None
        if not isinstance(tags, list) or not all(isinstance(t, dict) and t.get("name") for t in tags):
            raise Refused(400, "Invalid Resource", "tags must be a list of {name, status}.")
        held = {t["name"] for t in member["tags"]}
        held |= {t["name"] for t in tags if t.get("status", "active") == "active"}
        held -= {t["name"] for t in tags if t.get("status") == "inactive"}
        member["tags"] = [{"id": zlib.crc32(name.encode()) % 100_000, "name": name} for name in sorted(held)]

    def _list_members(self, list_id: str, query: Any) -> Record:
        self._list(list_id)
        since = query.get("since_last_changed")
        count = min(MAX_COUNT, int(query.get("count", 10)))
        offset = int(query.get("offset", 0))
        found = sorted(self.members.values(), key=lambda m: (m.get("last_changed", ""), m["id"]))
        if since:
            moment = datetime.fromisoformat(since.replace("Z", "+00:00"))
            found = [m for m in found if datetime.fromisoformat(m["last_changed"]) >= moment]
        return {"members": [dict(m) for m in found[offset : offset + count]], "total_items": len(found)}

    # ---- batches
    def _submit(self, body: Any) -> Record:
        operations = body.get("operations") if isinstance(body, dict) else None
        if not isinstance(operations, list):
            raise Refused(400, "Invalid Resource", "operations must be a list.")
        batch = Batch(uuid.uuid4().hex[:10], operations, time.monotonic() + self.batch_s)
        self.batches[batch.id] = batch
        return self._batch_status(batch)

    def _run_due_batches(self) -> None:
        for batch in self.batches.values():
            if batch.results is None and batch.due <= time.monotonic():
                batch.results = [self._operation(op) for op in batch.operations]

    def _operation(self, operation: Record) -> Record:
        method, path = operation.get("method", ""), operation.get("path", "")
        try:
            body = json.loads(operation["body"]) if operation.get("body") else None
            answer = self._route(method, path, body, {})
            status, response = (204, "") if answer is None else (200, json.dumps(answer))
        except Refused as refused:
            status, response = refused.status, json.dumps(self._problem(refused))
        except ValueError:
            status, response = 400, json.dumps({"title": "Invalid Resource", "status": 400, "detail": "bad JSON"})
        return {"status_code": status, "operation_id": operation.get("operation_id"), "response": response}

    def _batch_status(self, batch: Batch) -> Record:
        done = batch.results is not None
        errored = sum(1 for r in batch.results or [] if r["status_code"] >= 400)
        return {
            "id": batch.id,
            "status": "finished" if done else "pending",
            "total_operations": len(batch.operations),
            "finished_operations": len(batch.operations) if done else 0,
            "errored_operations": errored,
            "response_body_url": f"{self._base_url}/sim/batch-results/{batch.id}" if done else "",
        }

    def _batch(self, key: str) -> Batch:
        if key not in self.batches:
            raise Refused(404, "Resource Not Found", "The requested resource could not be found.")
        return self.batches[key]

    # ---- webhooks
    def _hook(self, kind: str, member: Record, extra: dict[str, str] | None = None) -> None:
        if self.webhook_url is not None:
            self._sender = self._sender or HookSender(self.webhook_url)
            self._sender.send(kind, member, extra)

    def stop_webhooks(self) -> None:
        """Let the webhook sender end after what it was given."""
        if self._sender is not None:
            self._sender.stop()
            self._sender = None

    # ---- the API
    def _route(self, method: str, path: str, body: Any, query: Any) -> Any:
        """The JSON answer of an API call (None: 204); Refused if it is refused."""
        member = _MEMBER.fullmatch(path)
        tags = re.fullmatch(_MEMBER.pattern + "/tags", path)
        listing = re.fullmatch(r"/3\.0/lists/(?P<list>\w+)/(?P<what>members|merge-fields)", path)
        batch = re.fullmatch(r"/3\.0/batches/(?P<id>\w+)", path)
        routes: dict[tuple[str, bool], Callable[[], Any]] = {
            ("GET", bool(member)): lambda: dict(self._member(member["list"], member["hash"])),  # type: ignore[index]
            ("PUT", bool(member)): lambda: self._put(member["list"], member["hash"], body),  # type: ignore[index]
            ("DELETE", bool(member)): lambda: self._archive(member["list"], member["hash"]),  # type: ignore[index]
            ("POST", bool(tags)): lambda: self._tags(tags["list"], tags["hash"], body),  # type: ignore[index]
            ("GET", bool(listing)): lambda: self._listing(listing, query),  # type: ignore[arg-type]
            ("POST", path == "/3.0/batches"): lambda: self._submit(body),
            ("GET", bool(batch)): lambda: self._batch_status(self._batch(batch["id"])),  # type: ignore[index]
        }
        handler = routes.get((method, True))
        if handler is None:
            raise Refused(404, "Resource Not Found", "The requested resource could not be found.")
        return handler()

    def _listing(self, match: re.Match[str], query: Any) -> Record:
        if match["what"] == "members":
            return self._list_members(match["list"], query)
        self._list(match["list"])
        fields = [{"tag": tag, "name": tag.title(), "type": kind} for tag, kind in self.merge_fields.items()]
        return {"merge_fields": fields, "total_items": len(fields)}

    def _check(self, request: web.Request) -> None:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        try:
            user_password = base64.b64decode(encoded, validate=True).decode() if scheme == "Basic" else ""
        except (binascii.Error, UnicodeDecodeError):
            user_password = ""
        if user_password.partition(":")[2] != self.api_key:
            raise Refused(
                401,
                "API Key Invalid",
                "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
            )

    @staticmethod
    def _problem(refused: Refused) -> Record:
        return {
            "type": "https://mailchimp.com/developer/marketing/docs/errors/",
            "title": refused.title,
            "status": refused.status,
            "detail": refused.detail,
            "instance": str(uuid.uuid4()),
        }

    async def _serve(self, request: web.Request) -> web.Response:
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = ValueError
        with self._lock:
            self._in_flight += 1
            self.most_concurrent = max(self.most_concurrent, self._in_flight)
            crowded = self._in_flight > MAX_CONNECTIONS
        try:
            if self.latency_s:
                await asyncio.sleep(self.latency_s)
            with self._lock:
                response = self._answer(request, body, crowded)
                self.requests.append((time.monotonic(), request.method, request.path_qs, response.status))
            return response
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, request: web.Request, body: Any, crowded: bool) -> web.Response:
        try:
            results = re.fullmatch(r"/sim/batch-results/(?P<id>\w+)", request.path)
            if results is not None:  # a pre-signed link in Mailchimp: no API key
                return web.json_response(self._batch(results["id"]).results)
            self._check(request)
            if crowded:
                raise Refused(
                    429, "Too Many Requests", "You have exceeded the limit of 10 simultaneous connections.", 1
                )
            if self.faults.throttled_now():
                raise Refused(
                    429, "Too Many Requests", "You have exceeded the limit of requests.", self.faults.retry_after
                )
            if self.faults.failing_now():
                raise Refused(503, "Service Unavailable", "Please try again later.")
            if body is ValueError:
                raise Refused(400, "JSON Parse Exception", "The request body could not be parsed as JSON.")
            self._base_url = str(request.url.origin())
            self._run_due_batches()
            answer = self._route(request.method, request.path, body, request.query)
            return web.Response(status=204) if answer is None else web.json_response(answer)
        except Refused as refused:
            response = web.json_response(
                self._problem(refused), status=refused.status, content_type="application/problem+json"
            )
            if refused.retry_after is not None:
                response.headers["Retry-After"] = str(refused.retry_after)
            return response

    def app(self) -> web.Application:
        """The aiohttp application serving the API."""
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", self._serve)
        return application


@contextmanager
def running(mailchimp: Mailchimp) -> Iterator[str]:
    """Serve `mailchimp` on 127.0.0.1 (a free port) in a background thread; yields its base URL."""
    server = BackgroundServer("mailchimp-sim")
    try:
        yield server.start(mailchimp.app())
    finally:
        server.stop()
        mailchimp.stop_webhooks()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a simulated Mailchimp Marketing API (one audience).")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--api-key", default="sim-key-us1")
    parser.add_argument("--list-id", default="a1b2c3d4e5")
    parser.add_argument("--merge-fields", default="SEAMLINE,SEAMLINEID", help="text merge fields besides FNAME, LNAME")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="milliseconds added to every answer")
    parser.add_argument("--batch-ms", type=float, default=0.0, help="milliseconds before a batch operation runs")
    parser.add_argument("--webhook-url", help="where webhooks are posted (the secret in its path)")
    args = parser.parse_args()
    mailchimp = Mailchimp(
        api_key=args.api_key,
        list_id=args.list_id,
        latency_s=args.latency_ms / 1000,
        batch_s=args.batch_ms / 1000,
        webhook_url=args.webhook_url,
    )
    for tag in filter(None, args.merge_fields.split(",")):
        mailchimp.add_merge_field(tag)
    print(f"Mailchimp simulation on http://127.0.0.1:{args.port} (audience {mailchimp.list_id})", flush=True)
    web.run_app(mailchimp.app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
