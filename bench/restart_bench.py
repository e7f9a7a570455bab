"""Benchmark of the processor's restart: how soon a worker holding N golden customers resolves again.

1. Builds the state of N golden customers in process: N ERP customer rows cleansed and resolved (Resolver over
   dict tables), then written through the processor's own commit sequence (processors/checkpoint.py) into the
   state changelog and a store, as a worker that had resolved them would have left both.
2. Starts a real `seamline process` worker on that state and times, from its start, until the canonical version
   of a customer update published at that moment appears: with the store kept (after a SIGKILL of the worker
   before), and with the store deleted (rebuilt from the changelog).
Prints the seconds, the changelog records each start replayed (from the worker's log) and the worker's CPU.
Run: make bench-restart   (or: .venv/bin/python bench/restart_bench.py --customers 100000). Needs the local stack.
"""

from __future__ import annotations

import argparse
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from change_mix import PROCESSOR
from confluent_kafka import Consumer, TopicPartition
from json_result import write_result
from process_sampler import ProcessSampler
from rich.console import Console
from rich.table import Table

from processors.checkpoint import Checkpoint
from processors.cleanse import cleanse
from processors.resolve import Resolver, Tables
from seamline import stack
from seamline.config import KafkaConfig, load_config
from seamline.events import Change
from seamline.kafka_settings import client_settings
from seamline.processor_config import ProcessorConfig
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.subjects import delete_subjects
from seamline.topic_reader import watermarks
from seamline.topics import canonical_topic, delete_prefixed, ensure_topics, source_topic, state_changelog_topic

AIM_S = 60.0
COMMIT_WRITES = 20_000
REPLAYED = re.compile(r"(\d+) changelog records replayed from offset \d+ in ([\d.]+) s")


def row(n: int, name: str = "") -> dict[str, str]:
    return {
        "name": name or f"Firma {n} GmbH",
        "email": f"kunde{n}@example.de",
        "vat": f"DE{100000000 + n}",
        "phone": f"030 {1000000 + n % 9000000}",
        "zip": f"{10000 + n % 90000}",
    }


def event(n: int, position: int, name: str = "") -> Change:
    """An ERP customer row as postgres_cdc publishes it, at a position later than every one before."""
    return Change(
        system="erp",
        object="customers",
        connector="postgres_cdc",
        op="u",
        key={"id": f"e{n}"},
        before=None,
        after=row(n, name),
        position=f"1/{position:X}:0",
        source_ts_ms=1_700_000_000_000 + position,
    )


def build_state(kafka: KafkaConfig, processor: ProcessorConfig, app_id: str, data_dir: Path, customers: int) -> int:
    """Resolve `customers` ERP customers in process and commit the state as a worker would; the writes made."""
    mapping = next(m for m in processor.mappings if m.source == "erp.customers")
    tables = Tables.in_memory()
    resolver = Resolver(processor, tables)
    for n in range(customers):
        change = event(n, n + 1)
        resolver.apply(cleanse(change.envelope(), change.key, mapping))
    writes = [
        (f"{name}:{key}", value)
        for name in ("golden", "links", "index", "held")
        for key, value in getattr(tables, name).items()
    ]
    ensure_topics(kafka, [state_changelog_topic(app_id)])
    checkpoint = Checkpoint(kafka, app_id, data_dir)
    checkpoint.open()
    try:
        for start in range(0, len(writes), COMMIT_WRITES):
            checkpoint.begin()
            checkpoint.commit(writes[start : start + COMMIT_WRITES])
    finally:
        checkpoint.close()
    return len(writes)


def timed_start(
    config_path: Path, kafka: KafkaConfig, work: Path, run: str, customer: int, position: int
) -> dict[str, Any]:
    """Start the worker, publish an update of `customer` at once, and time until its canonical version shows."""
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    topic, canonical = source_topic(kafka, "erp", "customers"), canonical_topic(kafka, "customer")
    reader = Consumer(client_settings(kafka, "consumer", **{"group.id": f"restart-bench-{uuid.uuid4()}"}))
    reader.assign([TopicPartition(canonical, p, watermarks(reader, canonical, p)[1]) for p in range(kafka.partitions)])
    name = f"Firma {customer} GmbH ({run})"
    supervisor = Supervisor(config_path, work / "logs" / run, {"processor": ["process"]})
    started = time.monotonic()
    supervisor.start_all()
    sampler = ProcessSampler({"processor": supervisor.children["processor"].pid}).start()
    change = event(customer, position, name)
    key = serde.encode(topic, {"columns": change.key}, key=True)
    publisher.send(topic, serde.encode(topic, change.envelope()), key=key)
    publisher.flush()
    try:
        while True:
            if time.monotonic() - started > 600:
                raise SystemExit(f"{run}: no canonical version after 600 s:\n{supervisor.log_tail('processor')}")
            message = reader.poll(0.5)
            if message is None or message.error() or message.value() is None:
                continue
            value = serde.decode(canonical, message.value())
            if value["name"] == name:
                break
        ready_s = time.monotonic() - started
        usage = sampler.stop()["processor"]
    finally:
        reader.close()
        publisher.close()
    log = (work / "logs" / run / "processor.log").read_text()
    replayed = [(int(count), float(seconds)) for count, seconds in REPLAYED.findall(log)]
    return {
        "run": run,
        "ready_s": round(ready_s, 1),
        "replayed_records": sum(count for count, _ in replayed),
        "replay_s": round(sum(seconds for _, seconds in replayed), 1),
        "cpu_s": round(usage.cpu_s, 1),
        "rss_peak_mb": usage.peak_rss_mb,
        "supervisor": supervisor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000, help="golden customers the worker holds")
    parser.add_argument("--json", type=Path, help="write the JSON result here instead of stdout")
    args = parser.parse_args()
    console = Console(stderr=True)
    info = stack.up()
    prefix = f"rb{uuid.uuid4().hex[:8]}."
    app_id = f"{prefix}processor"
    with tempfile.TemporaryDirectory(prefix="restart-bench-") as temporary:
        work = Path(temporary)
        data_dir = work / "state"
        config_path = work / "seamline.yaml"
        processor = {**PROCESSOR, "app_id": app_id, "data_dir": str(data_dir), "metrics_port": free_port()}
        kafka = {"bootstrap_servers": info.bootstrap_servers, "schema_registry_url": info.registry_url}
        config_path.write_text(yaml.safe_dump({"kafka": {**kafka, "topic_prefix": prefix}, "processor": processor}))
        config = load_config(config_path)
        assert config.processor is not None
        ensure_topics(
            config.kafka, [source_topic(config.kafka, "erp", "customers"), canonical_topic(config.kafka, "customer")]
        )
        runs: list[dict[str, Any]] = []
        try:
            console.print(f"resolving {args.customers:,} customers in process and committing their state …")
            started = time.monotonic()
            writes = build_state(config.kafka, config.processor, app_id, data_dir, args.customers)
            built_s = time.monotonic() - started
            position = args.customers + 1
            for run in ("store kept", "after SIGKILL, store kept", "store deleted"):
                if run == "store deleted":
                    shutil.rmtree(data_dir / "resolve-0")
                console.print(f"start: {run} …")
                figures = timed_start(config_path, config.kafka, work, run, args.customers // 2 + len(runs), position)
                supervisor = figures.pop("supervisor")
                if run == "store kept":
                    supervisor.kill("processor")
                else:
                    supervisor.stop_all()
                runs.append(figures)
                position += 1
        finally:
            delete_subjects(config.kafka, delete_prefixed(config.kafka))
    result = {"customers": args.customers, "state_writes": writes, "build_s": round(built_s, 1), "starts": runs}
    table = Table(title=f"processor restart with {args.customers:,} golden customers ({writes:,} state keys)")
    for column in ("start", "ready (s)", "changelog records replayed", "replay (s)", "CPU (s)", "RSS peak (MB)"):
        table.add_column(column, justify="left" if column == "start" else "right")
    for figures in runs:
        table.add_row(
            figures["run"],
            f"{figures['ready_s']:.1f}",
            f"{figures['replayed_records']:,}",
            f"{figures['replay_s']:.1f}",
            f"{figures['cpu_s']:.1f}",
            f"{figures['rss_peak_mb']:.0f}",
        )
    console.print(table)
    console.print(f"aim: ready within {AIM_S:.0f} s of a SIGKILL")
    write_result(result, args.json)


if __name__ == "__main__":
    main()
