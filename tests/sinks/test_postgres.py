"""PostgresTarget against a real, fresh PostgreSQL database: version-guarded upserts, deletes and rejections."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from seamline.connectors.sink import Outcome, SinkRecord
from seamline.stack import StackInfo
from sinks.postgres.config import PostgresSink
from sinks.postgres.target import PostgresTarget

ROW = (
    "SELECT id, version, name, email, phone, country, xrefs, origin, updated_at, synced_at FROM customers WHERE id = %s"
)


@pytest.fixture
def target(database: str) -> Iterator[PostgresTarget]:
    sink = PostgresTarget(PostgresSink(kind="postgres", dsn=SecretStr(database), tables={"customer": "customers"}))
    sink.setup()
    yield sink
    sink.close()


_offsets = iter(range(1_000_000))


def customer(id: str, version: int, *, name: str | None = "Ada Lovelace", deleted: bool = False) -> dict[str, Any]:
    return {
        "id": id,
        "version": version,
        "name": name,
        "email": "ada@example.com",
        "phone": "+441234567890",
        "country": "GB",
        "deleted": deleted,
        "xrefs": {"erp": "7"},
        "origin": "erp",
        "updated_at": 1_700_000_000_000 + version,
    }


def record(id: str, value: dict[str, Any] | None) -> SinkRecord:
    return SinkRecord("customer", id, value, "canonical.customer", 0, next(_offsets), id.encode(), None)


def row(dsn: str, id: str) -> tuple[Any, ...] | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute(ROW, (id,)).fetchone()


def test_setup_creates_the_table(target: PostgresTarget, database: str) -> None:
    with psycopg.connect(database) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'customers' ORDER BY ordinal_position"
        ).fetchall()
        key = conn.execute(
            "SELECT a.attname FROM pg_index i "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = 'customers'::regclass AND i.indisprimary"
        ).fetchall()
    assert dict(columns) == {
        "id": "text",
        "version": "bigint",
        "name": "text",
        "email": "text",
        "phone": "text",
        "country": "text",
        "tax_id": "text",
        "street": "text",
        "postcode": "text",
        "city": "text",
        "xrefs": "jsonb",
        "links": "jsonb",
        "origin": "text",
        "updated_at": "timestamp with time zone",
        "merged_into": "text",
        "synced_at": "timestamp with time zone",
    }
    assert key == [("id",)]


def test_setup_twice_keeps_rows(target: PostgresTarget, database: str) -> None:
    target.write([record("c1", customer("c1", 1))])
    target.setup()
    assert row(database, "c1") is not None


def test_upsert_inserts(target: PostgresTarget, database: str) -> None:
    assert target.write([record("c1", customer("c1", 1))]) == Outcome()
    got = row(database, "c1")
    assert got is not None
    assert got[:8] == ("c1", 1, "Ada Lovelace", "ada@example.com", "+441234567890", "GB", {"erp": "7"}, "erp")
    assert got[8].timestamp() == pytest.approx(1_700_000_000.001)


def test_newer_version_updates(target: PostgresTarget, database: str) -> None:
    target.write([record("c1", customer("c1", 1))])
    before = row(database, "c1")
    assert target.write([record("c1", customer("c1", 2, name="Ada King"))]) == Outcome()
    after = row(database, "c1")
    assert after is not None and before is not None
    assert (after[1], after[2]) == (2, "Ada King")
    assert after[9] > before[9]


@pytest.mark.parametrize("stale_version", [1, 2])
def test_older_or_equal_version_changes_nothing(target: PostgresTarget, database: str, stale_version: int) -> None:
    target.write([record("c1", customer("c1", 2))])
    before = row(database, "c1")
    time.sleep(0.01)  # so an unwanted update would show in synced_at
    assert target.write([record("c1", customer("c1", stale_version, name="Stale"))]) == Outcome()
    assert row(database, "c1") == before


def test_deleted_record_removes_row(target: PostgresTarget, database: str) -> None:
    target.write([record("c1", customer("c1", 1))])
    assert target.write([record("c1", customer("c1", 2, deleted=True))]) == Outcome()
    assert row(database, "c1") is None


def test_older_version_after_delete_stays_deleted(target: PostgresTarget, database: str) -> None:
    target.write([record("c1", customer("c1", 1))])
    target.write([record("c1", customer("c1", 3, deleted=True))])
    assert target.write([record("c1", customer("c1", 2)), record("c1", customer("c1", 3))]) == Outcome()
    assert row(database, "c1") is None


def test_tombstone_after_deleted_record(target: PostgresTarget, database: str) -> None:
    target.write([record("c1", customer("c1", 1)), record("c2", customer("c2", 1))])
    assert target.write([record("c1", customer("c1", 2, deleted=True)), record("c1", None)]) == Outcome()
    assert row(database, "c1") is None
    assert row(database, "c2") is not None
    assert target.write([record("c1", customer("c1", 1))]) == Outcome()
    assert row(database, "c1") is None


def test_newer_version_recreates_after_delete(target: PostgresTarget, database: str) -> None:
    target.write([record("c1", customer("c1", 1))])
    target.write([record("c1", customer("c1", 2, deleted=True)), record("c1", None)])
    assert target.write([record("c1", customer("c1", 3, name="Ada Again"))]) == Outcome()
    got = row(database, "c1")
    assert got is not None and (got[1], got[2]) == (3, "Ada Again")


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([(1, False), (2, True)], None),
        ([(1, False), (2, True), (3, False)], 3),
        ([(1, False), (2, True), None, (3, False)], 3),
        ([(3, False), (2, True)], 3),
        ([(1, False), (2, False), (3, True), None], None),
    ],
    ids=["upsert-delete", "upsert-delete-recreate", "delete-tombstone-recreate", "stale-delete", "delete-tombstone"],
)
def test_mixed_batch_ends_in_order_state(
    target: PostgresTarget, database: str, versions: list[tuple[int, bool] | None], expected: int | None
) -> None:
    batch = [record("c1", None if v is None else customer("c1", v[0], deleted=v[1])) for v in versions]
    assert target.write(batch) == Outcome()
    got = row(database, "c1")
    assert (got[1] if got else None) == expected


def test_refused_record_is_rejected_and_rest_written(target: PostgresTarget, database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("ALTER TABLE customers ADD CONSTRAINT name_not_blocked CHECK (name <> 'BLOCKED')")
    batch = [
        record("c1", customer("c1", 1)),
        record("c2", customer("c2", 1, name="BLOCKED")),
        record("c3", customer("c3", 1)),
    ]
    rejected = target.write(batch).rejected
    assert [r.record for r in rejected] == [batch[1]]
    assert "customers" in rejected[0].reason and "name_not_blocked" in rejected[0].reason
    assert rejected[0].error_class == "CheckViolation"
    assert row(database, "c1") is not None and row(database, "c3") is not None
    assert row(database, "c2") is None


def test_a_refusal_quoting_the_record_reaches_the_dlq_without_its_values(target: PostgresTarget, database: str) -> None:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'customer % (%) is on the block list', NEW.name, NEW.email; END $$"
        )
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON customers FOR EACH ROW EXECUTE FUNCTION refuse()")
    value = {**customer("c1", 1, name="Grace Hopper"), "email": "grace@example.com"}
    rejected = target.write([record("c1", value)]).rejected
    assert [r.reason for r in rejected] == ["customers: customer <value> (<value>) is on the block list"]


TABLES = {"customer": "customers", "product": "products", "sales_order": "orders", "inventory_level": "stock"}
LINES = "SELECT sales_order_id, line_number, product_id, quantity FROM orders_lines ORDER BY 1, 2"


def order(version: int, *lines: tuple[int, str, str], deleted: bool = False) -> dict[str, Any]:
    return {
        "id": "o1",
        "version": version,
        "order_number": "SO-1",
        "customer_id": "c1",
        "status": "open",
        "order_date": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "currency": "EUR",
        "total_amount": Decimal("1234.5000"),
        "lines": [
            {"line_number": n, "product_id": product, "quantity": Decimal(quantity), "unit_price": None}
            for n, product, quantity in lines
        ],
        "deleted": deleted,
        "xrefs": {"erp": "5"},
        "links": ["erp.sales_orders:5"],
        "origin": "erp",
        "updated_at": 1_700_000_000_000 + version,
        "merged_into": None,
    }


@pytest.fixture(params=["copy", "executemany"])
def all_tables(
    database: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PostgresTarget]:
    """A sink of every entity on each write path; a batch that fails as a whole fails the test (these batches
    hold nothing the database refuses, so falling back to writing records one by one would hide a bug)."""
    config = PostgresSink(kind="postgres", dsn=SecretStr(database), tables=TABLES, write_path=request.param)
    sink = PostgresTarget(config)

    def no_fallback(*_: object) -> None:
        raise AssertionError(f"the {request.param} path failed on a batch the database accepts")

    monkeypatch.setattr(sink, "_write_one_by_one", no_fallback)
    sink.setup()
    yield sink
    sink.close()


def order_record(value: dict[str, Any] | None) -> SinkRecord:
    return SinkRecord("sales_order", "o1", value, "canonical.sales_order", 0, next(_offsets), b"o1", None)


def fetch(database: str, query: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database) as conn:
        return conn.execute(query).fetchall()


def test_every_canonical_entity_gets_a_typed_table_and_order_lines_a_child_table(
    all_tables: PostgresTarget, database: str
) -> None:
    assert all_tables.write([order_record(order(1, (1, "p1", "2.000")))]) == Outcome()
    assert fetch(database, "SELECT total_amount, order_date, links FROM orders") == [
        (Decimal("1234.5000"), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), ["erp.sales_orders:5"])
    ]
    assert fetch(database, LINES) == [("o1", 1, "p1", Decimal("2.000"))]
    types = dict(
        fetch(
            database,
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
            "WHERE table_name IN ('orders', 'orders_lines', 'stock', 'products')",
        )
    )
    assert types["orders.total_amount"] == "numeric" and types["orders.order_date"] == "timestamp with time zone"
    assert types["orders_lines.quantity"] == "numeric" and "orders.lines" not in types
    assert types["stock.quantity_on_hand"] == "numeric" and "products.sku" in types


def test_lines_follow_the_newest_version_of_their_order_and_go_with_it(
    all_tables: PostgresTarget, database: str
) -> None:
    all_tables.write([order_record(order(1, (1, "p1", "2"), (2, "p2", "1")))])
    all_tables.write([order_record(order(3, (1, "p1", "5")))])
    assert fetch(database, LINES) == [("o1", 1, "p1", Decimal("5.000"))]
    all_tables.write([order_record(order(2, (1, "p9", "9"), (2, "p9", "9")))])  # an older version, redelivered
    assert fetch(database, LINES) == [("o1", 1, "p1", Decimal("5.000"))]
    all_tables.write([order_record(order(4, deleted=True)), order_record(None)])
    assert fetch(database, "SELECT id FROM orders") == [] and fetch(database, LINES) == []


def test_a_batch_with_several_versions_of_one_order_writes_the_newest(
    all_tables: PostgresTarget, database: str
) -> None:
    batch = [order_record(order(v, (1, "p1", str(v)))) for v in (2, 1, 5, 3)]
    assert all_tables.write(batch) == Outcome()
    assert fetch(database, "SELECT version FROM orders") == [(5,)]
    assert fetch(database, LINES) == [("o1", 1, "p1", Decimal("5.000"))]


def test_setup_adds_the_columns_a_schema_gained_and_keeps_the_rows(database: str) -> None:
    with psycopg.connect(database) as conn:
        conn.execute("CREATE TABLE customers (id text PRIMARY KEY, version bigint NOT NULL, name text)")
        conn.execute("INSERT INTO customers VALUES ('c0', 1, 'Before')")
    sink = PostgresTarget(PostgresSink(kind="postgres", dsn=SecretStr(database), tables={"customer": "customers"}))
    sink.setup()
    try:
        assert sink.write([record("c1", customer("c1", 1))]) == Outcome()
    finally:
        sink.close()
    assert fetch(database, "SELECT id, name, email FROM customers ORDER BY id") == [
        ("c0", "Before", None),
        ("c1", "Ada Lovelace", "ada@example.com"),
    ]


def test_a_dropped_connection_is_transient_and_the_next_attempt_reconnects(
    target: PostgresTarget, database: str, stack: StackInfo
) -> None:
    target.write([record("c1", customer("c1", 1))])
    with psycopg.connect(stack.postgres_dsn, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database.rsplit("/", 1)[1],),
        )
    with pytest.raises(psycopg.OperationalError):
        target.write([record("c1", customer("c1", 2, name="Ada King"))])
    assert target.write([record("c1", customer("c1", 2, name="Ada King"))]) == Outcome()
    assert fetch(database, "SELECT name FROM customers") == [("Ada King",)]
