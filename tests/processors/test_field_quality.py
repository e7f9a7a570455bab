"""A bad optional field does not refuse its record: `seamline process` on the real stack publishes the record
without it, reports it once on dq.customer and in seamline_field_invalid_total, and `seamline dq list` shows it,
never the value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from seamline.config import KafkaConfig
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, dlq_topic, dq_topic
from tests.command import seamline
from tests.conftest import wait_until
from tests.processors.raw_events import RawChange, publish

pytestmark = pytest.mark.slow

TAG = "zqxwvkjq"
"""The bad phone, letters only (so phonenumbers reads no vanity number in it): found anywhere but the source's
row, the value leaked."""
PROCESSOR = {
    "mappings": [
        {
            "source": "crm.contacts",
            "entity": "customer",
            "fields": {"name": "name", "email": "email", "phone": "phone", "country": "country"},
        }
    ],
    "identity": {"customer": {"match": ["email"]}},
}
ROWS = {
    "bad-phone": {"name": "Nicolò Rossi", "email": "nicolo@example.it", "phone": TAG, "country": "Italia"},
    "good": {"name": "王小明", "email": "wang@example.cn", "phone": "13800138000", "country": "中国"},
    "bad-email": {"name": "Ada", "email": "x@", "phone": "030 1234567", "country": "DE"},
}


def write_config(path: Path, kafka: KafkaConfig, data_dir: Path, metrics_port: int) -> Path:
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    processor = {
        **PROCESSOR,
        "app_id": f"{kafka.topic_prefix}field-quality",
        "data_dir": str(data_dir),
        "metrics_port": metrics_port,
    }
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "processor": processor}, allow_unicode=True))
    return path


def test_a_record_with_a_bad_optional_field_goes_on_without_it_and_is_reported(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    publish(
        kafka,
        [
            RawChange("crm.contacts", key, row, tick, 1_700_000_000_000)
            for tick, (key, row) in enumerate(ROWS.items(), 1)
        ],
    )
    port = free_port()
    config = write_config(tmp_path / "p.yaml", kafka, tmp_path / "state", port)
    supervisor = Supervisor(config, tmp_path / "logs", {"processor": ["process"]})
    serde = AvroSerde(kafka)
    customers: dict[str, dict[str, Any]] = {}
    reports: list[dict[str, Any]] = []
    letters: list[Any] = []

    def all_out() -> bool:
        assert not supervisor.crashed(), supervisor.log_tail("processor")
        topic = canonical_topic(kafka, "customer")
        for message in read_to_end(kafka, topic):
            record = serde.decode(topic, message.value())
            customers[record["email"]] = record
        reports[:] = [
            serde.decode(dq_topic(kafka, "customer"), m.value())
            for m in read_to_end(kafka, dq_topic(kafka, "customer"))
        ]
        letters[:] = list(read_to_end(kafka, dlq_topic(kafka, "cleanse")))
        return len(customers) == 2 and len(reports) >= 1 and len(letters) >= 1

    supervisor.start("processor")
    try:
        wait_until(all_out, 120, "both valid customers published, the bad phone reported, the bad e-mail refused")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        supervisor.stop_all()

    nicolo, wang = customers["nicolo@example.it"], customers["wang@example.cn"]
    assert (nicolo["name"], nicolo["country"], nicolo["phone"]) == ("Nicolò Rossi", "IT", None)
    assert (wang["name"], wang["country"], wang["phone"]) == ("王小明", "CN", "+8613800138000")
    assert len(letters) == 1  # the bad e-mail is a match field: its record is refused, as before

    (report,) = reports
    assert {k: report[k] for k in ("entity", "system", "object", "source_key", "field", "reason", "action")} == {
        "entity": "customer",
        "system": "crm",
        "object": "contacts",
        "source_key": "bad-phone",
        "field": "phone",
        "reason": "malformed",
        "action": "dropped",
    }
    assert report["message"].startswith("phone (text of 8 chars: letters) is not a phone number")
    assert report["event_id"] and report["time"].year >= 2024
    line = 'seamline_field_invalid_total{entity="customer",field="phone",reason="malformed"} 1.0'
    assert line in metrics.splitlines()

    listed = seamline("dq", "list", "--entity", "customer", "--json", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    (shown,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (shown["source_key"], shown["field"], shown["action"]) == ("bad-phone", "phone", "dropped")
    table = seamline("dq", "list", "--config", str(config))
    assert "crm.contacts:bad-phone" in table.stdout and "malformed" in table.stdout, table.stdout + table.stderr

    assert TAG not in json.dumps(reports, default=str) + listed.stdout + table.stdout
    assert TAG not in (tmp_path / "logs" / "processor.log").read_text()
