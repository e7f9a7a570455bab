"""Stateful property tests: random duplicate and out-of-order versions fed to each sink kind, in random batches
and redeliveries. The target always holds each key's highest version, and its record of effects (the postgres
sink's audit table, the ERP simulation's log of executed writes) shows every version took effect at most once,
in increasing order per key."""

from __future__ import annotations

import itertools
import os
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from pydantic import SecretStr

from sandbox.s4hana import S4HanaSim
from seamline.config import KafkaConfig
from seamline.connectors.sink import SinkRecord
from seamline.publisher import Publisher
from sinks.deleted_versions import DeletedVersions
from sinks.postgres.config import PostgresSink
from sinks.postgres.target import AUDIT, TOMBSTONES, PostgresTarget
from tests.sinks.canonical_records import customer as canonical_customer
from tests.sinks.test_http import PARTNERS, rec, s4_config, target_for

KEYS = ("c1", "c2", "c3")
EXAMPLES = 400 if os.environ.get("SEAMLINE_CHAOS") == "full" else 10  # `make chaos` runs the full size


def customer(key: str, version: int) -> dict[str, Any]:
    """Version `version` of `key`: always the same content, as the processor makes it; every fourth deletes."""
    return {
        "id": key,
        "version": version,
        "name": f"{key} v{version}",
        "email": f"{key}@example.com",
        "phone": None,
        "country": "DE",
        "deleted": version % 4 == 0,
        "xrefs": {"erp": key},
        "origin": "erp",
        "updated_at": 1_700_000_000_000 + version,
    }


def expected(delivered: set[tuple[str, int]]) -> dict[str, int]:
    """Key -> the version its row must have: its highest delivered version, unless that one deleted it."""
    highest: dict[str, int] = {}
    for key, version in delivered:
        highest[key] = max(version, highest.get(key, 0))
    return {key: version for key, version in highest.items() if not customer(key, version)["deleted"]}


class Deliveries(RuleBasedStateMachine):
    """Random batches of (key, version) delivered to a sink, and delivered again; `send` writes one."""

    def __init__(self) -> None:
        super().__init__()
        self.delivered: set[tuple[str, int]] = set()
        self.batches: list[list[tuple[str, int]]] = []

    def send(self, batch: list[tuple[str, int]]) -> None:
        raise NotImplementedError

    @rule(batch=st.lists(st.tuples(st.sampled_from(KEYS), st.integers(1, 12)), min_size=1, max_size=8))
    def deliver(self, batch: list[tuple[str, int]]) -> None:
        self.send(batch)
        self.delivered.update(batch)
        self.batches.append(batch)

    @rule(data=st.data())
    def redeliver(self, data: st.DataObject) -> None:
        if self.batches:
            self.send(data.draw(st.sampled_from(self.batches)))


def run(machine: type[RuleBasedStateMachine]) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=12,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def machine(dsn: str, write_path: str) -> type[RuleBasedStateMachine]:
    config = PostgresSink(
        kind="postgres", dsn=SecretStr(dsn), tables={"customer": "customers"}, write_path=write_path, audit=True
    )

    class ShuffledVersions(Deliveries):
        def __init__(self) -> None:
            super().__init__()
            self.target = PostgresTarget(config)
            self.target.setup()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"TRUNCATE customers, {TOMBSTONES}, {AUDIT}")
            self.offset = 0

        def send(self, batch: list[tuple[str, int]]) -> None:
            records = []
            for key, version in batch:
                self.offset += 1
                records.append(
                    SinkRecord(
                        "customer",
                        key,
                        customer(key, version),
                        "canonical.customer",
                        0,
                        self.offset,
                        key.encode(),
                        None,
                    )
                )
            assert self.target.write(records).rejected == []

        @invariant()
        def target_holds_the_highest_versions(self) -> None:
            with psycopg.connect(dsn) as conn:
                rows: dict[str, int] = dict(conn.execute("SELECT id, version FROM customers").fetchall())
                names: dict[str, str] = dict(conn.execute("SELECT id, name FROM customers").fetchall())
            assert rows == expected(self.delivered)
            assert names == {key: f"{key} v{version}" for key, version in rows.items()}

        @invariant()
        def every_version_took_effect_once_in_order(self) -> None:
            with psycopg.connect(dsn) as conn:
                applied = conn.execute(f"SELECT id, version, op FROM {AUDIT} ORDER BY seq").fetchall()
            assert len(applied) == len(set(applied)), f"a version took effect twice: {applied}"
            for key in KEYS:
                versions = [version for gid, version, _ in applied if gid == key]
                assert versions == sorted(set(versions)), f"{key}: versions applied out of order: {versions}"

        def teardown(self) -> None:
            self.target.close()

    return ShuffledVersions


@pytest.mark.parametrize("write_path", ["copy", "executemany"])
def test_the_postgres_sink_ends_at_the_highest_version_whatever_the_order(database: str, write_path: str) -> None:
    run(machine(database, write_path))


def http_machine(sim: S4HanaSim, kafka: KafkaConfig) -> type[RuleBasedStateMachine]:
    """The http sink as its runner drives it: through the deleted versions it keeps in Kafka (a target without
    tombstones would otherwise take an old version redelivered after a delete for a new record)."""
    runs = itertools.count()
    publisher = Publisher(kafka)

    class ShuffledVersionsOverHttp(Deliveries):
        def __init__(self) -> None:
            super().__init__()
            self.start()
            self.numbers = {key: 1000 * next(runs) + n for n, key in enumerate(KEYS)}  # keys of this run alone

        def start(self) -> None:
            self.target = target_for(s4_config(sim, concurrency=4))
            self.deleted = DeletedVersions(kafka, "erp", publisher)
            self.deleted.load()

        def send(self, batch: list[tuple[str, int]]) -> None:
            records = [
                rec("customer", canonical_customer(self.numbers[key], version, deleted=version % 4 == 0))
                for key, version in batch
            ]
            assert self.deleted.write_through(records, self.target.write).rejected == []
            publisher.flush()

        @rule()
        def restart(self) -> None:
            """The sink process starts again: what it deleted is read back from Kafka."""
            self.target.close()
            self.start()

        @invariant()
        def target_holds_the_highest_versions(self) -> None:
            held = {}
            for key, number in self.numbers.items():
                entity = sim.entity(PARTNERS, f"c{number}")
                if entity is not None:
                    held[key] = entity["YY1_SeamlineVersion"]
                    assert entity["BusinessPartnerFullName"] == f"Customer {number} v{held[key]}"
            assert held == expected(self.delivered)

        @invariant()
        def every_version_took_effect_once_in_order(self) -> None:
            for key, number in self.numbers.items():
                versions = [w.body["YY1_SeamlineVersion"] for w in sim.writes if w.key == f"c{number}" and w.body]
                assert versions == sorted(set(versions)), f"{key}: versions written {versions}"

        def teardown(self) -> None:
            self.target.close()

    return ShuffledVersionsOverHttp


def test_the_http_sink_ends_at_the_highest_version_whatever_the_order(kafka: KafkaConfig) -> None:
    with S4HanaSim() as sim:
        run(http_machine(sim, kafka))
