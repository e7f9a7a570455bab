"""A record the processor refuses is explained without its values: `seamline process` on the real stack, with
lookups, casts and conversions that fail, logs and dead-letters each record naming the field, the rule and the fix,
never the value."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import yaml

from seamline.config import KafkaConfig
from seamline.dead_letters.writer import read_headers
from seamline.shapes import shape
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import canonical_topic, dlq_topic
from tests.conftest import wait_until
from tests.processors.raw_events import RawChange, publish

pytestmark = pytest.mark.slow

TAG = f"zq{uuid.uuid4().hex[:6]}"
"""In every value below, so that finding it anywhere can only mean a value leaked ('zq' is in no hex id or number)."""
PROCESSOR = {
    "lookups": {
        "countries": {"Deutschland": "DE", "France": "FR"},
        "cities": {"BER": "Berlin"},
        "fx_eur": {"USD": "0.9"},
    },
    "mappings": [
        {
            "source": "crm.accounts",
            "entity": "customer",
            "fields": {
                "name": "name",
                "country": {"lookup": "countries", "column": "land"},
                "city": {"lookup": "cities", "column": "town"},
            },
        },
        {
            "source": "crm.items",
            "entity": "product",
            "fields": {
                "name": "title",
                "weight_g": {"convert": "weight", "from_unit": {"column": "unit"}, "to_unit": "g"},
                "list_price": {"convert": "price", "from_unit": {"column": "ccy"}, "to_unit": "EUR", "rates": "fx_eur"},
                "active": {"cast": "bool", "column": "flag"},
            },
        },
    ],
}
ACCOUNT = {"name": "Ada", "land": "France", "town": "BER"}
ITEM = {"title": "Bolt", "weight": "5", "unit": "kg", "price": "1", "ccy": "USD", "flag": "yes"}
REFUSED = {
    "a1": ("crm.accounts", "land", f"Atlantis{TAG}", "country: land ({}) is not in lookup table 'countries': add"),
    "a2": ("crm.accounts", "town", f"Shangri La {TAG}", "city: town ({}) is not in lookup table 'cities': add"),
    "i1": ("crm.items", "unit", f"stone{TAG}", "weight_g: unit ({}) is not a unit convertible to g"),
    "i2": ("crm.items", "ccy", f"Q{TAG}", "list_price: ccy ({}) is not a currency code such as EUR"),
    "i3": ("crm.items", "weight", f"heavy{TAG}", "weight_g: cannot convert weight ({}): not a number"),
    "i4": ("crm.items", "flag", TAG, "active: cannot cast flag ({}) to bool: not a boolean"),
}
"""Key -> the source object, and the column whose value of its own makes one rule fail, with the reason expected
(the value's shape in braces)."""


def write_config(path: Path, kafka: KafkaConfig, data_dir: Path) -> Path:
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    processor = {
        **PROCESSOR,
        "app_id": f"{kafka.topic_prefix}value-free",
        "data_dir": str(data_dir),
        "metrics_port": free_port(),
    }
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "processor": processor}, allow_unicode=True))
    return path


def test_refused_lookups_casts_and_conversions_leave_no_value_in_logs_or_dead_letters(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    rows = {
        key: (source, {**(ACCOUNT if source == "crm.accounts" else ITEM), column: value})
        for key, (source, column, value, _) in REFUSED.items()
    }
    rows["ok"] = ("crm.accounts", ACCOUNT)
    publish(
        kafka,
        [
            RawChange(source, key, row, tick, 1_700_000_000_000)
            for tick, (key, (source, row)) in enumerate(rows.items(), 1)
        ],
    )
    config = write_config(tmp_path / "p.yaml", kafka, tmp_path / "state")
    supervisor = Supervisor(config, tmp_path / "logs", {"processor": ["process"]})
    letters: list[dict[str, str]] = []

    def all_refused() -> bool:
        crashed = supervisor.crashed()
        assert not crashed, f"processor exited: {crashed}\n{supervisor.log_tail('processor')}"
        letters[:] = [read_headers(m.headers()) for m in read_to_end(kafka, dlq_topic(kafka, "cleanse"))]
        return len(letters) >= len(REFUSED) and any(read_to_end(kafka, canonical_topic(kafka, "customer")))

    supervisor.start("processor")
    try:
        wait_until(all_refused, 120, "every refused record in dlq.cleanse and the valid one published")
    finally:
        supervisor.stop_all()
    log = (tmp_path / "logs" / "processor.log").read_text()
    logged = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    refusals = [entry["message"] for entry in logged if entry.get("stage") == "cleanse"]
    assert len(letters) == len(REFUSED) and len(refusals) == len(REFUSED)
    reasons = [letter["error.reason"] for letter in letters]
    for key, (_, _, value, expected) in REFUSED.items():
        said = expected.format(shape(value))
        assert any(said in reason for reason in reasons), f"{key}: no dead letter says {said!r}: {reasons}"
        assert any(said in message for message in refusals), f"{key}: no log line says {said!r}: {refusals}"
    headers = json.dumps(letters)
    assert TAG not in headers, "a value in a dead letter's headers"
    assert TAG not in log, "a value in the processor's log"
