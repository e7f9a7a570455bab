"""A sink's target health: the failing gauge follows the writes, and the log speaks once per change of state."""

from __future__ import annotations

import logging

import pytest

from seamline.connectors.sink import TargetFailing
from seamline.metrics import Metrics
from seamline.retry import ServerUnavailable
from sinks.target_health import TargetHealth


def test_the_gauge_follows_the_writes_and_the_log_speaks_once_per_change(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics.create()
    health = TargetHealth("warehouse", metrics.sink_failing)

    def failing() -> float | None:
        return metrics.registry.get_sample_value("seamline_sink_failing", {"sink": "warehouse"})

    assert failing() == 0
    caplog.set_level(logging.INFO, "sinks.target_health")
    column = TargetFailing('column "email" of relation "customers" does not exist', "add the column back")
    for _ in range(5):
        health.failed(column)
    assert failing() == 1
    health.failed(TargetFailing("permission denied for table customers", "grant the sink's role ..."))
    health.failed(ServerUnavailable("2 of 9 records: HTTP 503"))
    health.failed(ServerUnavailable("7 of 9 records: HTTP 503"))
    assert [record.getMessage() for record in caplog.records] == [
        'sink warehouse: the target refuses writes: column "email" of relation "customers" does not exist: add the '
        "column back; input paused, the batch is retried until the target takes it (nothing goes to the DLQ)",
        "sink warehouse: the target refuses writes: permission denied for table customers: grant the sink's role "
        "...; input paused, the batch is retried until the target takes it (nothing goes to the DLQ)",
        "sink warehouse: the target refuses writes: 2 of 9 records: HTTP 503; input paused, the batch is retried "
        "until the target takes it (nothing goes to the DLQ)",
    ]
    caplog.clear()
    health.took()
    health.took()
    assert failing() == 0
    (resumed,) = caplog.records
    assert resumed.getMessage().startswith("sink warehouse: the target takes writes again after ")
    assert resumed.getMessage().endswith("s and 8 failed attempts; input resumed")
