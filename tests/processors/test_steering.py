"""Stewards steer the merges on the real stack: suggestions accepted and rejected and a wrong merge split through
the command line, applied by a running processor within seconds; then a processor with fresh state replays the
source topics and rebuilds the same golden ids and records."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from processors.identity import born_id
from seamline.config import KafkaConfig
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end, record_position
from seamline.topics import canonical_topic
from tests.command import seamline
from tests.conftest import wait_until
from tests.processors.raw_events import RawChange, publish
from tests.processors.test_decisions import CONFIG

ROWS = [
    ("erp.customers", "1", {"name": "Anna Rossi", "email": "anna@example.it", "zip": "20121"}),
    ("shop.customers", "s1", {"name": "Anna Rosi", "email": "rossi.anna@example.it", "zip": "20121"}),
    ("erp.customers", "2", {"name": "Marco Bianchi", "email": "marco@example.it", "zip": "10121"}),
    ("shop.customers", "s2", {"name": "Marco Bianchi", "email": "m.bianchi@example.com", "zip": "10121"}),
    ("erp.customers", "3", {"name": "Li Wei", "email": "li.wei@example.cn", "zip": "100000"}),
    ("shop.customers", "s3", {"name": "Wei Li Trading", "email": "li.wei@example.cn", "zip": "200000"}),
]
ANNA, ANNA_SHOP = born_id("erp.customers:1"), born_id("shop.customers:s1")
MARCO, MARCO_SHOP = born_id("erp.customers:2"), born_id("shop.customers:s2")
LI, LI_SHOP = born_id("erp.customers:3"), born_id("shop.customers:s3")


def content(records: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    skip = ("version", "updated_at", "origin")
    return {gid: {k: v for k, v in r.items() if k not in skip} for gid, r in records.items()}


@pytest.mark.slow
def test_accept_reject_and_split_hold_through_a_replay(kafka: KafkaConfig, tmp_path: Path) -> None:
    changes = [
        RawChange(s, k, row, tick=i + 1, ts_ms=1_767_225_600_000 + i * 1000) for i, (s, k, row) in enumerate(ROWS)
    ]
    publish(kafka, changes)
    topic, serde = canonical_topic(kafka, "customer"), AvroSerde(kafka)
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    steward_config = tmp_path / "steward.yaml"
    steward_config.write_text(yaml.safe_dump({"kafka": kafka_section, "processor": CONFIG}))

    def live(start: dict[int, int]) -> dict[str, dict[str, Any]]:
        """The live customers written from the offsets `start` on."""
        records: dict[str, dict[str, Any]] = {}
        for message in read_to_end(kafka, topic):
            _, partition, offset = record_position(message)
            if offset >= start.get(partition, 0):
                key, value = serde.decode(topic, message.key(), key=True), serde.decode(topic, message.value())
                if value is None or value["deleted"]:
                    records.pop(key, None)
                else:
                    records[key] = value
        return records

    def processor(app_id: str) -> tuple[Supervisor, dict[int, int]]:
        """A processor of fresh state, started; where the canonical topic ended before it."""
        start = {partition: offset + 1 for _, partition, offset in map(record_position, read_to_end(kafka, topic))}
        config = tmp_path / f"{app_id}.yaml"
        section = {**CONFIG, "app_id": f"{kafka.topic_prefix}{app_id}", "metrics_port": free_port()}
        config.write_text(
            yaml.safe_dump({"kafka": kafka_section, "processor": {**section, "data_dir": str(tmp_path / app_id)}})
        )
        supervisor = Supervisor(config, tmp_path / "logs", {app_id: ["process"]})
        supervisor.start(app_id)
        return supervisor, start

    def until(supervisor: Supervisor, app_id: str, check: Callable[[], bool], what: str) -> None:
        def alive_and(check: Callable[[], bool]) -> bool:
            assert supervisor.crashed() == {}, supervisor.log_tail(app_id)
            return check()

        wait_until(lambda: alive_and(check), 180, what, interval=1.0)

    def steward(*args: str) -> str:
        done = seamline(*args, "--config", str(steward_config), timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout + done.stderr

    supervisor, start = processor("first")
    try:
        until(supervisor, "first", lambda: set(live(start)) == {ANNA, ANNA_SHOP, MARCO, MARCO_SHOP, LI}, "5 customers")
        open_pairs: dict[frozenset[str], str] = {}

        def suggested() -> bool:
            listed = [json.loads(line) for line in steward("suggestions", "list", "--json").splitlines() if line]
            open_pairs.update({frozenset(s["golden_ids"]): s["id"] for s in listed if s["id"]})
            return {frozenset((ANNA, ANNA_SHOP)), frozenset((MARCO, MARCO_SHOP))} <= set(open_pairs)

        until(supervisor, "first", suggested, "both look-alike pairs to be suggested")
        shown = steward("suggestions", "show", open_pairs[frozenset((ANNA, ANNA_SHOP))])
        assert "Anna Rossi" in shown and "Anna Rosi" in shown
        steward("suggestions", "accept", open_pairs[frozenset((ANNA, ANNA_SHOP))], "--note", "same person")
        steward("suggestions", "reject", "--pair", MARCO, MARCO_SHOP)
        steward("golden", "split", LI, "--keep", "erp.customers:3")
        expected_links = {
            ANNA: ["erp.customers:1", "shop.customers:s1"],
            MARCO: ["erp.customers:2"],
            MARCO_SHOP: ["shop.customers:s2"],
            LI: ["erp.customers:3"],
            LI_SHOP: ["shop.customers:s3"],
        }
        until(
            supervisor,
            "first",
            lambda: {gid: r["links"] for gid, r in live(start).items()} == expected_links,
            "the merge accepted and the split made",
        )
        merged = live(start)[ANNA]
        assert merged["origin"] == "steward"
        # The rejected pair now shares an e-mail address: still two customers
        same_mail = {**ROWS[3][2], "email": "marco@example.it"}
        publish(kafka, [RawChange("shop.customers", "s2", same_mail, tick=len(ROWS) + 1, ts_ms=1_767_225_700_000)])
        until(
            supervisor,
            "first",
            lambda: live(start).get(MARCO_SHOP, {}).get("email") == "marco@example.it",
            "the change of the rejected record",
        )
        first = live(start)
        assert {gid: r["links"] for gid, r in first.items()} == expected_links
        assert steward("suggestions", "list", "--json").strip() == "", "nothing is left open"
    finally:
        supervisor.stop_all()
        shutil.rmtree(tmp_path / "first", ignore_errors=True)

    supervisor, start = processor("replay")
    try:
        until(supervisor, "replay", lambda: content(live(start)) == content(first), "the replay to rebuild the same")
    finally:
        supervisor.stop_all()
