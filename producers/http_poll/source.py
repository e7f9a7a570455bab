"""Incremental exports of a REST API (cursor- or time-based, Zendesk's style) as change events."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from producers.http_poll.config import HttpPollObject, HttpPollSource
from producers.http_poll.since_paging import first_cursor, next_cursor, since_params
from producers.sql_poll.source import format_position
from seamline.connectors.http_auth import authorization
from seamline.connectors.source import Checkpoint, Source, SourceSetupError
from seamline.events import Change, Row
from seamline.metrics import Metrics
from seamline.outbound import http_client
from seamline.retry import ServerUnavailable, retry_after, retrying
from seamline.runtime import process_stop
from seamline.sync_marks import holds_its_mark

log = logging.getLogger(__name__)

CONNECTOR = "http_poll"
_DEFAULT_RETRY_AFTER_S = 60.0
_NEWEST_START_S = 61  # the exports refuse a start_time less than a minute in the past

Cursor = dict[str, str | int]
"""Where an object's export continues: {"cursor": after_cursor}, {"start_time": epoch seconds} or
{"since": ISO 8601, "offset": n}."""


@dataclass(frozen=True)
class Page:
    """One page of an export: its records, where the next page starts, and whether it was the last."""

    records: list[dict[str, Any]]
    next: Cursor
    end_of_stream: bool


def _text(value: Any) -> str | None:
    """A record field as text: strings as they are, anything else (numbers, lists, objects) as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _moment(value: Any) -> datetime:
    """An updated-at value (ISO 8601 or epoch seconds) as an aware UTC datetime."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    moment = datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class HttpPoll(Source):
    """Follows the incremental export of each configured object, page after page, until end_of_stream,
    then again every poll_interval_s.

    Delivery: at-least-once. The position is every object's cursor (after_cursor, or the next start_time
    for time-based exports), checkpointed after each page, so a restart resumes after the last page Kafka
    acknowledged. Each record's own position is "updated_at|id": a record read twice (a page re-read after
    a crash, a time-based export repeating its last second) keeps its event_id.
    - op: every record is an upsert "u", or "d" (record in `before`) when its deleted marker is set.
    - An export keeps only the newest state of a record: versions overwritten between two polls are not seen.
    - A record that still holds what a seamline sink wrote into it (its sync mark, `sync_mark_field`) is that
      sink's echo: it is left out (counted in the log), so a write does not come back as a change.
    - 429 waits exactly Retry-After, then asks for the same page again; 5xx and network errors are
      retried through seamline.retry; refused credentials or an unknown path stop the source at setup.
    """

    def __init__(self, name: str, config: HttpPollSource, metrics: Metrics) -> None:
        self.name = name
        self.config = config
        self.metrics = metrics
        self._client: httpx.Client | None = None
        self._cursors: dict[str, Cursor] = {}
        self._ahead: dict[str, Page] = {}
        self._fresh_as_of: dict[str, float] = {}

    def setup(self, resume: Checkpoint | None) -> None:
        stored = self._parse_position(resume.position) if resume is not None else {}
        first = int(min(self.config.start_time.timestamp(), time.time() - _NEWEST_START_S))
        self._cursors = {
            obj.name: stored.get(obj.name)
            or (first_cursor(self.config.start_time) if obj.cursor_style == "since" else {"start_time": first})
            for obj in self.config.objects
        }
        self._client = http_client(
            self.config.timeout_s, base_url=self.config.base_url, headers=authorization(self.config.auth)
        )
        for obj in self.config.objects:  # the first page checks credentials, path and response shape
            for _ in self._fetch(obj):
                pass
        log.info("source %s exports %s from %s", self.name, ", ".join(self._cursors), self.config.base_url)

    def _parse_position(self, position: str) -> dict[str, Cursor]:
        try:
            cursors = json.loads(position)
            if isinstance(cursors, dict) and all(
                isinstance(c, dict) and set(c) <= {"cursor", "start_time", "since", "offset"} for c in cursors.values()
            ):
                return cursors
        except ValueError:
            pass
        raise ValueError(
            f"source {self.name}: stored position {position!r} is not an http_poll position "
            "(was the source renamed from another kind?): give this source a new name"
        )

    def _fetch(self, obj: HttpPollObject) -> Generator[None, None, None]:
        """Read the next page of `obj` into self._ahead, waiting out 429s (yielding None meanwhile)."""
        cursor = self._cursors[obj.name]
        since = obj.cursor_style == "since"
        params = since_params(cursor, self.config.per_page) if since else {**cursor, "per_page": self.config.per_page}
        while True:
            asked_at = time.time()
            response = self._get(obj, params)
            if response.status_code != 429:
                break
            wait = retry_after(response, _DEFAULT_RETRY_AFTER_S)
            log.info("source %s: %s rate limited, retrying in %.1fs", self.name, obj.path, wait)
            yield from process_stop.idle(wait)
        self._ahead[obj.name] = self._page(obj, response)
        if self._ahead[obj.name].end_of_stream:
            self._fresh_as_of[obj.name] = asked_at

    def _get(self, obj: HttpPollObject, params: dict[str, Any]) -> httpx.Response:
        assert self._client is not None
        for attempt in retrying():
            with attempt:
                started = time.perf_counter()
                response = self._client.get(obj.path, params=params)
                self.metrics.poll_seconds.labels(self.name).observe(time.perf_counter() - started)
                if response.status_code >= 500:
                    raise ServerUnavailable(f"{obj.path} answered {response.status_code}")
        where = f"source {self.name}: {self.config.base_url}{obj.path}"
        if response.status_code in (401, 403):
            raise SourceSetupError(
                f"{where} refused the credentials ({response.status_code} {self._error(response)}): "
                "fix auth (user and token, or the bearer token) and its permissions"
            )
        if response.status_code == 404:
            raise SourceSetupError(f"{where} does not exist (404): fix the path of object {obj.name!r} or base_url")
        if response.status_code >= 400 and response.status_code != 429:
            raise RuntimeError(f"{where} answered {response.status_code}: {self._error(response)}")
        return response

    @staticmethod
    def _error(response: httpx.Response) -> str:
        """The API's error text (its error JSON, not a record), shortened."""
        return " ".join(response.text.split())[:200]

    def _page(self, obj: HttpPollObject, response: httpx.Response) -> Page:
        where = f"source {self.name}: the answer of {obj.path}"
        try:
            body = response.json()
        except ValueError:
            raise SourceSetupError(f"{where} is not JSON: is base_url the API's root?") from None
        records = body.get(obj.records_field) if isinstance(body, dict) else None
        if not isinstance(records, list):
            fields = ", ".join(body) if isinstance(body, dict) else type(body).__name__
            raise SourceSetupError(f"{where} has no list {obj.records_field!r} (it has: {fields}): fix records_field")
        if obj.cursor_style == "since":
            if not isinstance(body.get("total_items"), int):
                raise SourceSetupError(
                    f"{where} has no 'total_items': it is not a since-style listing: fix cursor_style"
                )
            return Page(
                records, *next_cursor(self._cursors[obj.name], records, body["total_items"], obj.updated_at_field)
            )
        marker = "after_cursor" if obj.cursor_style == "cursor" else "end_time"
        if marker not in body or not isinstance(body.get("end_of_stream"), bool):
            raise SourceSetupError(
                f"{where} has no {marker!r} or 'end_of_stream': it is not a {obj.cursor_style}-based "
                "incremental export: fix cursor_style or path"
            )
        found = body[marker]
        current = self._cursors[obj.name]
        if found is None:  # nothing new since a start_time: the API gives no cursor yet
            following = current
        else:
            following = {"cursor": str(found)} if obj.cursor_style == "cursor" else {"start_time": int(found)}
        return Page(records, following, body["end_of_stream"])

    def changes(self) -> Generator[Change | Checkpoint | None, None, None]:
        while True:
            for obj in self.config.objects:
                while True:
                    if obj.name not in self._ahead:
                        yield from self._fetch(obj)
                    page = self._ahead.pop(obj.name)
                    newest_ms = echoes = 0
                    for record in page.records:
                        change = self._change(obj, record)
                        newest_ms = max(newest_ms, change.source_ts_ms)
                        if change.op == "u" and obj.sync_mark_field and holds_its_mark(record, obj.sync_mark_field):
                            echoes += 1
                            continue
                        yield change
                    if echoes:
                        log.info("source %s: left out %d %s a seamline sink wrote", self.name, echoes, obj.name)
                    if not page.end_of_stream and newest_ms:
                        self._fresh_as_of[obj.name] = newest_ms / 1000
                    if page.next != self._cursors[obj.name]:
                        self._cursors[obj.name] = page.next
                        yield Checkpoint(json.dumps(self._cursors, sort_keys=True), snapshot_done=True)
                    if page.end_of_stream:
                        break
            yield from process_stop.idle(self.config.poll_interval_s)

    def _change(self, obj: HttpPollObject, record: dict[str, Any]) -> Change:
        key, stamp = record.get(obj.key_field), record.get(obj.updated_at_field)
        for setting, value in (("key_field", key), ("updated_at_field", stamp)):
            if value is None:
                field = getattr(obj, setting)
                raise SourceSetupError(
                    f"source {self.name}: a record of {obj.name} has no {field!r} "
                    f"(it has: {', '.join(record)}): fix {setting} of object {obj.name!r}"
                )
        moment = _moment(stamp)
        values: Row = {name: _text(value) for name, value in record.items()}
        marker = record.get(obj.deleted_field) if obj.deleted_field else None
        deleted = (
            obj.deleted_field is not None and type(marker) is type(obj.deleted_value) and marker == obj.deleted_value
        )
        return Change(
            system=self.config.system,
            object=obj.name,
            connector=CONNECTOR,
            op="d" if deleted else "u",
            key={obj.key_field: str(key)},
            before=values if deleted else None,
            after=None if deleted else values,
            position=format_position(moment, str(key)),
            source_ts_ms=int(moment.timestamp() * 1000),
        )

    def commit(self, checkpoint: Checkpoint) -> None:
        """Nothing to do: the runner stores the cursors in seamline.offsets."""

    def observe_lag(self) -> None:
        """Age of the stalest object: ~0 right after end_of_stream, else its newest updated_at read."""
        if self._fresh_as_of:
            lag = time.time() - min(self._fresh_as_of.values())
            self.metrics.source_lag_seconds.labels(self.name).set(max(0.0, lag))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
