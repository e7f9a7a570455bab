"""Whose problem a target's error is: the target's, which every record would meet (the sink pauses and retries until
it is fixed: TargetFailing), one record's (that record goes to the DLQ), or a passing one (retried as it is).

PostgreSQL, by SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html):

- the record's: its values break a rule of the table or of a trigger. Classes 22 (data exception: a value too long,
  out of range, not valid for its type), 23 (integrity constraint: check, unique, foreign key, exclusion, not-null
  of a column the sink writes), 09, 21, 27, 2F, 38, 39 (what a trigger raises), 44 (a view's check option),
  54 (a value past a limit, e.g. an index row too large), P0 (a trigger's RAISE);
- passing: 08 (connection), 40 (deadlock, serialization failure), 57 (shutdown, cancel);
- the target's: every other class, among them 42 (undefined column 42703 or table 42P01, insufficient privilege
  42501, a retyped column), 25 (read-only transaction 25006), 28 (authentication), 3D (no such database),
  53 (disk full 53100, out of memory, too many connections), 55 (lock not available), 58 (I/O error), XX; and a
  not-null violation of a column the sink does not write (one added without a default).

HTTP, by status, once conflicts (409, 412, a 404 on an update or delete: the record changed, read it again) are
set aside: 408, 425, 429, 500, 502, 503, 504 pass; 401, 403, 405, 406, 407, 415, any other 5xx and a 404 on a
create (the collection does not exist) are the target's; any other 4xx (400, 413, 422, ...) is the record's.

Salesforce (sObject Collections): a refusal of a whole call (its fields, its object, the run-as user's access, the
credentials) is the target's; an error in one record's result (validation rule, required field, ...) is the record's.

Zendesk (bulk jobs): a bulk call or read answered 408, 425, 429, 500, 502, 503 or 504 passes; any other refusal of
it is the target's, as it names no record (401, 403, a 404 of the collection, 400 or 422 of the whole call, other
5xx), and so is a job that ends `failed` or `killed`; an item's error in a completed job's results is the record's,
and so is a refusal of one record's delete or merge (404 there: the record is gone, nothing to do).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import psycopg

from seamline.connectors.sink import TargetFailing
from seamline.retry import is_transient

Whose = Literal["record", "passing", "target"]
Operation = Literal["read", "create", "update", "delete"]

RECORD_CLASSES = frozenset({"09", "21", "22", "23", "27", "2F", "38", "39", "44", "54", "P0"})
PASSING_CLASSES = frozenset({"08", "40", "57"})
NOT_NULL_VIOLATION = "23502"

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
TARGET_STATUSES = frozenset({401, 403, 405, 406, 407, 415})

_DATABASE_FIXES = {
    "42703": "add the column back (or restart the sink, which adds the columns it writes)",
    "42P01": "rename or restore the table (or restart the sink, which creates it empty, then `seamline replay` it)",
    "42501": "grant the sink's role SELECT, INSERT, UPDATE and DELETE on its tables and USAGE on their schema",
    "25006": "point the sink's dsn at the primary, or turn default_transaction_read_only off for its database",
    "53100": "free disk space on the database server",
    NOT_NULL_VIOLATION: "give the column a default or drop its NOT NULL: the sink does not write it",
    "28": "fix the user or password in the sink's dsn, or the server's pg_hba.conf",
    "3D": "create the database, or fix its name in the sink's dsn",
    "42": "make the table match what the sink writes: columns and types from the canonical schemas (docs/sinks.md)",
    "53": "give the database server the resources it lacks (memory, connections)",
}
_HTTP_FIXES = {
    401: "fix the sink's auth (user and password, token, or client id and secret)",
    403: "grant the sink's user the authorization for this call in the target",
    404: "fix the sink's base_url or the entity's collection and item paths",
    405: "fix the entity's create and update methods",
    406: "fix the sink's format",
    407: "give the sink the credentials of the proxy in front of the target",
    415: "fix the sink's format",
}


def whose_sqlstate(sqlstate: str, column: str | None = None, written: Collection[str] = ()) -> Whose:
    """Whose problem a PostgreSQL error is, from its SQLSTATE (and, for a not-null violation, its column: one the
    sink does not write fails every record)."""
    if sqlstate == NOT_NULL_VIOLATION and column is not None and column not in written:
        return "target"
    if sqlstate[:2] in RECORD_CLASSES:
        return "record"
    return "passing" if sqlstate[:2] in PASSING_CLASSES else "target"


def whose_database_error(exc: psycopg.Error, written: Collection[str]) -> Whose:
    """Whose problem a psycopg error is; one raised without a SQLSTATE (by the client, or on connecting) is the
    record's when it is about a value (DataError), passing when the retry policy says so, else the target's."""
    if exc.sqlstate is None:
        return "record" if isinstance(exc, psycopg.DataError) else "passing" if is_transient(exc) else "target"
    return whose_sqlstate(exc.sqlstate, exc.diag.column_name, written)


def database_failing(exc: psycopg.Error) -> TargetFailing:
    """The TargetFailing of an error every record would meet: the database's message and what to do about it."""
    state = exc.sqlstate or ""
    fix = _DATABASE_FIXES.get(state) or _DATABASE_FIXES.get(state[:2]) or "fix the database as its message says"
    message = (exc.diag.message_primary or str(exc)).strip()
    return TargetFailing(f"{type(exc).__name__}: {message}", fix)


def whose_status(status: int, operation: Operation) -> Whose:
    """Whose problem an HTTP answer (neither a success nor a conflict) to one record's call is."""
    if status in TRANSIENT_STATUSES:
        return "passing"
    if status in TARGET_STATUSES or status >= 500 or (status == 404 and operation == "create"):
        return "target"
    return "record"


def http_failing(status: int, call: str, detail: str = "", fix: str | None = None) -> TargetFailing:
    """The TargetFailing of an HTTP answer every record would get: `call` names the method and the configured path
    (not a record's), `detail` is the target's error message, `fix` what to do (by default, said per status)."""
    fix = (
        fix
        or _HTTP_FIXES.get(status)
        or ("check the target's health" if status >= 500 else "fix what the target's message says")
    )
    return TargetFailing(f"HTTP {status} from {call}" + (f": {detail}" if detail else ""), fix)
