"""PostgresCdc against a real PostgreSQL database: snapshot, streaming, checkpoints and resume (no Kafka)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, date, datetime
from datetime import time as dt_time
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from producers.postgres_cdc.kind import lsn_order
from producers.postgres_cdc.pgoutput import lsn_from_str, lsn_to_str
from seamline.config import KafkaConfig
from seamline.connectors.source import Checkpoint, Refused, SourceSetupError
from seamline.events import Change, event_id
from seamline.serde import AvroSerde, registry_client, subject_name
from seamline.stack import StackInfo
from tests.producers.conftest import Erp
from tests.producers.draining import checkpoints, idle, take


def test_lsn_text_round_trip() -> None:
    for lsn in (0, 1, 0x16B3748, (0xA << 32) | 0xFFFFFFFF, (0xFFFFFFFF << 32) | 0xFFFFFFFF):
        assert lsn_from_str(lsn_to_str(lsn)) == lsn
    assert lsn_to_str(0x16B3748) == "0/16B3748"
    assert lsn_to_str((1 << 32) | 0xAB) == "1/AB"
    assert lsn_from_str("16/B374D848") == (0x16 << 32) | 0xB374D848


def test_snapshot_rows_then_checkpoint(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    items = take(changes, checkpoints(1))
    *rows, done = items
    assert isinstance(done, Checkpoint) and done.snapshot_done
    assert all(isinstance(r, Change) for r in rows)
    assert sorted((r.op, r.snapshot, r.key["id"], r.before, r.after) for r in rows if isinstance(r, Change)) == [
        ("r", True, "1", None, {"id": 1, "full_name": "Ada Lovelace", "email": "ada@example.com"}),
        ("r", True, "2", None, {"id": 2, "full_name": "Grace Hopper", "email": None}),
    ]
    assert {(r.system, r.object, r.connector) for r in rows if isinstance(r, Change)} == {
        ("erp", "customers", "postgres_cdc")
    }
    assert {lsn_order(r.position)[0] for r in rows if isinstance(r, Change)} == {lsn_from_str(done.position)}


def test_stream_insert_update_delete(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    erp.sql("INSERT INTO customers (id, full_name, email) VALUES (10, 'Alan Turing', 'alan@example.com')")
    erp.sql("UPDATE customers SET email = 'alan@turing.org' WHERE id = 10")
    erp.sql("DELETE FROM customers WHERE id = 10")
    items = take(changes, checkpoints(3))
    assert [type(i).__name__ for i in items] == ["Change", "Checkpoint"] * 3
    insert, update, delete = (i for i in items if isinstance(i, Change))
    alan = {"id": 10, "full_name": "Alan Turing", "email": "alan@example.com"}
    moved = {**alan, "email": "alan@turing.org"}
    assert (insert.op, insert.before, insert.after, insert.snapshot) == ("c", None, alan, False)
    assert (update.op, update.before, update.after) == ("u", alan, moved)
    assert (delete.op, delete.before, delete.after) == ("d", moved, None)
    for change in (insert, update, delete):
        assert change.key == {"id": "10"}
        assert (change.system, change.object, change.connector) == ("erp", "customers", "postgres_cdc")
        assert change.source_ts_ms == pytest.approx(time.time() * 1000, abs=60_000)
    positions = [lsn_order(i.position) for i in items if not isinstance(i, Refused)]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(isinstance(i, Checkpoint) and i.snapshot_done for i in items[1::2])


def test_truncate_is_published_as_op_t(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    erp.sql("TRUNCATE customers")
    erp.sql("INSERT INTO customers (id, full_name) VALUES (20, 'After')")
    truncate, _, insert, _ = take(changes, checkpoints(2))
    assert isinstance(truncate, Change) and isinstance(insert, Change)
    assert (truncate.op, truncate.key, truncate.before, truncate.after) == ("t", {}, None, None)
    assert truncate.row_schema == insert.row_schema
    assert lsn_order(truncate.position) < lsn_order(insert.position)
    assert (insert.op, insert.key) == ("c", {"id": "20"})


def test_one_checkpoint_per_transaction(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    with psycopg.connect(erp.dsn) as conn:  # one transaction, two rows
        conn.execute("INSERT INTO customers (full_name) VALUES ('A'), ('B')")
    items = take(changes, checkpoints(1))
    assert [type(i).__name__ for i in items] == ["Change", "Change", "Checkpoint"]
    first, second, commit = (lsn_order(i.position) for i in items if not isinstance(i, Refused))
    assert first < second < commit


def test_event_id_is_deterministic(erp: Erp) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    erp.sql("INSERT INTO customers (id, full_name) VALUES (20, 'Katherine Johnson')")
    change = take(changes, checkpoints(1))[0]
    assert isinstance(change, Change)
    first, second = change.envelope(), change.envelope()
    assert first["event_id"] == second["event_id"] == event_id("erp", "customers", {"id": "20"}, change.position)
    assert len(str(first["event_id"])) == 32


def test_resume_skips_committed_and_resends_unconfirmed(erp: Erp) -> None:
    cdc, changes = erp.source(None)
    snapshot_done = take(changes, checkpoints(1))[-1]
    assert isinstance(snapshot_done, Checkpoint)
    cdc.commit(snapshot_done)
    erp.sql("INSERT INTO customers (id, full_name) VALUES (30, 'committed')")
    committed = take(changes, checkpoints(1))
    assert isinstance(committed[-1], Checkpoint)
    cdc.commit(committed[-1])
    erp.sql("INSERT INTO customers (id, full_name) VALUES (31, 'unconfirmed')")
    unconfirmed = take(changes, checkpoints(1))
    idle(changes, 1.0)  # let the feedback reach the server before the connection goes
    cdc.close()
    erp.sql("INSERT INTO customers (id, full_name) VALUES (32, 'while away')")

    resumed, changes = erp.source(Checkpoint(committed[-1].position, snapshot_done=True))
    items = take(changes, checkpoints(2))
    items += idle(changes, 1.0)
    got = [(i.key["id"], i.op, i.snapshot) for i in items if isinstance(i, Change)]
    assert got == [("31", "c", False), ("32", "c", False)]
    again = items[0]
    assert isinstance(again, Change) and isinstance(unconfirmed[0], Change)
    assert again.envelope()["event_id"] == unconfirmed[0].envelope()["event_id"]
    resumed.close()


def test_slot_without_finished_snapshot_resnapshots(erp: Erp) -> None:
    cdc, changes = erp.source(None)
    first = take(changes, lambda items: len(items) >= 1)  # snapshot started, never finished
    assert isinstance(first[0], Change) and first[0].op == "r"
    changes.close()  # as when the process dies mid-snapshot
    cdc.close()
    erp.sql("INSERT INTO customers (id, full_name) VALUES (40, 'Hedy Lamarr')")

    _again, changes = erp.source(None)
    items = take(changes, checkpoints(1))
    snapshot = sorted(i.key["id"] for i in items if isinstance(i, Change) and i.op == "r" and i.snapshot)
    assert snapshot == ["1", "2", "40"]
    assert isinstance(items[-1], Checkpoint) and items[-1].snapshot_done
    assert idle(changes, 1.0) == []


KINDS = """
CREATE TYPE mood AS ENUM ('happy', 'so so', 'sad');
CREATE DOMAIN positive AS integer CHECK (VALUE > 0);
CREATE TABLE kinds (
    id bigint PRIMARY KEY, flag boolean, small smallint, whole integer, big bigint, ratio real, wide double precision,
    price numeric(10, 2), exact numeric, born date, alarm time, local timestamp, moment timestamptz, ident uuid,
    doc jsonb, raw json, data bytea, tags text[], counts integer[], feeling mood, feelings mood[], span interval,
    amount positive, address inet
)
"""
KINDS_ROW = """
INSERT INTO kinds VALUES (%s, true, -3, 42, 9007199254740993, 1.5, 2.25, 1234.5, 3.14159265358979323846,
    '2024-02-29', '13:14:15.123456', '2024-02-29 13:14:15.5', '2024-02-29 13:14:15.5+02',
    'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"b": [1, 2]}', '{"a":1}', '\\x00ff', ARRAY['x', NULL, 'y z'],
    '{1,2,3}', 'so so', '{happy,sad}', '1 day 2 hours', 7, '10.0.0.1')
"""
KINDS_VALUES = {
    "flag": True,
    "small": -3,
    "whole": 42,
    "big": 9007199254740993,
    "ratio": 1.5,
    "wide": 2.25,
    "price": Decimal("1234.50"),
    "exact": "3.14159265358979323846",
    "born": date(2024, 2, 29),
    "alarm": dt_time(13, 14, 15, 123456),
    "local": datetime(2024, 2, 29, 13, 14, 15, 500000),
    "moment": datetime(2024, 2, 29, 11, 14, 15, 500000, tzinfo=UTC),
    "ident": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "doc": '{"b": [1, 2]}',
    "raw": '{"a":1}',
    "data": b"\x00\xff",
    "tags": ["x", None, "y z"],
    "counts": [1, 2, 3],
    "feeling": "so so",
    "feelings": ["happy", "sad"],
    "span": "P1DT2H",
    "amount": 7,
    "address": "10.0.0.1",
}


def test_column_types_map_to_avro_the_same_in_snapshot_and_stream(erp: Erp, kafka: KafkaConfig) -> None:
    erp.sql(KINDS)
    erp.sql(KINDS_ROW, 1)
    _cdc, changes = erp.source(None, tables=["kinds"])
    snapshot = take(changes, checkpoints(1))[0]
    erp.sql(KINDS_ROW, 2)
    streamed = take(changes, checkpoints(1))[0]
    assert isinstance(snapshot, Change) and isinstance(streamed, Change)
    assert snapshot.row_schema == streamed.row_schema is not None
    serde = AvroSerde(kafka)
    topic = f"{kafka.topic_prefix}src.erp.kinds"
    for change, key in ((snapshot, 1), (streamed, 2)):
        assert change.after == {"id": key, **KINDS_VALUES}
        schema = change.row_schema.envelope_schema() if change.row_schema else None
        decoded = serde.decode(topic, serde.encode(topic, change.envelope(), schema=schema))
        assert decoded["after"] == {"id": key, **KINDS_VALUES, "ident": uuid.UUID(str(KINDS_VALUES["ident"]))}
    fields = {
        f["name"]: f["type"][1]
        for f in json.loads(streamed.row_schema.envelope_schema())["fields"][1]["type"][1]["fields"]
    }
    assert fields["price"] == {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}
    assert fields["moment"] == {"type": "long", "logicalType": "timestamp-micros"}
    assert fields["feeling"] == {"type": "string", "pg.enum": ["happy", "so so", "sad"]}
    assert fields["counts"] == {"type": "array", "items": ["null", "int"]}


def test_infinite_timestamps_are_clamped_and_a_nan_decimal_is_refused_without_stopping_the_stream(erp: Erp) -> None:
    erp.sql("CREATE TABLE odd (id int PRIMARY KEY, moment timestamptz, price numeric(6, 2))")
    _cdc, changes = erp.source(None, tables=["odd"])
    take(changes, checkpoints(1))
    erp.sql("INSERT INTO odd VALUES (1, 'infinity', 'NaN'), (2, '-infinity', 1), (3, 'infinity', 2)")
    refused, *published, _ = take(changes, checkpoints(1))
    assert isinstance(refused, Refused)
    assert refused.change.key == {"id": "1"} and refused.change.row_schema is None
    assert refused.change.after == {"id": "1", "moment": "infinity", "price": "NaN"}
    assert refused.reason.startswith("public.odd: column price is NaN, which an Avro decimal cannot hold")
    assert [change.after for change in published if isinstance(change, Change)] == [
        {"id": 2, "moment": datetime.min.replace(tzinfo=UTC), "price": Decimal("1.00")},
        {"id": 3, "moment": datetime.max.replace(tzinfo=UTC), "price": Decimal("2.00")},
    ]


def test_columns_added_and_dropped_while_streaming_register_compatible_versions(erp: Erp, kafka: KafkaConfig) -> None:
    _cdc, changes = erp.source(None)
    take(changes, checkpoints(1))
    erp.sql("ALTER TABLE customers ADD COLUMN vip boolean")
    erp.sql("INSERT INTO customers (id, full_name, vip) VALUES (50, 'Added', true)")
    erp.sql("ALTER TABLE customers DROP COLUMN email")
    erp.sql("INSERT INTO customers (id, full_name, vip) VALUES (51, 'Dropped', false)")
    added, _, dropped, _ = take(changes, checkpoints(2))
    assert isinstance(added, Change) and isinstance(dropped, Change)
    assert added.after == {"id": 50, "full_name": "Added", "email": None, "vip": True}
    assert dropped.after == {"id": 51, "full_name": "Dropped", "vip": False}
    serde = AvroSerde(kafka)
    topic = f"{kafka.topic_prefix}src.erp.customers"
    for change in (added, dropped):
        assert change.row_schema is not None
        serde.encode(topic, change.envelope(), schema=change.row_schema.envelope_schema())
    assert len(registry_client(kafka).get_versions(subject_name(topic, key=False))) == 2


def test_heartbeats_let_an_idle_table_release_wal(erp: Erp) -> None:
    erp.sql("CREATE TABLE busy (id serial PRIMARY KEY, note text)")
    cdc, changes = erp.source(None, heartbeat_interval_s=0.2)
    for item in take(changes, checkpoints(1)):
        if isinstance(item, Checkpoint):
            cdc.commit(item)
    erp.sql("INSERT INTO busy (note) SELECT repeat('x', 200) FROM generate_series(1, 5000)")
    with psycopg.connect(erp.dsn, autocommit=True) as conn:
        current = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert current is not None, "a SELECT without FROM returns one row"
        written = current[0]

        def confirmed() -> int:
            row = conn.execute(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (erp.slot,)
            ).fetchone()
            assert row is not None, f"slot {erp.slot} exists"
            return lsn_from_str(row[0])

        deadline = time.monotonic() + 20
        while confirmed() < lsn_from_str(written):
            assert time.monotonic() < deadline, "the slot did not advance past WAL written for other tables"
            for item in idle(changes, 0.3):
                assert isinstance(item, Checkpoint), "the idle table produced a change"
                cdc.commit(item)


def test_setup_errors_say_what_to_fix(erp: Erp, stack: StackInfo) -> None:
    wrong = erp.dsn.replace("seamline:seamline@", "seamline:wrong@")
    problems: dict[str, dict[str, Any]] = {
        "cannot connect to PostgreSQL": {"dsn": SecretStr(wrong)},
        "table public.nowhere does not exist": {"tables": ["nowhere"]},
        "has no primary key": {"tables": ["nokey"]},
    }
    erp.sql("CREATE TABLE nokey (note text)")
    for expected, overrides in problems.items():
        with pytest.raises(SourceSetupError, match=expected):
            erp.source(None, **overrides)
    role = f"r{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.postgres_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    try:
        erp.sql("CREATE TABLE seamline_signal (id text PRIMARY KEY, type text NOT NULL, data text)")
        erp.sql(f"GRANT SELECT ON customers TO {role}")
        limited = erp.dsn.replace("seamline:seamline@", f"{role}:pw@")
        with pytest.raises(SourceSetupError, match="not allowed to create or extend publication"):
            erp.source(None, dsn=SecretStr(limited))
        erp.sql(f"ALTER TABLE customers OWNER TO {role}")
        erp.sql(f"ALTER TABLE seamline_signal OWNER TO {role}")
        erp.sql(f"GRANT CREATE ON DATABASE {erp.dsn.rsplit('/', 1)[1]} TO {role}")
        with pytest.raises(SourceSetupError, match="REPLICATION attribute"):
            erp.source(None, dsn=SecretStr(limited))
    finally:
        erp.sql(f"DROP PUBLICATION IF EXISTS {erp.publication}")
        erp.sql(f"REASSIGN OWNED BY {role} TO seamline")
        erp.sql(f"DROP OWNED BY {role}")
        with psycopg.connect(stack.postgres_dsn, autocommit=True) as admin:
            admin.execute(f"DROP ROLE {role}")
