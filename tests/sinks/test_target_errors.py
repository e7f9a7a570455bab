"""The one rule of whose problem a target's error is: the target's (pause and retry), the record's (DLQ), or passing."""

from __future__ import annotations

import psycopg
import pytest

from seamline.connectors.sink import TargetFailing
from seamline.retry import is_transient
from sinks.target_errors import (
    database_failing,
    http_failing,
    whose_database_error,
    whose_sqlstate,
    whose_status,
)

WRITTEN = {"id", "version", "name", "email", "synced_at"}


@pytest.mark.parametrize(
    ("sqlstate", "whose"),
    [
        ("42703", "target"),  # undefined column
        ("42P01", "target"),  # undefined table
        ("42501", "target"),  # insufficient privilege
        ("42804", "target"),  # datatype mismatch: a column retyped
        ("25006", "target"),  # read-only transaction
        ("53100", "target"),  # disk full
        ("53300", "target"),  # too many connections
        ("28P01", "target"),  # invalid password
        ("28000", "target"),  # invalid authorization
        ("3D000", "target"),  # no such database
        ("55P03", "target"),  # lock not available
        ("58030", "target"),  # I/O error
        ("XX000", "target"),  # internal error
        ("08006", "passing"),  # connection failure
        ("40P01", "passing"),  # deadlock
        ("40001", "passing"),  # serialization failure
        ("57P01", "passing"),  # admin shutdown
        ("23514", "record"),  # check violation
        ("23505", "record"),  # unique violation
        ("23503", "record"),  # foreign key violation
        ("23502", "record"),  # not-null violation, column unknown
        ("22001", "record"),  # value too long
        ("22003", "record"),  # numeric value out of range
        ("54000", "record"),  # index row too large
        ("P0001", "record"),  # a trigger's RAISE
    ],
)
def test_each_sqlstate_is_the_targets_the_records_or_passing(sqlstate: str, whose: str) -> None:
    assert whose_sqlstate(sqlstate) == whose
    assert whose_database_error(psycopg.errors.lookup(sqlstate)(), WRITTEN) == whose


def test_a_not_null_violation_is_the_records_unless_the_sink_does_not_write_the_column() -> None:
    assert whose_sqlstate("23502", "name", WRITTEN) == "record"
    assert whose_sqlstate("23502", "region", WRITTEN) == "target"


def test_errors_without_a_sqlstate_go_by_their_kind() -> None:
    assert whose_database_error(psycopg.DataError("cannot dump a NUL byte"), WRITTEN) == "record"
    assert whose_database_error(psycopg.OperationalError("server closed the connection"), WRITTEN) == "passing"
    assert whose_database_error(psycopg.ProgrammingError("the query has 3 placeholders"), WRITTEN) == "target"


@pytest.mark.parametrize(
    ("sqlstate", "fix"),
    [
        ("42703", "add the column back"),
        ("42P01", "rename or restore the table"),
        ("42501", "grant the sink's role SELECT, INSERT, UPDATE and DELETE"),
        ("25006", "point the sink's dsn at the primary, or turn default_transaction_read_only off"),
        ("53100", "free disk space"),
        ("28P01", "fix the user or password in the sink's dsn"),
        ("42804", "make the table match what the sink writes"),
        ("XX000", "fix the database as its message says"),
    ],
)
def test_a_target_failing_says_what_is_wrong_and_how_to_fix_it(sqlstate: str, fix: str) -> None:
    error = psycopg.errors.lookup(sqlstate)("what the server said")
    failing = database_failing(error)
    assert failing.problem == f"{type(error).__name__}: what the server said"
    assert failing.fix.startswith(fix)
    assert is_transient(failing), "the runner retries it"


@pytest.mark.parametrize(
    ("status", "operation", "whose"),
    [
        (401, "read", "target"),
        (403, "update", "target"),
        (404, "create", "target"),  # the collection does not exist
        (405, "create", "target"),
        (415, "update", "target"),
        (501, "create", "target"),
        (507, "update", "target"),
        (503, "create", "passing"),
        (429, "read", "passing"),
        (408, "update", "passing"),
        (400, "create", "record"),
        (422, "update", "record"),
        (413, "create", "record"),
        (400, "read", "record"),  # a key the target cannot read
        (404, "read", "record"),  # absent: the sink creates it
    ],
)
def test_each_http_status_is_the_targets_the_records_or_passing(status: int, operation: str, whose: str) -> None:
    assert whose_status(status, operation) == whose  # type: ignore[arg-type]


def test_an_http_target_failing_names_the_configured_call_and_the_fix() -> None:
    failing = http_failing(401, "GET /A_BusinessPartner('{key}')", "Logon failed")
    assert str(failing) == (
        "HTTP 401 from GET /A_BusinessPartner('{key}'): Logon failed: fix the sink's auth (user and password, "
        "token, or client id and secret)"
    )
    assert "collection and item paths" in http_failing(404, "POST /nowhere").fix
    assert http_failing(501, "POST /x").fix == "check the target's health"
    assert isinstance(http_failing(403, "PATCH /x"), TargetFailing)
