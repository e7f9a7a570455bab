"""A Zendesk Support simulation, in memory: the Incremental Export API (tickets, users, organizations) here, and
the write API a sink uses (bulk upserts as jobs, reads by external id, deletes, merges) in sandbox/zendesk_writes.py.

What it follows from Zendesk's public documentation:
- `GET /api/v2/incremental/{tickets,users}/cursor.json?start_time=<epoch>` then `?cursor=<after_cursor>`:
  `{<records>, after_cursor, after_url, before_cursor, before_url, end_of_stream}`; `per_page` up to 1000.
- `GET /api/v2/incremental/organizations.json?start_time=<epoch>` (time-based):
  `{organizations, next_page, end_time, count, end_of_stream}`; items sharing the page's last second are
  all on that page, and the next page starts at `end_time`, so they are exported again (duplicates);
  a page made only of its start second ends one second later, so paging always moves on.
- Items changed within the last minute are not exported yet, and a start_time less than a minute in the
  past is refused with 422 `{"error": "InvalidValue", "description": "Too recent start_time. ..."}`.
  The minute is `delay_s`, shortened in tests.
- Deleted tickets stay in the export with `status: "deleted"`; deleted users with `active: false`;
  deleted organizations with `deleted_at` set.
- Authentication: basic `{email}/token:{api_token}` or `Bearer {oauth_token}`; otherwise
  401 `{"error": "Couldn't authenticate you"}`. Rate limit: `rate_limit` requests a minute (X-Rate-Limit and
  X-Rate-Limit-Remaining on every answer), then 429 with `Retry-After` (seconds); `faults` forces 429s and 503s.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from sandbox.injected_faults import InjectedFaults
from sandbox.zendesk_writes import RateWindow, Refused, ZendeskWrites

MAX_PER_PAGE = 1000
_UNAUTHORIZED = {"error": "Couldn't authenticate you"}
_RATE_LIMITED = {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"}
_NOT_FOUND = {"error": "InvalidEndpoint", "description": "Not found"}
_TOO_RECENT = {"error": "InvalidValue", "description": "Too recent start_time. Use a start_time older than 1 minute"}
_BAD_CURSOR = {"error": "InvalidPaginationParameter", "description": "cursor is invalid"}
_BAD_JSON = {"error": "InvalidValue", "description": "The request body is not valid JSON"}
_ID = r"/(?P<id>\d+)(?:\.json)?"

Record = dict[str, Any]
Handler = Callable[[web.Request, Any, re.Match[str]], Any]
"""A route's handler: (request, its JSON body or None, the path's match) -> the JSON answer, or None for 204."""
Route = tuple[str, re.Pattern[str], Handler]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def encode_cursor(stamp: int, key: int) -> str:
    """Zendesk's cursor shape: base64 of '<epoch>.0||<id>|'."""
    return base64.b64encode(f"{stamp}.0||{key}|".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, int]:
    stamp, _, rest = base64.b64decode(cursor, validate=True).decode().partition("||")
    return int(float(stamp)), int(rest.rstrip("|"))


@dataclass
class Zendesk:
    """The account's data and the API's behaviour; thread-safe (tests write while the server reads)."""

    email: str = "admin@example.com"
    api_token: str = "sim-api-token"
    oauth_token: str = "sim-oauth-token"
    delay_s: int = 60
    subdomain_url: str = "https://example.zendesk.com"
    tickets: dict[int, Record] = field(default_factory=dict)
    users: dict[int, Record] = field(default_factory=dict)
    organizations: dict[int, Record] = field(default_factory=dict)
    custom_fields: dict[str, dict[str, str]] = field(default_factory=lambda: {"user": {}, "organization": {}})
    """Custom field key -> type, of users and of organizations (add_field)."""
    job_s: float = 0.0
    """Seconds a background job waits before it runs."""
    rate_limit: int | None = None
    """Requests a minute; None: no limit."""
    latency_s: float = 0.0
    """Seconds added to every answer."""
    requests: list[tuple[float, str, int]] = field(default_factory=list)
    """(time.monotonic(), path with query, status) of every request served."""
    writes: list[tuple[str, str]] = field(default_factory=list)
    """(method, path) of every POST, PUT and DELETE served with a success."""
    faults: InjectedFaults = field(default_factory=InjectedFaults)
    _next_id: int = 1000
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _window: RateWindow | None = None
    write_api: ZendeskWrites = field(init=False)
    _table: list[Route] = field(init=False)

    def __post_init__(self) -> None:
        self.write_api = ZendeskWrites(self)
        self._window = None if self.rate_limit is None else RateWindow(self.rate_limit)
        self._table = self._routes()

    # ---- data API for tests and demos
    def _stamp(self, kind: dict[int, Record], key: int, fields: Record) -> Record:
        now = int(time.time())
        record = kind[key]
        record.update(fields)
        record["updated_at"] = _iso(now)
        if kind is self.tickets:
            record["generated_timestamp"] = now
        return dict(record)

    def _create(self, kind: dict[int, Record], resource: str, base: Record, fields: Record) -> Record:
        with self._lock:
            self._next_id += 1
            key, now = self._next_id, _iso(int(time.time()))
            kind[key] = {"id": key, "url": f"{self.subdomain_url}/api/v2/{resource}/{key}.json", **base}
            kind[key].update(created_at=now)
            return self._stamp(kind, key, fields)

    def _change(self, kind: dict[int, Record], key: int, fields: Record) -> Record:
        with self._lock:
            if key not in kind:
                raise KeyError(f"no record {key}")
            return self._stamp(kind, key, fields)

    def create_ticket(self, subject: str, **fields: Any) -> Record:
        base: Record = {
            "subject": subject,
            "raw_subject": subject,
            "description": "",
            "status": "new",
            "priority": None,
        }
        base |= {"type": None, "requester_id": None, "assignee_id": None, "organization_id": None, "tags": []}
        base |= {"custom_fields": [], "via": {"channel": "api"}, "external_id": None}
        return self._create(self.tickets, "tickets", base, fields)

    def update_ticket(self, key: int, **fields: Any) -> Record:
        return self._change(self.tickets, key, fields)

    def delete_ticket(self, key: int) -> Record:
        return self._change(self.tickets, key, {"status": "deleted"})

    def create_user(self, name: str, email: str, **fields: Any) -> Record:
        base: Record = {"name": name, "email": email, "role": "end-user", "active": True, "verified": False}
        base |= {"phone": None, "time_zone": "UTC", "organization_id": None, "tags": [], "user_fields": {}}
        return self._create(self.users, "users", base, fields)

    def update_user(self, key: int, **fields: Any) -> Record:
        return self._change(self.users, key, fields)

    def delete_user(self, key: int) -> Record:
        return self._change(self.users, key, {"active": False})

    def create_organization(self, name: str, **fields: Any) -> Record:
        base: Record = {
            "name": name,
            "domain_names": [],
            "details": None,
            "notes": None,
            "tags": [],
            "deleted_at": None,
        }
        return self._create(self.organizations, "organizations", base | {"organization_fields": {}}, fields)

    def update_organization(self, key: int, **fields: Any) -> Record:
        return self._change(self.organizations, key, fields)

    def delete_organization(self, key: int) -> Record:
        return self._change(self.organizations, key, {"deleted_at": _iso(int(time.time()))})

    def add_field(self, kind: str, key: str, field_type: str = "text") -> None:
        """Define a custom field of users or organizations (`kind` user or organization), as an admin does."""
        with self._lock:
            self.custom_fields[kind][key] = field_type

    def identities(self, key: int) -> list[str]:
        """A user's e-mail addresses: the primary one first, then the secondary identities."""
        with self._lock:
            primary = self.users[key].get("email")
            return [*([primary] if primary else []), *self.write_api.identities.get(key, [])]

    # ---- the API
    def _check(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme == "Bearer" and credentials == self.oauth_token:
            return
        if scheme == "Basic":
            try:
                if base64.b64decode(credentials).decode() == f"{self.email}/token:{self.api_token}":
                    return
            except (binascii.Error, UnicodeDecodeError):
                pass
        raise Refused(401, _UNAUTHORIZED)

    def _horizon(self) -> int:
        """Items stamped before this second are exported; the last minute (delay_s) is not yet."""
        return int(time.time()) - self.delay_s

    def _start_time(self, request: web.Request) -> int:
        raw = request.query.get("start_time")
        if raw is None or not raw.lstrip("-").isdigit():
            raise Refused(400, {"error": "InvalidValue", "description": "start_time is required (a Unix epoch time)"})
        start = int(raw)
        if start > time.time() - self.delay_s:
            raise Refused(422, _TOO_RECENT)
        return start

    @staticmethod
    def _per_page(request: web.Request) -> int:
        raw = request.query.get("per_page", str(MAX_PER_PAGE))
        return min(MAX_PER_PAGE, max(1, int(raw))) if raw.isdigit() else MAX_PER_PAGE

    @staticmethod
    def _mark(record: Record) -> int:
        if "generated_timestamp" in record:
            return int(record["generated_timestamp"])
        return int(datetime.fromisoformat(record["updated_at"]).timestamp())

    def _ordered(self, kind: dict[int, Record]) -> list[tuple[int, int, Record]]:
        horizon = self._horizon()
        marked = [(self._mark(r), key, dict(r)) for key, r in kind.items()]
        return sorted(m for m in marked if m[0] < horizon)

    def _cursor_export(self, request: web.Request, kind: dict[int, Record], name: str) -> Record:
        per_page = self._per_page(request)
        cursor = request.query.get("cursor")
        if cursor is not None:
            try:
                after: tuple[int, int] = decode_cursor(cursor)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise Refused(400, _BAD_CURSOR) from None
            items = [m for m in self._ordered(kind) if (m[0], m[1]) > after]
        else:
            start = self._start_time(request)
            items = [m for m in self._ordered(kind) if m[0] >= start]
        page = items[:per_page]
        url = f"{request.url.origin()}{request.path}?cursor="
        after_cursor = encode_cursor(page[-1][0], page[-1][1]) if page else cursor
        before_cursor = encode_cursor(page[0][0], page[0][1]) if page and cursor is not None else None
        return {
            name: [record for _, _, record in page],
            "after_cursor": after_cursor,
            "after_url": None if after_cursor is None else url + after_cursor,
            "before_cursor": before_cursor,
            "before_url": None if before_cursor is None else url + before_cursor,
            "end_of_stream": len(items) <= per_page,
        }

    def _time_export(self, request: web.Request, kind: dict[int, Record], name: str) -> Record:
        per_page, start = self._per_page(request), self._start_time(request)
        items = [m for m in self._ordered(kind) if m[0] >= start]
        page = items[:per_page]
        if page:  # a page never splits one second: the next page starts at end_time
            page = [m for m in items if m[0] <= page[-1][0]]
        end_time = page[-1][0] if page else start
        if page and end_time == start:  # the page holds all of the start second: move past it
            end_time += 1
        return {
            name: [record for _, _, record in page],
            "next_page": f"{request.url.origin()}{request.path}?per_page={per_page}&start_time={end_time}",
            "end_time": end_time,
            "count": len(page),
            "end_of_stream": len(page) == len(items),
        }

    def _routes(self) -> list[Route]:
        writes = self.write_api
        resource = r"/api/v2/(?P<resource>users|organizations)"
        return [
            ("GET", re.compile(r"/api/v2/incremental/tickets/cursor\.json"), self._export("tickets")),
            ("GET", re.compile(r"/api/v2/incremental/users/cursor\.json"), self._export("users")),
            ("GET", re.compile(r"/api/v2/incremental/organizations\.json"), self._export("organizations")),
            (
                "POST",
                re.compile(resource + r"/create_or_update_many(?:\.json)?"),
                lambda _r, body, m: writes.submit(m["resource"], body),
            ),
            (
                "GET",
                re.compile(r"/api/v2/job_statuses/(?P<id>\w+)(?:\.json)?"),
                lambda _r, _b, m: writes.job_status(m["id"]),
            ),
            (
                "GET",
                re.compile(resource + r"/show_many(?:\.json)?"),
                lambda r, _b, m: writes.show_many(m["resource"], r.query),
            ),
            ("DELETE", re.compile(resource + _ID), lambda _r, _b, m: writes.delete(m["resource"], int(m["id"]))),
            (
                "PUT",
                re.compile(r"/api/v2/users/(?P<id>\d+)/merge(?:\.json)?"),
                lambda _r, body, m: writes.merge(int(m["id"]), body),
            ),
            (
                "GET",
                re.compile(r"/api/v2/(?P<kind>user|organization)_fields(?:\.json)?"),
                lambda _r, _b, m: writes.field_list(m["kind"]),
            ),
        ]

    def _export(self, name: str) -> Handler:
        kind = getattr(self, name)
        export = self._time_export if name == "organizations" else self._cursor_export
        return lambda request, _body, _match: export(request, kind, name)

    async def _serve(self, request: web.Request) -> web.Response:
        body: Any = None
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                body = _BAD_JSON
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        with self._lock:
            headers: dict[str, str] = {}
            try:
                self._check(request)
                if self._window is not None:
                    left, wait = self._window.take(time.time())
                    headers = {"X-Rate-Limit": str(self._window.limit), "X-Rate-Limit-Remaining": str(left)}
                    if wait is not None:
                        raise Refused(429, _RATE_LIMITED, wait)
                if self.faults.failing_now():
                    raise Refused(503, {"error": "ServiceUnavailable", "description": "Please try again"})
                if self.faults.throttled_now():
                    raise Refused(429, _RATE_LIMITED, self.faults.retry_after)
                if body is _BAD_JSON:
                    raise Refused(400, _BAD_JSON)
                self.write_api.run_due_jobs()
                answer = self._answer(request, body)
                response = web.Response(status=204) if answer is None else web.json_response(answer)
                if request.method != "GET":
                    self.writes.append((request.method, request.path))
            except Refused as refused:
                response = web.json_response(refused.body, status=refused.status)
                if refused.retry_after is not None:
                    response.headers["Retry-After"] = str(refused.retry_after)
            response.headers.update(headers)
            self.requests.append((time.monotonic(), request.path_qs, response.status))
        return response

    def _answer(self, request: web.Request, body: Any) -> Any:
        """The JSON answer of the route the request matches (None: 204 No Content); Refused if none does."""
        for method, pattern, handler in self._table:
            match = pattern.fullmatch(request.path)
            if match is not None and request.method == method:
                return handler(request, body, match)
        raise Refused(404, _NOT_FOUND)

    def app(self) -> web.Application:
        """The aiohttp application serving the export and write endpoints."""
        application = web.Application()
        application.router.add_route("*", "/{tail:.*}", self._serve)
        return application


@contextmanager
def running(zendesk: Zendesk, port: int | None = None) -> Iterator[str]:
    """Serve `zendesk` on 127.0.0.1 (a free port by default) in a background thread; yields its base URL."""
    from seamline.stack.ports import free_port

    port = port or free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(zendesk.app(), access_log=None)
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, name="zendesk-sim", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the Zendesk simulation did not start within 10s")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a simulated Zendesk Support API (exports and writes).")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--tickets", type=int, default=50, help="sample tickets to create")
    parser.add_argument("--delay", type=int, default=60, help="seconds before a change is exported")
    parser.add_argument("--email", default="admin@example.com", help="the API token's user")
    parser.add_argument("--token", default="sim-api-token", help="the API token")
    parser.add_argument("--sync-field", default="seamline_sync", help="custom field a sink marks records in")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="milliseconds added to every answer")
    parser.add_argument("--job-ms", type=float, default=0.0, help="milliseconds before a background job runs")
    args = parser.parse_args()
    zendesk = Zendesk(
        email=args.email,
        api_token=args.token,
        delay_s=args.delay,
        latency_s=args.latency_ms / 1000,
        job_s=args.job_ms / 1000,
    )
    for kind in ("user", "organization"):
        zendesk.add_field(kind, args.sync_field)
    for number in range(args.tickets):
        user = zendesk.create_user(f"Customer {number}", f"customer{number}@example.com")
        zendesk.create_ticket(f"Sample ticket {number}", requester_id=user["id"], priority="normal")
    print(f"Zendesk simulation on http://127.0.0.1:{args.port} (API token user {zendesk.email})", flush=True)
    web.run_app(zendesk.app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
