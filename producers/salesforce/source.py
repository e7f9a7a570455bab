"""Capture of Salesforce objects through SOQL on SystemModstamp, with queryMore paging and queryAll deletes.

Delivery: at-least-once. Each configured object has two cursors, one for live records (query) and one
for deleted ones (queryAll WHERE IsDeleted = true); a cursor is the (SystemModstamp, Id) of the last
record read and means "the next thing to read is strictly after this". The checkpoint position holds
every cursor of the source as JSON, {"Account": {"live": "2026-11-22T04:05:06.123Z|001…", "deleted": …}},
so a restart resumes each object exactly where Kafka's acknowledgements ended. Each change's own position
is its "SystemModstamp|Id", so a re-read record has the same event_id.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Generator, Iterator
from datetime import datetime
from functools import partial

from producers.salesforce.config import SalesforceSource
from producers.salesforce.sf_types import parse_datetime, queried_fields, row_schema, soql_datetime, typed_row
from seamline.connectors.source import Checkpoint, Source, SourceSetupError
from seamline.events import Change
from seamline.metrics import Metrics
from seamline.rows import RowSchema
from seamline.runtime import process_stop
from seamline.salesforce_api import Page, SalesforceApi, SalesforceError

log = logging.getLogger(__name__)

CONNECTOR = "salesforce"
SLOWDOWN = 10  # polls are this many times rarer above usage_slowdown_fraction of the API limit
_STREAMS = ("live", "deleted")

Cursor = tuple[datetime, str]  # (SystemModstamp, Id) of the last record read


def format_cursor(cursor: Cursor) -> str:
    return f"{soql_datetime(cursor[0])}|{cursor[1]}"


def parse_cursor(text: str) -> Cursor:
    stamp, sep, record = text.partition("|")
    if not sep:
        raise ValueError(f"not a salesforce cursor (expected 'SystemModstamp|Id'): {text!r}")
    return parse_datetime(stamp), record


class Salesforce(Source):
    """Polls each configured object for records whose (SystemModstamp, Id) is past its cursor.

    - op: every live record read is an upsert with op "u" (a poll cannot tell a create from an update);
      a record in the recycle bin (IsDeleted true, read through queryAll) is op "d" with the record in
      `before`. Records purged from the recycle bin before a poll are not seen as deleted; on the
      first start the whole recycle bin is read, so deletes of records never published may appear.
    - A record whose transaction committed after the cursor passed its SystemModstamp (a long
      transaction) is missed, as with any timestamp watermark.
    - Ties: records sharing a SystemModstamp (one DML call stamps all its records alike) are read in
      Id order through `SystemModstamp > t OR (SystemModstamp = t AND Id > id)`, so a page or restart
      boundary inside a run of equal stamps loses and repeats nothing.
    - Rows are typed (seamline.rows.RowSchema) from the object's describe at setup; fields added later
      are captured after a restart.
    - Above `usage_slowdown_fraction` of the org's daily API limit polls are SLOWDOWN times rarer; when
      the limit is exhausted (REQUEST_LIMIT_EXCEEDED) the source waits as long and tries again.
    """

    def __init__(self, name: str, config: SalesforceSource, metrics: Metrics) -> None:
        self.name = name
        self.config = config
        self.metrics = metrics
        self._api: SalesforceApi | None = None
        self._fields: dict[str, dict[str, str]] = {}
        self._schemas: dict[str, RowSchema] = {}
        self._cursors: dict[tuple[str, str], Cursor | None] = {}
        self._fresh_as_of: float | None = None
        self._newest_read: float | None = None
        self._slowed = False
        self._exhausted = False

    def setup(self, resume: Checkpoint | None) -> None:
        api = SalesforceApi(self.name, self.config, batch_size=self.config.batch_size)
        try:
            api.login()
            for obj in self.config.objects:
                described = api.describe(obj)
                fields = queried_fields(described)
                missing = {"Id", "SystemModstamp", "IsDeleted"} - set(fields)
                if missing:
                    raise SourceSetupError(
                        f"source {self.name}: object {obj!r} has no {', '.join(sorted(missing))} field, so it "
                        "cannot be polled incrementally: remove it from 'objects'"
                    )
                self._fields[obj] = fields
                self._schemas[obj] = row_schema(self.config.system, obj, fields)
        except BaseException:
            api.close()
            raise
        self._api = api
        stored = json.loads(resume.position) if resume is not None else {}
        for obj in self.config.objects:
            for stream in _STREAMS:
                text = stored.get(obj, {}).get(stream)
                self._cursors[(obj, stream)] = parse_cursor(text) if text else None
        log.info("source %s polls %s after %s", self.name, ", ".join(self.config.objects), resume)

    def changes(self) -> Generator[Change | Checkpoint | None, None, None]:
        while True:
            exhausted = False
            started_at = time.time()
            try:
                for obj in self.config.objects:
                    for stream in _STREAMS:
                        yield from self._read(obj, stream)
                self._fresh_as_of = started_at
            except SalesforceError as exc:
                if exc.code == "REQUEST_LIMIT_EXCEEDED":
                    exhausted = True
                    if not self._exhausted:
                        log.warning(
                            "source %s: the org's daily API limit is exhausted; trying again every %ss",
                            self.name,
                            self.config.poll_interval_s * SLOWDOWN,
                        )
                elif exc.code == "INVALID_QUERY_LOCATOR":
                    log.warning("source %s: a query cursor expired (%s); reading again from the cursor", self.name, exc)
                else:
                    raise
            self._exhausted = exhausted
            slow = self._usage_high() or exhausted
            wait = self.config.poll_interval_s * (SLOWDOWN if slow else 1)
            yield from process_stop.idle(wait)

    def _usage_high(self) -> bool:
        """Whether the API usage is above the configured fraction of the limit; logs each change of state."""
        assert self._api is not None
        if self._api.usage is None:
            return self._slowed
        used, limit = self._api.usage
        high = used >= self.config.usage_slowdown_fraction * limit
        if high and not self._slowed:
            log.warning(
                "source %s: Salesforce API usage %d/%d is above %.0f%% of the daily limit; polling every %ss",
                self.name,
                used,
                limit,
                self.config.usage_slowdown_fraction * 100,
                self.config.poll_interval_s * SLOWDOWN,
            )
        elif self._slowed and not high:
            log.info("source %s: Salesforce API usage %d/%d is low again; normal polling", self.name, used, limit)
        self._slowed = high
        return high

    def _soql(self, obj: str, stream: str) -> str:
        conditions = ["IsDeleted = true"] if stream == "deleted" else []
        cursor = self._cursors[(obj, stream)]
        if cursor is not None:
            stamp, record = soql_datetime(cursor[0]), cursor[1].replace("\\", "\\\\").replace("'", "\\'")
            conditions.append(f"(SystemModstamp > {stamp} OR (SystemModstamp = {stamp} AND Id > '{record}'))")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return f"SELECT {', '.join(self._fields[obj])} FROM {obj}{where} ORDER BY SystemModstamp, Id"

    def _read(self, obj: str, stream: str) -> Iterator[Change | Checkpoint]:
        """Publish every record of one stream past its cursor, a checkpoint after each page."""
        api = self._api
        assert api is not None
        page = self._timed(partial(api.query, self._soql(obj, stream), include_deleted=stream == "deleted"))
        while True:
            for record in page.records:
                change = self._change(obj, stream, record)
                yield change
                self._cursors[(obj, stream)] = parse_cursor(change.position)
                self._newest_read = change.source_ts_ms / 1000
            if page.records:
                yield Checkpoint(self._position(), snapshot_done=True)
            if page.next_url is None:
                return
            page = self._timed(partial(api.more, page.next_url))

    def _timed(self, call: Callable[[], Page]) -> Page:
        started = time.perf_counter()
        page = call()
        self.metrics.poll_seconds.labels(self.name).observe(time.perf_counter() - started)
        return page

    def _change(self, obj: str, stream: str, record: dict[str, object]) -> Change:
        stamp, key = parse_datetime(str(record["SystemModstamp"])), str(record["Id"])
        row = typed_row(self._fields[obj], record)
        deleted = stream == "deleted"
        return Change(
            system=self.config.system,
            object=obj,
            connector=CONNECTOR,
            op="d" if deleted else "u",
            key={"Id": key},
            before=row if deleted else None,
            after=None if deleted else row,
            position=format_cursor((stamp, key)),
            source_ts_ms=int(stamp.timestamp() * 1000),
            row_schema=self._schemas[obj],
        )

    def _position(self) -> str:
        cursors: dict[str, dict[str, str]] = {}
        for (obj, stream), cursor in self._cursors.items():
            if cursor is not None:
                cursors.setdefault(obj, {})[stream] = format_cursor(cursor)
        return json.dumps(cursors, sort_keys=True, separators=(",", ":"))

    def commit(self, checkpoint: Checkpoint) -> None:
        """Nothing to do: the runner stores the cursors in seamline.offsets."""

    def observe_lag(self) -> None:
        as_of = self._fresh_as_of if self._fresh_as_of is not None else self._newest_read
        if as_of is not None:
            self.metrics.source_lag_seconds.labels(self.name).set(max(0.0, time.time() - as_of))

    def close(self) -> None:
        if self._api is not None:
            self._api.close()
            self._api = None
