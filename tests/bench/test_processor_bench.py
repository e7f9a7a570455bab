"""The processor benchmark runs end to end on a tiny mix: its result has every figure, and nothing was lost."""

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from seamline.config import KafkaConfig
from seamline.kafka_settings import client_settings
from seamline.stack import StackInfo
from tests.bench.run_bench import run_bench
from tests.conftest import wait_until


@pytest.mark.slow
def test_every_event_reaches_the_canonical_topics_and_the_topics_are_removed(stack: StackInfo, tmp_path: Path) -> None:
    result = run_bench("processor_bench.py", tmp_path, "--events", "300")

    assert result["events"] == 300 and sum(result["by_source"].values()) == 300
    assert set(result["by_source"]) >= {"erp.customers", "crm.Account", "shop.customers", "erp.order_lines"}
    stages = result["in_process"]
    assert [stage["stage"] for stage in stages] == [
        "decode + cleanse",
        "identity-topic hop",
        "resolve + merge",
        "encode canonical",
    ]
    assert all(stage["us_per_event"] > 0 and stage["events_per_s"] > 0 and stage["profile"] for stage in stages)
    assert {"function", "calls", "tottime", "cumtime"} <= set(stages[0]["profile"][0])

    e2e = result["end_to_end"]
    assert e2e["complete"] and e2e["missing_xrefs"] == 0 and e2e["orders_missing_lines"] == 0
    assert set(e2e["canonical_records"]) == {
        "canonical.customer",
        "canonical.product",
        "canonical.sales_order",
        "canonical.inventory_level",
    }
    assert e2e["live_golden_records"] < 300  # duplicates merged, lines folded into their orders
    assert e2e["events_per_s"] > 0 and e2e["outside_batches_s"] >= 0
    assert 0 < e2e["process"]["cpu_processing_s"] <= e2e["process"]["cpu_s"]  # the start-up is left out
    assert e2e["batch_seconds"]["cleanse"]["batches"] >= 1 and e2e["batch_seconds"]["resolve"]["batches"] >= 1

    kafka = KafkaConfig(bootstrap_servers=stack.bootstrap_servers, schema_registry_url=stack.registry_url)
    admin = AdminClient(client_settings(kafka, "admin"))

    def removed() -> bool:
        return not [t for t in admin.list_topics(timeout=15).topics if t.startswith(result["topic_prefix"])]

    wait_until(removed, timeout=30, what="the benchmark's topics to be deleted")
