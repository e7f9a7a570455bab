"""Running a sink in a test: until it has committed what its topics hold now, or in a thread while a test acts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from seamline.config import KafkaConfig
from seamline.operations.replay import plan
from sinks.runner import SinkRunner


def drain(kafka: KafkaConfig, runner: SinkRunner, entities: list[str]) -> None:
    """Run the sink until it has committed everything now in the entities' canonical topics."""
    until = {(r.topic, r.partition): r.end for r in plan(kafka, entities, None) if r.records}
    runner.run(stop_on_signals=False, until=until)


@contextmanager
def in_thread(runner: SinkRunner) -> Iterator[SinkRunner]:
    """The sink running in a thread of its own; stopped (and joined) on leaving."""
    worker = threading.Thread(target=runner.run, args=(False,), daemon=True)
    worker.start()
    try:
        yield runner
    finally:
        runner.stop()
        worker.join(60)
