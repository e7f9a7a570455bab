"""The http sink: canonical records written into a REST API (an ERP's OData services or a plain JSON API)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import httpx

from seamline.connectors.http_auth import BasicAuth, BearerAuth
from seamline.connectors.sink import Outcome, Rejected, Sink, SinkRecord, TargetFailing, without_values
from seamline.mapping import MappingError
from seamline.metrics import Metrics
from seamline.outbound import http_client, path_segment
from seamline.retry import ServerUnavailable, is_transient, retry_after
from sinks.http.circuit import CircuitBreaker
from sinks.http.config import HttpResource, HttpSink
from sinks.reverse_mapping import ReverseMapping, unmappable
from sinks.target_errors import TRANSIENT_STATUSES, Operation, http_failing, whose_status

Result = Literal["written", "unchanged"] | Rejected
_ATTEMPTS = 3  # reads and writes of one record when the target changes between them (412, 404, exists)


class _Conflict(Exception):
    """The record changed between our read and our write: read it again."""


class HttpTarget(Sink):
    """Writes each record with a read, then a conditional write.

    Delivery: exactly-once in effect. The record is read first (GET of its item path): the version guard
    compares the target's `version_field` and leaves a version the target already has (or has a newer one
    of) unchanged, the echo check leaves values the target itself sent, and the write carries the read's
    ETag as If-Match, so nothing changes between the read and the write unseen. The version is kept in the
    target rather than in a local store, so every instance of the sink and every restart sees the same
    guard. Every write also carries an Idempotency-Key derived from (entity, id, version, operation).

    Records of a batch are written `concurrency` at a time, one version per key (the newest). A transient
    failure of any record (timeout, connection error, 408/429/5xx) fails the batch after the others are
    done; the runner writes it again, which the guard makes harmless. A circuit breaker opens after
    `circuit_failures` transient failures in a row. An answer every record would get (401, 403, a collection
    that does not exist, ...: sinks/target_errors.py) raises TargetFailing, and the runner retries the batch
    until the target is fixed; only an answer about the record itself (400, 422, ...) rejects it.
    """

    def __init__(self, name: str, config: HttpSink, metrics: Metrics) -> None:
        self.name = name
        self.config = config
        self.mapping = ReverseMapping(config)
        self.circuit = CircuitBreaker(
            config.circuit_failures, config.circuit_cool_down_s, metrics.sink_circuit_open.labels(name)
        )
        self._client: httpx.Client | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._token: str | None = None
        self._csrf: str | None = None
        self._auth_lock = threading.Lock()

    def setup(self) -> None:
        auth = self.config.auth
        basic = (auth.user, auth.password.get_secret_value()) if isinstance(auth, BasicAuth) else None
        self._client = http_client(
            self.config.timeout_s,
            base_url=self.config.base_url.rstrip("/"),
            auth=basic,
            headers={"Accept": "application/json"},
        )
        self._pool = ThreadPoolExecutor(self.config.concurrency, thread_name_prefix=f"sink-{self.name}")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        if self._client is not None:
            self._client.close()

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        assert self._pool is not None, "setup() first"
        newest, outcome = _newest_per_key(records)
        results = list(self._pool.map(self._write_guarded, newest))
        transient = [result for result in results if isinstance(result, BaseException)]
        failing = [exc for exc in transient if isinstance(exc, TargetFailing)]
        if failing:
            raise failing[0]
        if transient:
            waits = [exc.retry_after_s for exc in transient if isinstance(exc, ServerUnavailable) and exc.retry_after_s]
            raise ServerUnavailable(
                f"{len(transient)} of {len(newest)} records: {transient[0]}", max(waits, default=None)
            )
        for record, result in zip(newest, results, strict=True):
            if isinstance(result, Rejected):
                outcome.rejected.append(result)
            elif result == "unchanged":
                outcome.unchanged.append(record)
        return outcome

    def _write_guarded(self, record: SinkRecord) -> Result | BaseException:
        try:
            return self._write_one(record)
        except Exception as exc:
            if is_transient(exc):
                return exc
            raise

    def _write_one(self, record: SinkRecord) -> Result:
        resource = self.config.entities[record.entity]  # type: ignore[index]
        values: dict[str, Any] | None = None
        if record.value is None:
            if resource.fields[resource.key_field] != "id":
                return "unchanged"  # the deleted version before the tombstone removed it
            key = record.id
        else:
            try:
                values = {name: self._encode(value) for name, value in self.mapping.target_values(record).items()}
            except MappingError as exc:
                return unmappable(record, exc)
            key = str(values[resource.key_field])
        for _ in range(_ATTEMPTS):
            try:
                return self._apply(record, resource, key, values)
            except _Conflict:
                continue
        raise ServerUnavailable(f"{record.entity} {record.id} changed in the target during {_ATTEMPTS} writes")

    def _apply(self, record: SinkRecord, resource: HttpResource, key: str, values: dict[str, Any] | None) -> Result:
        item = resource.item.format(key=self._key_in_path(key))
        read = self._read(item, resource, record)
        if isinstance(read, Rejected):
            return read
        held, etag = read
        held_version = None if held is None else _held_version(held, resource)
        version = None if record.value is None else int(record.value["version"])
        if record.value is None or record.value["deleted"]:
            if held_version is None or (version is not None and held_version > version):
                return "unchanged"
            answer = self._call("DELETE", item, resource, record, "delete", if_match=etag)
        else:
            assert values is not None and version is not None
            if held is None:
                path = resource.collection if resource.create == "POST" else item
                answer = self._call(resource.create, path, resource, record, "create", body=values)
            elif held_version is not None and (
                held_version >= version or self._is_echo(record, resource, values, held)
            ):
                return "unchanged"
            else:
                body = {name: value for name, value in values.items() if name != resource.key_field}
                answer = self._call(resource.update, item, resource, record, "update", body=body, if_match=etag)
        return "written" if answer is None else answer

    def _key_in_path(self, key: str) -> str:
        """The key as it goes into the item path: a quote doubled inside an OData literal, then percent-encoded,
        so no key can reach another resource."""
        return path_segment(key.replace("'", "''") if self.config.format == "odata_v2" else key)

    def _is_echo(
        self, record: SinkRecord, resource: HttpResource, values: dict[str, Any], held: dict[str, Any]
    ) -> bool:
        """Whether the target already holds these values (its version field aside) and they came from it."""
        compared = {name: value for name, value in values.items() if name != resource.version_field}
        return self.mapping.is_echo(record, compared, held)

    def _read(
        self, item: str, resource: HttpResource, record: SinkRecord
    ) -> tuple[dict[str, Any] | None, str | None] | Rejected:
        """The held entity and its ETag ((None, None) when there is none), or the record rejected by the read."""
        response = self._send("GET", item, resource.item, "read")
        if response.status_code == 404:
            return None, None
        if response.status_code != 200:
            reason = f"HTTP {response.status_code} from GET {resource.item}: {self._error_text(response, None)}"
            return Rejected(record, reason, f"HTTP{response.status_code}")
        body = response.json()
        entity = body.get("d", body) if self.config.format == "odata_v2" else body
        etag = response.headers.get("ETag") or (entity.get("__metadata") or {}).get("etag")
        return entity, etag

    def _call(
        self,
        method: str,
        path: str,
        resource: HttpResource,
        record: SinkRecord,
        operation: Operation,
        body: dict[str, Any] | None = None,
        if_match: str | None = None,
    ) -> Rejected | None:
        """One write; None when done, Rejected when the target refused the record; _Conflict to read again."""
        version = None if record.value is None else record.value["version"]
        key = uuid.uuid5(uuid.NAMESPACE_URL, f"seamline:{self.name}:{record.entity}:{record.id}:{version}:{operation}")
        headers = {"Idempotency-Key": str(key)}
        if if_match is not None:
            headers["If-Match"] = if_match
        label = resource.collection if operation == "create" and resource.create == "POST" else resource.item
        response = self._send(method, path, label, operation, json=body, headers=headers, write=True)
        if response.is_success:
            return None
        if response.status_code in (404, 409, 412) or (operation == "create" and _already_exists(response)):
            raise _Conflict  # a 404 on a create is the target's, raised by _send
        reason = f"HTTP {response.status_code} from {method} {path.split('(')[0]}: {self._error_text(response, body)}"
        return Rejected(record, reason, f"HTTP{response.status_code}")

    def _send(
        self, method: str, path: str, label: str, operation: Operation, write: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """An authenticated call through the circuit breaker; raises on transient answers, and TargetFailing on an
        answer every record would get (`label`, the configured path, names the call in it)."""
        assert self._client is not None, "setup() first"
        self.circuit.check()
        headers = kwargs.pop("headers", {})
        for fresh in (False, True):
            try:
                response = self._client.request(
                    method, path, headers={**headers, **self._headers(write, fresh)}, **kwargs
                )
            except httpx.TransportError:
                self.circuit.failed()
                raise
            if response.status_code in TRANSIENT_STATUSES:
                self.circuit.failed()
                raise ServerUnavailable(f"{method} {path}: HTTP {response.status_code}", retry_after(response))
            self.circuit.succeeded()
            stale_token = response.status_code == 401 and not isinstance(self.config.auth, BasicAuth)
            stale_csrf = response.status_code == 403 and response.headers.get("x-csrf-token", "").lower() == "required"
            if not (stale_token or stale_csrf) or fresh:
                break
        if whose_status(response.status_code, operation) == "target":
            detail = self._error_text(response, kwargs.get("json"))
            raise http_failing(response.status_code, f"{method} {label}", detail)
        return response

    def _headers(self, write: bool, fresh: bool) -> dict[str, str]:
        """Authorization (bearer, OAuth) and, for writes, the CSRF token; fetched again when `fresh`."""
        headers: dict[str, str] = {}
        auth = self.config.auth
        if isinstance(auth, BearerAuth):
            headers["Authorization"] = f"Bearer {auth.token.get_secret_value()}"
        elif not isinstance(auth, BasicAuth):
            with self._auth_lock:
                if self._token is None or fresh:
                    self._token = self._fetch_token()
                headers["Authorization"] = f"Bearer {self._token}"
        if write and self.config.csrf_path is not None:
            with self._auth_lock:
                if self._csrf is None or fresh:
                    self._csrf = self._fetch_csrf(headers)
                headers["x-csrf-token"] = self._csrf
        return headers

    def _fetch_token(self) -> str:
        auth = self.config.auth
        assert self._client is not None and not isinstance(auth, BasicAuth | BearerAuth)
        form = {"grant_type": "client_credentials", **({"scope": auth.scope} if auth.scope else {})}
        response = self._client.post(
            auth.token_url, data=form, auth=(auth.client_id, auth.client_secret.get_secret_value())
        )
        if response.status_code in TRANSIENT_STATUSES:
            raise ServerUnavailable(f"token endpoint: HTTP {response.status_code}", retry_after(response))
        if response.status_code != 200:
            raise TargetFailing(
                f"{auth.token_url} refused client {auth.client_id} (HTTP {response.status_code})",
                "fix the sink's auth: client_id, client_secret and scope",
            )
        return str(response.json()["access_token"])

    def _fetch_csrf(self, headers: dict[str, str]) -> str:
        assert self._client is not None and self.config.csrf_path is not None
        response = self._client.get(self.config.csrf_path, headers={**headers, "x-csrf-token": "Fetch"})
        if response.status_code in TRANSIENT_STATUSES:
            raise ServerUnavailable(f"CSRF token fetch: HTTP {response.status_code}", retry_after(response))
        token = response.headers.get("x-csrf-token")
        if response.status_code != 200 or not token:
            raise TargetFailing(
                f"GET {self.config.csrf_path} gave no x-csrf-token (HTTP {response.status_code})", "fix csrf_path"
            )
        return token

    def _encode(self, value: Any) -> Any:
        """A mapped value as the target's JSON: decimals as strings, times as /Date(ms)/ (OData V2) or ISO 8601."""
        if isinstance(value, list):
            records = [{name: self._encode(item) for name, item in line.items()} for line in value]
            return {"results": records} if self.config.format == "odata_v2" else records
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, datetime | date):
            moment = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day, tzinfo=UTC)
            if self.config.format == "odata_v2":
                return f"/Date({int(moment.timestamp() * 1000)})/"
            return value.isoformat()
        return value

    def _error_text(self, response: httpx.Response, body: dict[str, Any] | None) -> str:
        """The target's error code and message, with the record's own values blanked out."""
        try:
            error = response.json()
        except ValueError:
            text = response.text[:300]
        else:
            inner = error.get("error", error) if isinstance(error, dict) else error
            if isinstance(inner, dict):
                message = inner.get("message")
                message = message.get("value") if isinstance(message, dict) else message
                text = f"{inner.get('code', '')} {message or ''}".strip()
            else:
                text = str(inner)[:300]
        return without_values(text, body)


def _held_version(held: dict[str, Any], resource: HttpResource) -> int:
    value = held.get(resource.version_field)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _already_exists(response: httpx.Response) -> bool:
    return response.status_code == 400 and "already exists" in response.text


def _newest_per_key(records: Sequence[SinkRecord]) -> tuple[list[SinkRecord], Outcome]:
    """The newest record of each (entity, id) in batch order (a tombstone is newest), and the rest as unchanged."""
    chosen: dict[tuple[str, str], SinkRecord] = {}
    outcome = Outcome()
    for record in records:
        key = (record.entity, record.id)
        kept = chosen.get(key)
        newer = (
            kept is None
            or record.value is None
            or (kept.value is not None and record.value["version"] >= kept.value["version"])
        )
        if newer:
            if kept is not None:
                outcome.unchanged.append(kept)
            chosen[key] = record
        else:
            outcome.unchanged.append(record)
    return list(chosen.values()), outcome
