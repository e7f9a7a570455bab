"""The http sink under its runner on real Kafka against the S/4HANA simulation: an ERP outage of 60 seconds
ends with every record written once in effect; a record the ERP refuses goes alone to dlq.sink.<name>."""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractContextManager
from functools import partial

import pytest

from sandbox.s4hana import S4HanaSim
from seamline.config import KafkaConfig
from seamline.dead_letters.writer import read_headers
from seamline.metrics import Metrics
from seamline.operations.replay import plan
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic
from sinks import runner as runner_module
from sinks.http.target import HttpTarget
from sinks.runner import SinkRunner
from tests.conftest import wait_until
from tests.sinks.canonical_records import Change, customer, order, publish
from tests.sinks.sink_threads import in_thread
from tests.sinks.test_http import ORDERS, PARTNERS, s4_config

CUSTOMERS, ORDER_COUNT = 150, 50


def running(name: str, kafka: KafkaConfig, sim: S4HanaSim, metrics: Metrics) -> AbstractContextManager[SinkRunner]:
    config = s4_config(sim, concurrency=8, timeout_s=2)
    return in_thread(
        SinkRunner(
            name,
            kafka,
            HttpTarget(name, config, metrics),
            config.entities_written,
            metrics,
            f"{kafka.topic_prefix}{name}",
        )
    )


def changes() -> list[Change]:
    result: list[Change] = []
    for version in (1, 2, 3):
        result += [("customer", f"c{n}", customer(n, version)) for n in range(CUSTOMERS)]
    for version in (1, 2):
        result += [("sales_order", f"o{n}", order(n, version)) for n in range(ORDER_COUNT)]
    return result


@pytest.mark.slow
def test_an_erp_outage_of_60_seconds_ends_with_every_record_written_once(
    kafka: KafkaConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "_RETRY_ROUND_S", 5.0)
    publish(kafka, changes())
    metrics = Metrics.create()
    with S4HanaSim() as sim, running("erp", kafka, sim, metrics):
        sim.outage(60)

        def converged() -> bool:
            partners, orders = sim.entities(PARTNERS), sim.entities(ORDERS)
            return [e["YY1_SeamlineVersion"] for e in partners.values()] == [3] * CUSTOMERS and [
                e["YY1_SeamlineVersion"] for e in orders.values()
            ] == [2] * ORDER_COUNT

        wait_until(converged, 150, "every record written after the outage", interval=1)
        writes = list(sim.writes)
    effects = Counter((w.entity_set, w.key, w.body["YY1_SeamlineVersion"]) for w in writes if w.body)
    assert max(effects.values()) == 1, "no version executed twice"
    retries = metrics.registry.get_sample_value("seamline_sink_retries_total", {"sink": "erp"})
    assert retries is not None and retries >= 4
    assert metrics.registry.get_sample_value("seamline_sink_circuit_open", {"sink": "erp"}) == 0


def test_a_record_the_erp_refuses_goes_alone_to_the_dlq(kafka: KafkaConfig) -> None:
    publish(kafka, [("customer", f"c{n}", customer(n, 1)) for n in range(20)])
    metrics = Metrics.create()
    with S4HanaSim() as sim:
        sim.reject(lambda _set, body: "Tax number invalid" if body.get("BusinessPartner") == "c13" else None)
        with running("erp", kafka, sim, metrics):
            wait_until(lambda: len(sim.entities(PARTNERS)) == 19, 60, "19 partners written")
            wait_until(
                lambda: (
                    metrics.registry.get_sample_value("seamline_errors_total", {"stage": "sink.erp", "kind": "HTTP400"})
                    == 1
                ),
                30,
                "the refused record in the DLQ",
            )
    assert "c13" not in sim.entities(PARTNERS)
    (letter,) = list(read_to_end(kafka, dlq_topic(kafka, "sink.erp")))
    headers = read_headers(letter.headers())
    assert headers["error.class"] == "HTTP400"
    assert headers["error.reason"] == (
        "HTTP 400 from POST /API_BUSINESS_PARTNER/A_BusinessPartner: ZSEAMLINE/001 Tax number invalid"
    )


def written(sim: S4HanaSim, count: int) -> bool:
    return len(sim.writes) == count


def test_versions_redelivered_after_a_delete_create_nothing_again(kafka: KafkaConfig) -> None:
    """A target without tombstones: the runner remembers what it deleted in Kafka, so a replay (another group)
    that brings the old versions again writes nothing, and a version after the delete is a new record."""
    metrics = Metrics.create()
    with S4HanaSim() as sim:
        with running("erp", kafka, sim, metrics):
            for version in (1, 2):
                publish(kafka, [("customer", "c1", customer(1, version))])
                wait_until(partial(written, sim, version), 60, f"version {version} written")
            publish(kafka, [("customer", "c1", customer(1, 3, deleted=True)), ("customer", "c1", None)])
            wait_until(lambda: sim.entity(PARTNERS, "c1") is None, 60, "the delete executed")
        executed = list(sim.writes)
        config = s4_config(sim)
        replay = SinkRunner(  # one record per batch: each old version meets the target on its own
            "erp", kafka, HttpTarget("erp", config, metrics), config.entities_written, metrics, "replay", batch_size=1
        )
        until = {(r.topic, r.partition): r.end for r in plan(kafka, ["customer"], None) if r.records}
        replay.run(stop_on_signals=False, until=until)
        assert sim.writes == executed, "the replay wrote nothing"
        publish(kafka, [("customer", "c1", customer(1, 4))])
        with running("erp", kafka, sim, metrics):
            wait_until(lambda: sim.entity(PARTNERS, "c1") is not None, 60, "version 4 written as a new record")
    assert [(w.method, w.body and w.body["YY1_SeamlineVersion"]) for w in sim.writes] == [
        ("POST", 1),
        ("PATCH", 2),
        ("DELETE", None),
        ("POST", 4),
    ]
