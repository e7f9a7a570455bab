"""A Salesforce REST API simulation (aiohttp): OAuth client credentials, query/queryAll with paging, describe.

It follows Salesforce's public REST API documentation for what seamline uses:
- POST /services/oauth2/token (grant_type=client_credentials): access_token, instance_url, id, token_type,
  issued_at, signature; a wrong client answers 400 {"error": "invalid_client", ...}.
- GET /services/data/vXX.X/query?q=SOQL and /queryAll (deleted records too, IsDeleted true): totalSize,
  done, records with attributes {type, url}, nextRecordsUrl …/query/<locator>-<offset> while not done;
  batch size from `Sforce-Query-Options: batchSize=N` (200..2000, default 2000).
- GET /services/data/vXX.X/sobjects/<Object>/describe.
- sObject Collections: PATCH /services/data/vXX.X/composite/sobjects/<Object>/<ExternalIdField> upserts up to 200
  records {allOrNone, records: [{attributes: {type}, ...}]} and DELETE /services/data/vXX.X/composite/sobjects
  ?ids=a,b&allOrNone= deletes up to 200; both answer 200 with one result per record, in order: {id, success,
  errors: [{statusCode, message, fields}]} (+ created for upserts); with allOrNone true one failure rolls
  back the others (ALL_OR_NONE_OPERATION_ROLLED_BACK). More than 200 records: 400 EXCEEDED_ID_LIMIT.
- Errors as [{"message", "errorCode"}]: INVALID_SESSION_ID (401), REQUEST_LIMIT_EXCEEDED (403),
  NOT_FOUND (404), INVALID_TYPE / INVALID_FIELD / MALFORMED_QUERY / INVALID_QUERY_LOCATOR / JSON_PARSER_ERROR
  (400).
- `Sforce-Limit-Info: api-usage=N/LIMIT` on every API response; each API call counts one.

The in-memory org is changed through SalesforceSim's data API (insert, update, delete), which stamps
CreatedDate, LastModifiedDate and SystemModstamp as Salesforce does (milliseconds, UTC).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import web

from sandbox import soql
from sandbox.salesforce_objects import (
    DEFAULT_OWNER,
    createable,
    defaults,
    describe,
    external_ids,
    field_types,
    object_names,
    object_of,
    record_id,
    required,
)
from sandbox.serving import BackgroundServer

MIN_BATCH, MAX_BATCH = 200, 2000
MAX_COLLECTION = 200
ORG_ID = "00D5g000000SeamAAA"
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Validation = Callable[[str, Mapping[str, Any]], "tuple[str, str, list[str]] | None"]
"""(object, the record as it would be saved) -> None, or (statusCode, message, fields) refusing it."""


@dataclass(frozen=True)
class Write:
    """One record changed through the API: the method, object, record Id and the fields sent (none for DELETE)."""

    method: str
    object: str
    id: str
    fields: dict[str, Any]


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response([{"message": message, "errorCode": code}], status=status)


def format_stamp(moment: datetime) -> str:
    """A datetime as Salesforce writes it in JSON: 2026-11-22T04:05:06.123+0000."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


class SalesforceSim:
    """One simulated org: its records, OAuth client, API usage counter and fault switches."""

    def __init__(
        self, client_id: str = "seamline-client", client_secret: str = "seamline-secret", api_limit: int = 100_000
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_limit = api_limit
        self.api_usage = 0
        self.requests: list[str] = []  # method and path of each API call, for tests
        self.writes: list[Write] = []  # records changed through the API, for tests
        self._validation: Validation | None = None
        self._records: dict[str, dict[str, dict[str, Any]]] = {obj: {} for obj in object_names()}
        self._numbers = 0
        self._last_ms = 0
        self._tokens: set[str] = set()
        self._locators: dict[str, tuple[str, list[dict[str, Any]], int]] = {}
        self._faults: list[int] = []
        self._lock = threading.Lock()
        self._server = BackgroundServer("salesforce-sim")
        self.url = ""

    # --- data API for tests and demos -------------------------------------------------------------

    def _stamp(self) -> str:
        ms = max(int(time.time() * 1000), self._last_ms)
        self._last_ms = ms
        return format_stamp(datetime.fromtimestamp(ms / 1000, UTC))

    def insert(self, obj: str, fields: Mapping[str, Any]) -> str:
        """Create one record; returns its Id."""
        return self.insert_many(obj, [fields])[0]

    def insert_many(self, obj: str, rows: Iterable[Mapping[str, Any]]) -> list[str]:
        """Create records in one DML call: they share one SystemModstamp, as a bulk insert does."""
        with self._lock:
            stamp, ids = self._stamp(), []
            for fields in rows:
                self._check_fields(obj, fields)
                ids.append(self._create(obj, fields, stamp))
            return ids

    def _create(self, obj: str, fields: Mapping[str, Any], stamp: str) -> str:
        self._numbers += 1
        record = self._new(obj) | {"CreatedDate": stamp}
        record.update(fields, Id=record_id(obj, self._numbers), LastModifiedDate=stamp, SystemModstamp=stamp)
        self._records[obj][record["Id"]] = record
        return str(record["Id"])

    def _new(self, obj: str) -> dict[str, Any]:
        """A record before its fields are set: nulls, defaults, not deleted, owned by the run-as user."""
        record: dict[str, Any] = {name: None for name in field_types(obj)}
        record.update(defaults(obj), IsDeleted=False)
        if "OwnerId" in record:
            record["OwnerId"] = DEFAULT_OWNER
        return record

    def update(self, obj: str, record: str, fields: Mapping[str, Any]) -> str:
        """Change fields of a live record; returns its new SystemModstamp."""
        with self._lock:
            self._check_fields(obj, fields)
            stored = self._live(obj, record)
            stamp = self._stamp()
            stored.update(fields, LastModifiedDate=stamp, SystemModstamp=stamp)
            return stamp

    def delete(self, obj: str, record: str) -> str:
        """Move a record to the recycle bin (IsDeleted true); returns its new SystemModstamp."""
        with self._lock:
            stored = self._live(obj, record)
            stamp = self._stamp()
            stored.update(IsDeleted=True, SystemModstamp=stamp)
            return stamp

    def record(self, obj: str, record: str) -> dict[str, Any]:
        """A copy of one stored record, deleted or not."""
        with self._lock:
            return dict(self._records[obj][record])

    def find(self, obj: str, field: str, value: Any) -> dict[str, Any] | None:
        """A copy of the live record whose `field` holds `value` (e.g. an external id), None if there is none."""
        with self._lock:
            found = self._match(obj, field, value)
            return None if found is None else dict(found)

    def live(self, obj: str) -> list[dict[str, Any]]:
        """Copies of the object's live records, in creation order."""
        with self._lock:
            return [dict(record) for record in self._records[obj].values() if not record["IsDeleted"]]

    def validate(self, rule: Validation | None) -> None:
        """Refuse API writes of records for which `rule` answers (statusCode, message, fields), as a validation
        rule (FIELD_CUSTOM_VALIDATION_EXCEPTION) or a required field (REQUIRED_FIELD_MISSING) would; None: off."""
        with self._lock:
            self._validation = rule

    def _match(self, obj: str, field: str, value: Any) -> dict[str, Any] | None:
        return next(
            (r for r in self._records[obj].values() if not r["IsDeleted"] and value is not None and r[field] == value),
            None,
        )

    def expire_tokens(self) -> None:
        """Invalidate every access token issued so far (a session timeout or revocation)."""
        with self._lock:
            self._tokens.clear()

    def forget_query_locators(self) -> None:
        """Drop every open query cursor, as Salesforce does after 15 minutes without use."""
        with self._lock:
            self._locators.clear()

    def fail_next(self, count: int, status: int = 503) -> None:
        """Answer the next `count` API calls with `status` (a server-side outage)."""
        with self._lock:
            self._faults.extend([status] * count)

    def _check_fields(self, obj: str, fields: Mapping[str, Any]) -> None:
        unknown = set(fields) - set(field_types(obj))
        if unknown:
            raise KeyError(f"{obj} has no field {', '.join(sorted(unknown))}")

    def _live(self, obj: str, record: str) -> dict[str, Any]:
        stored = self._records[obj].get(record)
        if stored is None or stored["IsDeleted"]:
            raise KeyError(f"no live {obj} {record}")
        return stored

    # --- HTTP --------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application serving this org."""
        app = web.Application(middlewares=[self._api_guard])
        app.router.add_post("/services/oauth2/token", self._token)
        for kind in ("query", "queryAll"):
            app.router.add_get(f"/services/data/v{{version}}/{kind}", self._query)
            app.router.add_get(f"/services/data/v{{version}}/{kind}/", self._query)
            app.router.add_get(f"/services/data/v{{version}}/{kind}/{{locator}}-{{offset:\\d+}}", self._query_more)
        app.router.add_get("/services/data/v{version}/sobjects/{object}/describe", self._describe)
        app.router.add_patch("/services/data/v{version}/composite/sobjects/{object}/{field}", self._upsert)
        app.router.add_delete("/services/data/v{version}/composite/sobjects", self._delete)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("grant_type") != "client_credentials":
            return web.json_response(
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, status=400
            )
        good = hmac.compare_digest(str(form.get("client_id", "")), self.client_id) and hmac.compare_digest(
            str(form.get("client_secret", "")), self.client_secret
        )
        if not good:
            return web.json_response(
                {"error": "invalid_client", "error_description": "invalid client credentials"}, status=400
            )
        token = f"{ORG_ID}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._tokens.add(token)
        identity = f"{request.url.origin()}/id/{ORG_ID}/{DEFAULT_OWNER}"
        issued_at = str(int(time.time() * 1000))
        digest = hmac.new(self.client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
        return web.json_response(
            {
                "access_token": token,
                "signature": base64.b64encode(digest).decode(),
                "scope": "api",
                "instance_url": str(request.url.origin()),
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued_at,
            }
        )

    @web.middleware
    async def _api_guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authentication, the daily request limit, injected faults and Sforce-Limit-Info on API calls."""
        if not request.path.startswith("/services/data/"):
            return await handler(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        with self._lock:
            authorised = token in self._tokens
            if authorised:
                self.api_usage += 1
                self.requests.append(f"{request.method} {request.path_qs}")
            fault = self._faults.pop(0) if authorised and self._faults else None
        response: web.StreamResponse
        if not authorised:
            response = _error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        elif self.api_usage > self.api_limit:
            response = _error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        elif fault is not None:
            response = _error(fault, "SERVER_UNAVAILABLE", "The server is temporarily unavailable.")
        else:
            response = await handler(request)
        response.headers["Sforce-Limit-Info"] = f"api-usage={min(self.api_usage, self.api_limit)}/{self.api_limit}"
        return response

    async def _describe(self, request: web.Request) -> web.Response:
        obj = self._object(request.match_info["object"])
        if obj is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        return web.json_response(describe(obj, request.match_info["version"]))

    async def _upsert(self, request: web.Request) -> web.Response:
        obj = self._object(request.match_info["object"])
        if obj is None:
            return _error(404, "NOT_FOUND", "The requested resource does not exist")
        field = request.match_info["field"]
        if field not in external_ids(obj):
            return _error(400, "INVALID_FIELD", f"Field {field} is not an External ID or indexed field for {obj}")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            return _error(400, "JSON_PARSER_ERROR", "records: expected a list of sObjects")
        if len(records) > MAX_COLLECTION:
            return _error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records")
        rows: list[dict[str, Any]] = []
        for record in records:
            kind = (record.get("attributes") or {}).get("type")
            if kind != obj:
                return _error(400, "INVALID_TYPE", f"each record needs attributes.type {obj}, not {kind!r}")
            row = {name: value for name, value in record.items() if name != "attributes"}
            unknown = sorted(set(row) - set(field_types(obj)))
            if unknown:
                return _error(400, "INVALID_FIELD", f"No such column '{unknown[0]}' on sobject of type {obj}")
            rows.append(row)
        with self._lock:
            results = [self._check_upsert(obj, field, row) for row in rows]
            if not (body.get("allOrNone") and any(not r["success"] for r in results)):
                stamp = self._stamp()
                results = [
                    self._apply_upsert(obj, field, row, stamp) if r["success"] else r
                    for row, r in zip(rows, results, strict=True)
                ]
            else:
                results = [r if not r["success"] else _failure(ROLLED_BACK, _ROLLBACK_MESSAGE, []) for r in results]
        return web.json_response(results)

    def _check_upsert(self, obj: str, field: str, row: dict[str, Any]) -> dict[str, Any]:
        """The result an upsert of `row` would have, without saving it (the lock is held)."""
        if row.get(field) in (None, ""):
            return _failure("MISSING_ARGUMENT", f"{field} not specified", [field])
        fixed = sorted(set(row) - createable(obj))
        if fixed:
            return _failure("INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields", fixed)
        held = self._match(obj, field, row[field])
        saved = (held if held is not None else self._new(obj)) | row
        missing = [name for name in required(obj) if saved.get(name) in (None, "")]
        if missing:
            return _failure("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)
        refused = self._validation(obj, saved) if self._validation else None
        if refused is not None:
            return _failure(*refused)
        return {"id": None if held is None else held["Id"], "success": True, "errors": [], "created": held is None}

    def _apply_upsert(self, obj: str, field: str, row: dict[str, Any], stamp: str) -> dict[str, Any]:
        held = self._match(obj, field, row[field])
        if held is None:
            record = self._create(obj, row, stamp)
        else:
            held.update(row, LastModifiedDate=stamp, SystemModstamp=stamp)
            record = held["Id"]
        self.writes.append(Write("PATCH", obj, record, dict(row)))
        return {"id": record, "success": True, "errors": [], "created": held is None}

    async def _delete(self, request: web.Request) -> web.Response:
        ids = [part for part in request.query.get("ids", "").split(",") if part]
        if not ids:
            return _error(400, "MISSING_ARGUMENT", "ids: a comma-separated list of record Ids is required")
        if len(ids) > MAX_COLLECTION:
            return _error(400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 200 records")
        with self._lock:
            results = [self._check_delete(record) for record in ids]
            if request.query.get("allOrNone", "false").lower() == "true" and any(not r["success"] for r in results):
                return web.json_response(
                    [r if not r["success"] else _failure(ROLLED_BACK, _ROLLBACK_MESSAGE, [], r["id"]) for r in results]
                )
            stamp = self._stamp()
            for result in results:
                if result["success"]:
                    obj = object_of(result["id"])
                    assert obj is not None
                    self._records[obj][result["id"]].update(IsDeleted=True, SystemModstamp=stamp)
                    self.writes.append(Write("DELETE", obj, result["id"], {}))
        return web.json_response(results)

    def _check_delete(self, record: str) -> dict[str, Any]:
        obj = object_of(record)
        stored = None if obj is None else self._records[obj].get(record)
        if stored is None:
            return _failure("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [], record)
        if stored["IsDeleted"]:
            return _failure("ENTITY_IS_DELETED", "entity is deleted", [], record)
        return {"id": record, "success": True, "errors": []}

    def _object(self, name: str) -> str | None:
        return next((obj for obj in object_names() if obj.lower() == name.lower()), None)

    async def _query(self, request: web.Request) -> web.Response:
        text = request.query.get("q")
        if not text:
            return _error(400, "MALFORMED_QUERY", "A query string has to be specified")
        try:
            query = soql.parse(text)
        except soql.SoqlError as exc:
            return _error(400, "MALFORMED_QUERY", str(exc))
        obj = self._object(query.object)
        if obj is None:
            return _error(
                400,
                "INVALID_TYPE",
                f"sObject type '{query.object}' is not supported. If you are attempting to use a custom object, "
                "be sure to append the '__c' after the entity name.",
            )
        names = {name.lower(): name for name in field_types(obj)}
        for field in (*query.fields, *query.where_fields, *(name for name, _ in query.order)):
            if field.lower() not in names:
                return _error(400, "INVALID_FIELD", f"No such column '{field}' on entity '{obj}'.")
        with_deleted = request.path.split("/")[4] == "queryAll"
        with self._lock:
            records = [
                record
                for record in self._records[obj].values()
                if (with_deleted or not record["IsDeleted"]) and query.where(_canonical(record, names))
            ]
            for field, descending in reversed(query.order):  # stable sorts, last key first
                records.sort(key=partial(_sort_key, names[field.lower()]), reverse=descending)
            if query.limit is not None:
                records = records[: query.limit]
            version = request.match_info["version"]
            rows = [_project(obj, record, [names[f.lower()] for f in query.fields], version) for record in records]
        kind = "queryAll" if with_deleted else "query"
        return web.json_response(self._page(kind, version, rows, 0, _batch_size(request)))

    async def _query_more(self, request: web.Request) -> web.Response:
        with self._lock:
            found = self._locators.get(request.match_info["locator"])
        if found is None:
            return _error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        kind, rows, batch = found
        return web.json_response(
            self._page(kind, request.match_info["version"], rows, int(request.match_info["offset"]), batch)
        )

    def _page(self, kind: str, version: str, rows: list[dict[str, Any]], offset: int, batch: int) -> dict[str, Any]:
        end = offset + batch
        body: dict[str, Any] = {"totalSize": len(rows), "done": end >= len(rows), "records": rows[offset:end]}
        if end < len(rows):
            locator = "01g5g" + secrets.token_hex(7).upper()[:13]
            with self._lock:
                self._locators[locator] = (kind, rows, batch)
            body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{end}"
        return body

    # --- running it ----------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:<port> (0: a free one) in a background thread; returns the base URL."""
        self.url = self._server.start(self.app(), port)
        return self.url

    def stop(self) -> None:
        """Stop serving and end the background thread."""
        self._server.stop()

    def __enter__(self) -> SalesforceSim:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


_ROLLBACK_MESSAGE = "Record rolled back because not all records were valid and the request was using AllOrNone header"


def _failure(code: str, message: str, fields: list[str], record: str | None = None) -> dict[str, Any]:
    """One record's failed result in an sObject Collections answer."""
    return {"id": record, "success": False, "errors": [{"statusCode": code, "message": message, "fields": fields}]}


def _canonical(record: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The record keyed by lower-case field names, as the SOQL predicate reads it."""
    return {lower: record[name] for lower, name in names.items()}


def _sort_key(name: str, record: dict[str, Any]) -> tuple[bool, Any]:
    """Nulls first, as SOQL's ascending ORDER BY (datetimes are stored as sortable UTC text)."""
    value = record[name]
    return (value is not None, value if value is not None else 0)


def _project(obj: str, record: dict[str, Any], fields: list[str], version: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "attributes": {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record['Id']}"}
    }
    row.update((field, record[field]) for field in fields)
    return row


def _batch_size(request: web.Request) -> int:
    """batchSize from the Sforce-Query-Options header, kept within Salesforce's 200..2000."""
    for option in request.headers.get("Sforce-Query-Options", "").split(","):
        name, _, value = option.strip().partition("=")
        if name == "batchSize" and value.isdigit():
            return min(MAX_BATCH, max(MIN_BATCH, int(value)))
    return MAX_BATCH


def _sample(rng: random.Random) -> dict[str, Any]:
    return {
        "Name": f"{rng.choice(['Acme', 'Globex', 'Initech', 'Umbrella', 'Stark'])} {rng.randint(1, 999)}",
        "Industry": rng.choice(["Banking", "Retail", "Technology"]),
        "AnnualRevenue": float(rng.randint(1, 500) * 10_000),
        "NumberOfEmployees": rng.randint(1, 5000),
        "BillingCountry": rng.choice(["IT", "DE", "BD", "CN"]),
    }


def main() -> None:
    """`python -m sandbox.salesforce`: serve a sample org and change an Account every few seconds."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--change-every", type=float, default=2.0, help="seconds between changes (0: none)")
    parser.add_argument("--client-id", default="seamline-client")
    parser.add_argument("--client-secret", default="seamline-secret")
    args = parser.parse_args()
    sim, rng = SalesforceSim(args.client_id, args.client_secret), random.Random(7)
    ids = sim.insert_many("Account", [_sample(rng) for _ in range(args.accounts)])
    url = sim.start(args.port)
    print(json.dumps({"login_url": url, "client_id": sim.client_id, "objects": ["Account"]}), flush=True)
    try:
        while True:
            time.sleep(args.change_every or 3600)
            if args.change_every:
                sim.update("Account", rng.choice(ids), {"NumberOfEmployees": rng.randint(1, 5000)})
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
