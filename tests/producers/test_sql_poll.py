"""SqlPoll against real PostgreSQL and MariaDB databases: order, ties, resume, updates, deletes, overlap (no Kafka)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from producers.positions import PositionStore
from producers.runner import SourceRunner
from producers.sql_poll.config import SqlPollSource
from producers.sql_poll.source import SqlPoll, format_position, parse_position
from producers.sql_poll.table import connect_engine
from seamline.config import ConfigError, KafkaConfig, load_config
from seamline.connectors.registry import source_kind
from seamline.connectors.source import Checkpoint, Refused, SourceSetupError
from seamline.events import Change, event_id, watermark_order
from seamline.metrics import Metrics
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.stack import StackInfo
from seamline.topics import config_topics, ensure_topics, offsets_topic
from tests.producers.draining import CdcItem, changes_in, idle

T0 = datetime(2026, 11, 22, 4, 5, 6, 123456, tzinfo=UTC)
# The same table in each database; MariaDB's DATETIME(6) keeps microseconds.
CUSTOMERS = {
    "postgresql": "CREATE TABLE customers (id bigint PRIMARY KEY, full_name text, email text, "
    "deleted boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL)",
    "mysql": "CREATE TABLE customers (id bigint PRIMARY KEY, full_name text, email text, "
    "deleted boolean NOT NULL DEFAULT false, updated_at DATETIME(6) NOT NULL)",
}


def naive(value: object) -> object:
    """Datetimes as naive UTC: the helper's sessions run in UTC, and MariaDB takes no zone."""
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value


@dataclass
class Db:
    """A fresh source database with a customers table (id bigint key, updated_at timestamp)."""

    url: str
    engine: sa.Engine
    kafka: KafkaConfig | None = None
    sources: list[SqlPoll] = field(default_factory=list)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def name(self) -> str:
        return str(self.engine.url.database)

    def sql(self, statement: str, *params: object) -> None:
        """Run one statement; params fill the %s placeholders in order."""
        names = [f"p{i}" for i in range(len(params))]
        text = statement % tuple(f":{n}" for n in names) if params else statement
        with self.engine.begin() as conn:
            conn.execute(sa.text(text), {n: naive(v) for n, v in zip(names, params, strict=True)})

    def insert(self, key: int, name: str, at: datetime) -> None:
        self.sql("INSERT INTO customers (id, full_name, updated_at) VALUES (%s, %s, %s)", key, name, at)

    def config(self, **settings: Any) -> SqlPollSource:
        return SqlPollSource(
            kind="sql_poll",
            dsn=SecretStr(self.url),
            system="erp",
            table=settings.pop("table", "customers"),
            poll_interval_s=0.1,
            **settings,
        )

    def source(self, resume: Checkpoint | None = None, **settings: Any) -> tuple[SqlPoll, Iterator[CdcItem | None]]:
        poll = SqlPoll("erp", self.config(**settings), Metrics.create(), self.kafka)
        self.sources.append(poll)
        poll.setup(resume)
        return poll, poll.changes()


def sqlalchemy_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of the parameter's kind, as a SQLAlchemy URL."""
    if request.param == "mariadb":
        return str(request.getfixturevalue("mariadb_database"))
    return "postgresql+psycopg://" + str(request.getfixturevalue("database")).removeprefix("postgresql://")


@pytest.fixture(params=["postgresql", "mariadb"])
def db(request: pytest.FixtureRequest, stack: StackInfo) -> Iterator[Db]:
    """A fresh database of the parameter's kind (on the stack: `stack` is named so that this is no unit test)."""
    url = sqlalchemy_url(request)
    made = Db(url, connect_engine("test", url))
    made.sql(CUSTOMERS[made.dialect])
    yield made
    for poll in made.sources:
        poll.close()
    made.engine.dispose()


def keys(items: list[CdcItem]) -> list[str]:
    return [c.key["id"] for c in changes_in(items)]


def test_rows_come_in_timestamp_key_order_with_keys_values_and_positions(db: Db) -> None:
    db.insert(3, "Ada Lovelace", T0 + timedelta(seconds=2))
    db.insert(1, "Grace Hopper", T0 + timedelta(seconds=5))
    db.insert(2, "Émilie du Châtelet", T0)
    db.sql("UPDATE customers SET email = 'ada@example.com' WHERE id = 3")
    _poll, changes = db.source()
    items = idle(changes)
    changed = changes_in(items)
    assert keys(items) == ["2", "3", "1"]
    first = changed[0]
    assert first.system == "erp" and first.object == "customers" and first.connector == "sql_poll"
    assert first.op == "u" and first.before is None
    assert first.after == {
        "id": 2,
        "full_name": "Émilie du Châtelet",
        "email": None,
        "deleted": False,
        "updated_at": T0,
    }
    assert first.row_schema is not None and dict(first.row_schema.fields)["id"] == '"long"'
    assert changed[1].after is not None and changed[1].after["email"] == "ada@example.com"
    assert first.position == "2026-11-22T04:05:06.123456+00:00|2"
    assert changed[2].position == "2026-11-22T04:05:11.123456+00:00|1"
    assert first.source_ts_ms == int(T0.timestamp() * 1000)
    assert first.envelope()["event_id"] == event_id("erp", "customers", {"id": "2"}, first.position)
    assert items[-1] == Checkpoint(changed[-1].position, snapshot_done=True)
    orders = [watermark_order(c.position) for c in changed]
    assert orders == sorted(orders)


def test_ties_on_one_timestamp_across_batch_boundaries_lose_and_repeat_nothing(db: Db) -> None:
    for key in (10, 2, 11, 1, 9):  # one timestamp; text order would be 1, 10, 11, 2, 9
        db.insert(key, f"n{key}", T0)
    _poll, changes = db.source(batch_size=2)
    items = idle(changes)
    assert keys(items) == ["1", "2", "9", "10", "11"]
    marks = [i.position for i in items if isinstance(i, Checkpoint)]
    assert marks == [format_position(T0, "2"), format_position(T0, "10"), format_position(T0, "11")]
    assert idle(changes, 0.4) == []


def test_resume_from_a_checkpoint_continues_exactly_after_it(db: Db) -> None:
    for key in range(1, 6):
        db.insert(key, f"n{key}", T0 + timedelta(seconds=key // 3))  # 1,2 at T0; 3,4,5 at T0+1s
    first, changes = db.source(batch_size=2)
    items: list[CdcItem] = []
    while sum(isinstance(i, Checkpoint) for i in items) < 2:  # two batches: 1,2 | 3,4
        item = next(changes)
        if item is not None:
            items.append(item)
    checkpoint = items[-1]
    assert isinstance(checkpoint, Checkpoint) and keys(items) == ["1", "2", "3", "4"]
    assert parse_position(checkpoint.position) == (T0 + timedelta(seconds=1), "4")
    first.close()
    db.insert(6, "n6", T0 + timedelta(seconds=1))
    db.insert(0, "n0", T0 - timedelta(seconds=1))  # behind the watermark: not read without overlap
    _second, resumed = db.source(checkpoint, batch_size=2)
    assert keys(idle(resumed)) == ["5", "6"]


def test_an_update_that_bumps_the_timestamp_is_captured_again(db: Db) -> None:
    db.insert(1, "Ada", T0)
    db.insert(2, "Grace", T0 + timedelta(seconds=1))
    _poll, changes = db.source()
    assert keys(idle(changes)) == ["1", "2"]
    db.sql("UPDATE customers SET full_name = 'Ada Lovelace', updated_at = %s WHERE id = 1", T0 + timedelta(seconds=9))
    items = idle(changes)
    assert len(changes_in(items)) == 1
    change = changes_in(items)[0]
    assert change.op == "u" and change.after is not None and change.after["full_name"] == "Ada Lovelace"
    assert change.position == format_position(T0 + timedelta(seconds=9), "1")
    assert items[-1] == Checkpoint(change.position, snapshot_done=True)
    db.sql("UPDATE customers SET full_name = 'not stamped' WHERE id = 2")  # timestamp not bumped: not seen
    assert idle(changes, 0.4) == []


def test_a_soft_deleted_row_is_a_delete(db: Db) -> None:
    db.insert(1, "Ada", T0)
    _poll, changes = db.source(soft_delete_column="deleted")
    assert [c.op for c in changes_in(idle(changes))] == ["u"]
    db.sql("UPDATE customers SET deleted = true, updated_at = %s WHERE id = 1", T0 + timedelta(seconds=1))
    (change,) = changes_in(idle(changes))
    assert change.op == "d" and change.after is None and change.key == {"id": "1"}
    assert change.before is not None and change.before["deleted"] is True


# a date no Python date holds, in each database
NO_DATE = {"postgresql": "0044-03-15 BC", "mysql": "0000-00-00"}


def test_a_row_with_a_value_python_cannot_hold_is_refused_and_its_soft_delete_is_still_a_delete(db: Db) -> None:
    db.sql("ALTER TABLE customers ADD COLUMN born date")
    db.insert(1, "Ada", T0)
    db.sql("UPDATE customers SET born = %s WHERE id = 1", NO_DATE[db.dialect])
    db.insert(2, "Grace", T0 + timedelta(seconds=1))
    poll, changes = db.source(soft_delete_column="deleted")
    refused, published, _checkpoint = idle(changes)
    assert isinstance(refused, Refused) and isinstance(published, Change) and published.key == {"id": "2"}
    assert refused.change.key == {"id": "1"} and refused.change.row_schema is None
    assert refused.change.after is not None and refused.change.after["born"] == NO_DATE[db.dialect]
    assert refused.reason.startswith(f"{db.name if db.dialect == 'mysql' else 'public'}.customers: column born is a")
    assert NO_DATE[db.dialect] not in refused.reason
    db.sql("UPDATE customers SET deleted = true, updated_at = %s WHERE id = 1", T0 + timedelta(seconds=2))
    (deleted,) = changes_in(idle(changes))
    assert (deleted.op, deleted.key, deleted.before, deleted.after) == ("d", {"id": "1"}, {"id": 1}, None)
    errors = {"stage": "source", "kind": "unrepresentable_before"}
    assert poll.metrics.registry.get_sample_value("seamline_errors_total", errors) == 1


def test_overlap_rereads_late_commits_behind_the_watermark(db: Db) -> None:
    db.insert(1, "Ada", T0)
    db.insert(2, "Grace", T0 + timedelta(seconds=30))
    _poll, changes = db.source(overlap_s=60)
    assert keys(idle(changes)) == ["1", "2"]
    db.insert(3, "late", T0 + timedelta(seconds=10))  # committed late, stamped before the watermark
    db.insert(4, "too late", T0 - timedelta(seconds=40))  # older than the overlap window
    items = idle(changes)
    assert keys(items) == ["3"]  # already published rows of the window are not sent again
    assert changes_in(items)[0].position == format_position(T0 + timedelta(seconds=10), "3")
    # after a restart the window is re-published once, with the same positions (same event_ids)
    _again, resumed = db.source(Checkpoint(format_position(T0 + timedelta(seconds=30), "2"), True), overlap_s=60)
    again = idle(resumed)
    assert keys(again) == ["1", "3", "2"]
    assert changes_in(again)[0].position == format_position(T0, "1")


def test_without_overlap_a_late_commit_behind_the_watermark_is_missed(db: Db) -> None:
    db.insert(2, "Grace", T0 + timedelta(seconds=30))
    _poll, changes = db.source()
    assert keys(idle(changes)) == ["2"]
    db.insert(3, "late", T0 + timedelta(seconds=10))
    assert idle(changes, 0.4) == []


def test_text_keys_and_timestamps_without_time_zone(db: Db) -> None:
    if db.dialect == "postgresql":
        db.sql("CREATE SCHEMA crm")
        schema, stamp_type = "crm", "timestamp"
    else:  # a MariaDB schema is a database: use the test's own
        schema, stamp_type = db.name, "DATETIME"
    db.sql(f"CREATE TABLE {schema}.accounts (code varchar(20) PRIMARY KEY, changed {stamp_type} NOT NULL)")
    stamp = datetime(2026, 1, 2, 3, 4, 5)
    for code in ("b", "a", "c|d"):
        db.sql(f"INSERT INTO {schema}.accounts VALUES (%s, %s)", code, stamp)
    _poll, changes = db.source(table=f"{schema}.accounts", key_column="code", timestamp_column="changed", batch_size=1)
    items = idle(changes)
    assert [c.key["code"] for c in changes_in(items)] == ["a", "b", "c|d"]
    assert changes_in(items)[0].object == "accounts"
    assert changes_in(items)[2].position == "2026-01-02T03:04:05.000000+00:00|c|d"
    assert parse_position(changes_in(items)[2].position) == (stamp.replace(tzinfo=UTC), "c|d")
    assert changes_in(items)[2].after == {"code": "c|d", "changed": stamp.replace(tzinfo=UTC)}


def test_missing_table_or_column_is_a_clear_lookup_error(db: Db) -> None:
    schema = "public" if db.dialect == "postgresql" else db.name
    with pytest.raises(LookupError, match=rf"table {schema}\.nowhere does not exist: fix 'table'"):
        db.source(table="nowhere")
    with pytest.raises(LookupError, match=r"no column timestamp_column 'modified_at'.*its columns: id, full_name"):
        db.source(timestamp_column="modified_at")
    with pytest.raises(LookupError, match=r"no column key_column 'code'.*add the column"):
        db.source(key_column="code")
    with pytest.raises(LookupError, match=r"no column soft_delete_column 'gone'"):
        db.source(soft_delete_column="gone")
    with pytest.raises(TypeError, match=r"timestamp_column 'full_name' of \w+\.customers is TEXT"):
        db.source(timestamp_column="full_name")


def publish(db: Db, kafka: KafkaConfig, items: list[CdcItem]) -> Checkpoint | None:
    """Publish changes and commit the newest checkpoint as the source runner does; return that checkpoint."""
    runner = SourceRunner(kafka, db.sources[-1], Metrics.create())
    checkpoint = None
    for item in items:
        if isinstance(item, Change):
            runner._publish(item)
        elif isinstance(item, Checkpoint):
            checkpoint = item
    if checkpoint is not None:
        ensure_topics(kafka, [offsets_topic(kafka)])
        runner._commit(checkpoint)
    runner.publisher.flush()
    return checkpoint


def test_a_hard_deleted_row_is_a_delete_at_the_comparison_time(db: Db, kafka: KafkaConfig) -> None:
    db.kafka = kafka
    db.insert(1, "Ada", T0)
    db.insert(2, "Grace", T0 + timedelta(seconds=1))
    _poll, changes = db.source(delete_detection="key_comparison", key_comparison_interval_s=0.2)
    assert [(c.op, c.key["id"]) for c in changes_in(idle(changes))] == [("u", "1"), ("u", "2")]
    db.sql("DELETE FROM customers WHERE id = 1")
    before = datetime.now(UTC)
    items = idle(changes)
    (deleted,) = changes_in(items)
    at, key = parse_position(deleted.position)
    assert (deleted.op, deleted.key, key) == ("d", {"id": "1"}, "1")
    assert before <= at <= datetime.now(UTC)
    assert deleted.before == {"id": 1} and deleted.after is None
    assert deleted.source_ts_ms == int(at.timestamp() * 1000)
    assert changes_in(idle(changes, 0.5)) == []  # a vanished key is reported once
    db.insert(1, "Ada again", T0 + timedelta(seconds=5))
    assert [(c.op, c.key["id"]) for c in changes_in(idle(changes))] == [("u", "1")]
    db.sql("DELETE FROM customers")
    assert sorted(c.key["id"] for c in changes_in(idle(changes)) if c.op == "d") == ["1", "2"]


def test_a_restart_between_publishing_and_comparing_loses_no_delete(db: Db, kafka: KafkaConfig) -> None:
    db.kafka = kafka
    for key in (1, 2, 3):
        db.insert(key, f"n{key}", T0 + timedelta(seconds=key))
    _first, changes = db.source(delete_detection="key_comparison", key_comparison_interval_s=3600)
    published = idle(changes)
    assert keys(published) == ["1", "2", "3"]
    stored = publish(db, kafka, published)
    assert stored is not None
    db.sources[-1].close()  # gone before it compared again
    db.sql("DELETE FROM customers WHERE id = 2")
    resume = PositionStore(kafka, AvroSerde(kafka), Publisher(kafka)).load("erp")
    assert resume == stored
    _second, resumed = db.source(resume, delete_detection="key_comparison", key_comparison_interval_s=0.2)
    items = idle(resumed, 1.0)
    assert [(c.op, c.key["id"]) for c in changes_in(items)] == [("d", "2")]
    # a crash after the comparison's start was checkpointed and before its deletes were acknowledged:
    # the comparison is redone with the same time, so the delete keeps its event_id
    (started,) = [i for i in items if isinstance(i, Checkpoint) and i.state and "comparing_at" in i.state]
    _third, redone = db.source(started, delete_detection="key_comparison", key_comparison_interval_s=3600)
    (again,) = changes_in(idle(redone))
    assert again.position == changes_in(items)[0].position
    assert again.envelope()["event_id"] == changes_in(items)[0].envelope()["event_id"]


def test_key_comparison_needs_kafka_and_soft_delete_needs_its_column(db: Db) -> None:
    with pytest.raises(SourceSetupError, match=r"source erp: delete_detection 'key_comparison' needs the Kafka"):
        db.source(delete_detection="key_comparison")
    with pytest.raises(ValueError, match=r"delete_detection 'soft_delete' needs soft_delete_column"):
        db.config(delete_detection="soft_delete")


def test_wrong_credentials_or_an_unsupported_url_is_one_clear_line(db: Db) -> None:
    wrong = db.engine.url.set(password="not-the-password").render_as_string(hide_password=False)
    with pytest.raises(ConnectionError) as refused:
        SqlPoll("erp", db.config().model_copy(update={"dsn": SecretStr(wrong)}), Metrics.create()).setup(None)
    message = str(refused.value)
    assert message.startswith("source erp: cannot connect to ")
    assert message.endswith("check host, port, database, user and password in dsn")
    assert "\n" not in message and "not-the-password" not in message
    unknown = db.config().model_copy(update={"dsn": SecretStr("oracle+nodriver://u:p@h/db")})
    with pytest.raises(ValueError, match=r"^source erp: unsupported database URL scheme 'oracle\+nodriver' in dsn"):
        SqlPoll("erp", unknown, Metrics.create()).setup(None)
    with pytest.raises(
        ValueError, match=r"unsupported database URL scheme 'postgresql': use one of postgresql\+psycopg"
    ):
        SqlPollSource.model_validate({"kind": "sql_poll", "dsn": "postgresql://u:p@h/db", "system": "e", "table": "t"})


TYPED = {
    "postgresql": "CREATE TABLE typed (id bigint PRIMARY KEY, small smallint, n integer, amount numeric(10, 2), "
    "ratio double precision, flag boolean, day date, naive timestamp, name varchar(20), ident uuid, doc jsonb, "
    "raw bytea, other interval, updated_at timestamptz NOT NULL)",
    "mysql": "CREATE TABLE typed (id bigint PRIMARY KEY, small smallint, n int, amount decimal(10, 2), "
    "ratio double, flag boolean, day date, naive datetime(6), name varchar(20), ident uuid, doc json, "
    "raw varbinary(16), other time, updated_at DATETIME(6) NOT NULL)",
}
DECIMAL_10_2 = {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}


def test_column_types_become_avro_types_and_values(db: Db) -> None:
    db.sql(TYPED[db.dialect])
    db.sql(
        "INSERT INTO typed VALUES (7, 2, 3, 12.5, 0.25, true, '2026-01-02', '2026-01-02 03:04:05.000006', "
        "'Zoë', '6f1c1c1e-6a7b-4c65-9d3c-0f3f5f6a7b8c', '{\"b\": [1, 2]}', %s, '01:02:03', %s)",
        b"\x00\xffab",
        T0,
    )
    _poll, changes = db.source(table="typed")
    (change,) = changes_in(idle(changes))
    assert change.row_schema is not None
    avro = {name: json.loads(kind) for name, kind in change.row_schema.fields}
    assert avro == {
        "id": "long",
        "small": "int",
        "n": "int",
        "amount": DECIMAL_10_2,
        "ratio": "double",
        "flag": "boolean",
        "day": {"type": "int", "logicalType": "date"},
        "naive": {"type": "long", "logicalType": "timestamp-micros"},
        "name": "string",
        "ident": {"type": "string", "logicalType": "uuid"},
        "doc": "string",
        "raw": "bytes",
        "other": "string",
        "updated_at": {"type": "long", "logicalType": "timestamp-micros"},
    }
    after = change.after
    assert after is not None
    assert after["doc"].replace(" ", "") == '{"b":[1,2]}'
    assert after["other"] in ("1:02:03", "01:02:03")
    assert {k: v for k, v in after.items() if k not in ("doc", "other")} == {
        "id": 7,
        "small": 2,
        "n": 3,
        "amount": Decimal("12.50"),
        "ratio": 0.25,
        "flag": True,
        "day": date(2026, 1, 2),
        "naive": datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        "name": "Zoë",
        "ident": "6f1c1c1e-6a7b-4c65-9d3c-0f3f5f6a7b8c",
        "raw": b"\x00\xffab",
        "updated_at": T0,
    }
    # the values fit the object's Avro schema, so the runner can publish them
    fastavro.schemaless_writer(
        io.BytesIO(), fastavro.parse_schema(json.loads(change.row_schema.envelope_schema())), change.envelope()
    )


def test_position_order_of_sql_poll_positions() -> None:
    def order(position: str) -> tuple[int | str, ...]:
        return watermark_order(position)

    assert order("2026-11-22T04:05:06.123456+00:00|9") < order("2026-11-22T04:05:06.123456+00:00|10")
    assert order("2026-11-22T04:05:06.123456+00:00|10") < order("2026-11-22T04:05:06.123457+00:00|2")
    assert order("2026-11-22T05:05:06+01:00|1") == order("2026-11-22T04:05:06+00:00|1")
    assert order("2026-11-22T04:05:06+00:00|b") < order("2026-11-22T04:05:06+00:00|c|d")
    assert order("2026-11-22T04:05:06+00:00|99") < order("2026-11-22T04:05:06+00:00|a")  # no int/str clash


SQL_POLL_FILE = """\
sources:
  crm:
    kind: sql_poll
    dsn: postgresql+psycopg://seamline:${CRM_PASSWORD}@127.0.0.1:55432/crm
    system: crm
    table: sales.accounts
    overlap_s: 5
    soft_delete_column: is_deleted
"""


def test_a_sql_poll_entry_validates_through_load_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PASSWORD", "s3cret")
    path = tmp_path / "seamline.yaml"
    path.write_text(SQL_POLL_FILE)
    config = load_config(path)
    source = config.sources["crm"]
    assert isinstance(source, SqlPollSource)
    assert source.dsn.get_secret_value() == "postgresql+psycopg://seamline:s3cret@127.0.0.1:55432/crm"
    assert (source.key_column, source.timestamp_column, source.poll_interval_s) == ("id", "updated_at", 1.0)
    assert (source.overlap_s, source.batch_size, source.soft_delete_column) == (5.0, 1000, "is_deleted")
    assert "s3cret" not in repr(config)
    assert "src.crm.accounts" in config_topics(config)
    assert isinstance(source_kind("sql_poll").open("crm", source, KafkaConfig(), Metrics.create()), SqlPoll)

    path.write_text(SQL_POLL_FILE.replace("    table: sales.accounts\n", "    tables: [accounts]\n"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "seamline.yaml:2: sources.crm.table: required key missing: add `table:` here" in str(error.value)
    assert "seamline.yaml:6: sources.crm.tables: not a key of this section" in str(error.value)

    path.write_text(SQL_POLL_FILE.replace("kind: sql_poll", "kind: sql_pol"))
    with pytest.raises(
        ConfigError, match=r"'sql_pol' .* expected tags: 'http_poll', 'postgres_cdc', 'salesforce', 'sql_poll'"
    ):
        load_config(path)

    path.write_text(SQL_POLL_FILE.replace("postgresql+psycopg://", "postgresql://"))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "seamline.yaml:4: sources.crm.dsn: Value error, unsupported database URL scheme 'postgresql'" in str(
        error.value
    )
    assert "s3cret" not in str(error.value)

    path.write_text(SQL_POLL_FILE.replace("batch_size", "x").replace("overlap_s: 5", "batch_size: 0"))
    with pytest.raises(ConfigError, match=r"seamline.yaml:7: sources.crm.batch_size: Input should be greater"):
        load_config(path)
