"""The real `seamline source run` process against the Salesforce simulation and Kafka: SIGKILL, misconfiguration."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from sandbox.salesforce import SalesforceSim
from seamline.config import KafkaConfig
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import end_offset, read_to_end
from seamline.topics import offsets_topic, source_topic
from tests.command import seamline
from tests.conftest import wait_until

OBJECTS = ("Account", "Contact")
CONFIG = """\
kafka:
  bootstrap_servers: "{kafka.bootstrap_servers}"
  schema_registry_url: "{kafka.schema_registry_url}"
  topic_prefix: "{kafka.topic_prefix}"
sources:
  crm:
    kind: salesforce
    login_url: "{url}"
    client_id: "{client_id}"
    client_secret: ${{SF_KILL_TEST_SECRET}}
    objects: [{objects}]
    poll_interval_s: 0.2
    batch_size: 200
    metrics_port: {port}
"""

Version = tuple[str, str, str]  # (object, Id, SystemModstamp as in positions)


def z(stamp: str) -> str:
    return stamp.replace("+0000", "Z")


class Writer(threading.Thread):
    """Inserts, updates and deletes records at random; remembers every version and each record's last one."""

    def __init__(self, sim: SalesforceSim, seed: int) -> None:
        super().__init__(daemon=True)
        self.sim, self.rng = sim, random.Random(seed)
        self.stop = threading.Event()
        self.live: dict[str, list[str]] = {obj: [] for obj in OBJECTS}
        self.written: set[Version] = set()
        self.last: dict[tuple[str, str], tuple[str, str]] = {}  # (object, Id) -> (stamp, op)

    def insert(self, obj: str, count: int = 1) -> None:
        field = "Name" if obj == "Account" else "LastName"
        for record in self.sim.insert_many(obj, [{field: f"r{self.rng.randint(0, 10**6)}"} for _ in range(count)]):
            stamp = z(self.sim.record(obj, record)["SystemModstamp"])
            self.live[obj].append(record)
            self.written.add((obj, record, stamp))
            self.last[(obj, record)] = (stamp, "u")

    def run(self) -> None:
        while not self.stop.is_set():
            obj = self.rng.choice(OBJECTS)
            roll = self.rng.random()
            if roll < 0.35 or len(self.live[obj]) < 5:
                self.insert(obj, self.rng.choice((1, 1, 1, 30)))  # sometimes one DML of many: a tie
            else:
                record = self.rng.choice(self.live[obj])
                if roll < 0.85:
                    field = "Phone" if obj == "Account" else "Email"
                    stamp, op = z(self.sim.update(obj, record, {field: f"v{self.rng.randint(0, 10**6)}"})), "u"
                else:
                    stamp, op = z(self.sim.delete(obj, record)), "d"
                    self.live[obj].remove(record)
                self.written.add((obj, record, stamp))
                self.last[(obj, record)] = (stamp, op)
            time.sleep(self.rng.uniform(0.002, 0.02))


def published(kafka: KafkaConfig) -> dict[Version, set[str]]:
    """Every (object, Id, stamp) in the source topics, with the ops published for it."""
    serde, found = AvroSerde(kafka), defaultdict(set)
    for obj in OBJECTS:
        topic = source_topic(kafka, "crm", obj)
        for message in read_to_end(kafka, topic):
            event = serde.decode(topic, message.value())
            stamp, _, record = event["source"]["position"].partition("|")
            found[(obj, record, stamp)].add(event["op"])
    return found


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_record_version(
    kafka: KafkaConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261122)
    with SalesforceSim() as sim:
        monkeypatch.setenv("SF_KILL_TEST_SECRET", sim.client_secret)
        config = tmp_path / "seamline.yaml"
        config.write_text(
            CONFIG.format(
                kafka=kafka, url=sim.url, client_id=sim.client_id, objects="Account, Contact", port=free_port()
            ),
            encoding="utf-8",
        )
        supervisor = Supervisor(config, tmp_path / "logs", {"source": ["source", "run", "crm"]})
        writer = Writer(sim, seed=rng.randint(0, 10**6))
        writer.insert("Account", 450)  # an initial load of several pages
        writer.insert("Contact", 250)
        try:
            supervisor.start("source")
            writer.start()
            for _ in range(6):
                # Kill while it works: once this run has committed a checkpoint, at a random moment after.
                floor = end_offset(kafka, offsets_topic(kafka))
                committed = lambda floor=floor: end_offset(kafka, offsets_topic(kafka)) > floor  # noqa: E731
                wait_until(committed, 60, "the source to commit a checkpoint", interval=0.5)
                time.sleep(rng.uniform(0.0, 2.0))
                assert supervisor.crashed() == {}, supervisor.log_tail("source")
                supervisor.kill("source")
                time.sleep(rng.uniform(0.0, 1.0))
                supervisor.start("source")
            time.sleep(1.0)
            writer.stop.set()
            writer.join()

            def complete() -> bool:
                assert supervisor.crashed() == {}, supervisor.log_tail("source")
                found = published(kafka)
                return all(
                    op in found.get((obj, record, stamp), ()) for (obj, record), (stamp, op) in writer.last.items()
                )

            wait_until(complete, timeout=120, what="every record's last version in Kafka", interval=2.0)
        finally:
            writer.stop.set()
            supervisor.stop_all()
    found = published(kafka)
    assert set(found) <= writer.written  # nothing that was never written
    assert all(len(ops) == 1 for ops in found.values())  # a version is either an upsert or a delete
    assert len(writer.last) >= 700 and sum(op == "d" for _, op in writer.last.values()) > 0
    log = (tmp_path / "logs" / "source.log").read_text()
    assert log.count("resumes from Checkpoint(") >= 3  # restarts really resumed from stored cursors


@pytest.mark.parametrize(
    ("secret", "objects", "expected"),
    [
        ("wrong", "Account", "source crm: Salesforce at http://127.0.0.1:"),
        (
            None,
            "Account, Acount",
            "source crm: Salesforce has no object 'Acount' visible to this client: fix 'objects'",
        ),
    ],
)
def test_refused_credentials_or_an_unknown_object_stop_the_process_with_one_line(
    kafka: KafkaConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: str | None, objects: str, expected: str
) -> None:
    with SalesforceSim() as sim:
        monkeypatch.setenv("SF_KILL_TEST_SECRET", secret or sim.client_secret)
        config = tmp_path / "seamline.yaml"
        config.write_text(
            CONFIG.format(kafka=kafka, url=sim.url, client_id=sim.client_id, objects=objects, port=free_port())
        )
        done = seamline("source", "run", "crm", "--config", str(config), timeout=120)
    assert done.returncode == 2
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(expected), done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "seamline-secret" not in done.stderr + done.stdout
