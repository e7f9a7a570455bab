"""Benchmark of the stream processor (cleanse + resolve + merge): events/s per worker and where the time goes.

1. end to end: starts --workers real `seamline process` workers of one group (one by default), waits until their
   start-up is over (they use no CPU for a second), then publishes --events raw change events (bench/change_mix.py:
   customers from three systems with ~30% duplicates, products, orders with 1-5 lines, stock levels) to src.*
   topics under a unique topic prefix, encoded before the workers start (only sending them shares their cores);
   events/s from the start of publishing to the last canonical record (its Kafka timestamp), once every event is
   reflected in the canonical topics; CPU µs per event of each worker after its start-up (from /proc), and the
   seamline_batch_seconds histogram of their /metrics;
2. in process, without Kafka, on the same records: decode + cleanse (CleanseBatch.cleanse on the raw bytes), the
   msgpack hop to the identity topic, resolve (Resolver.apply over dict tables) and the Avro encoding of the
   canonical records, per event, with a cProfile top 15 (cumulative) of each stage;
3. what probabilistic matching costs: the resolve stage run again with the customer's probabilistic rule (the
   default comparisons, seamline/match_config.py), CPU µs per event with and without it (--matching-only skips 1).
Run: make bench-processor   (or: .venv/bin/python bench/processor_bench.py --help). Needs `seamline stack up`.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import pstats
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import yaml
from change_mix import PROCESSOR, Mix, generate
from confluent_kafka.admin import AdminClient
from json_result import write_result
from process_sampler import ProcessSampler
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from processors.batch import CleanseBatch
from processors.canonical import avro_record
from processors.cleanse import Cleansed
from processors.resolve import Output, Resolver, Tables
from seamline import stack
from seamline.config import Config, KafkaConfig, load_config
from seamline.events import Change
from seamline.kafka_settings import client_settings
from seamline.metrics import Metrics
from seamline.processor_config import ProcessorConfig
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.subjects import delete_subjects
from seamline.topic_reader import end_offset, read_to_end
from seamline.topics import canonical_topic, delete_prefixed, ensure_topics, identity_topic, source_topic

TARGET = 20_000  # events/s per worker
WARM_UP = 500
PROFILED = 10_000


@dataclass
class Raw:
    """A raw record as the processor's consumer hands it over."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def encode(kafka: KafkaConfig, mix: Mix) -> list[Raw]:
    """The changes as an untyped source publishes them (values as text), encoded to their topics (created here)."""
    serde = AvroSerde(kafka)
    ensure_topics(kafka, sorted({source_topic(kafka, *c.source.split(".", 1)) for c in mix.changes}))
    records = []
    start_ms = int(time.time() * 1000) - len(mix.changes)
    for tick, change in enumerate(mix.changes, start=1):
        system, obj = change.source.split(".", 1)
        topic = source_topic(kafka, system, obj)
        event = Change(
            system=system,
            object=obj,
            connector="postgres_cdc",
            op="u",
            key={"id": change.key},
            before=None,
            after={name: _text(value) for name, value in change.row.items()},
            position=f"0/{tick:X}:0",
            source_ts_ms=start_ms + tick,
        )
        value = serde.encode(topic, event.envelope())
        key = serde.encode(topic, {"columns": event.key}, key=True)
        records.append(Raw(topic, 0, tick, key, value))
    return records


def publish(kafka: KafkaConfig, records: list[Raw]) -> None:
    """Send the encoded records and wait for Kafka's acks: encoded beforehand, so that the benchmark's own encoding
    does not take CPU from the workers it measures, on the cores they share."""
    publisher = Publisher(kafka)
    try:
        for record in records:
            publisher.send(record.topic, record.value, key=record.key)
        publisher.flush()
    finally:
        publisher.close()


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


# --- 1. in-process stages ----------------------------------------------------------------------------------


def _timed(name: str, items: list[Any], work: Callable[[list[Any]], Any]) -> tuple[Any, dict[str, Any]]:
    """Run `work` over the items once timed (after a warm-up on a few, which fills the registry caches) and
    over up to PROFILED items under cProfile; the result of the timed run and the figures."""
    work(items[:WARM_UP])
    # The inputs of every stage are resident here, not in a worker; moving them out of the cyclic GC's reach
    # keeps its passes from growing with N, as they do not in a worker whose state lives in RocksDB.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    result = work(items)
    seconds = time.perf_counter() - started
    profiler = cProfile.Profile()
    profiler.runcall(work, items[:PROFILED])
    count = len(items)
    return result, {
        "stage": name,
        "events": count,
        "seconds": round(seconds, 4),
        "us_per_event": round(seconds / count * 1e6, 1),
        "events_per_s": round(count / seconds),
        "profiled_events": min(count, PROFILED),
        "profile": _top(profiler, 15),
    }


def _top(profiler: cProfile.Profile, limit: int) -> list[dict[str, Any]]:
    stats = pstats.Stats(profiler, stream=io.StringIO()).sort_stats("cumulative")
    rows = []
    for (path, line, function), (_, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = "/".join(Path(path).parts[-2:]) if path != "~" else "builtin"
        rows.append({"function": f"{where}:{line}({function})", "calls": calls, "tottime": tottime, "cumtime": cumtime})
    rows.sort(key=lambda row: -row["cumtime"])
    rows = [row for row in rows if not row["function"].startswith(("bench/", "builtin:0(<method 'disable'"))]
    return [{**row, "tottime": round(row["tottime"], 4), "cumtime": round(row["cumtime"], 4)} for row in rows[:limit]]


def in_process(kafka: KafkaConfig, processor: ProcessorConfig, records: list[Raw]) -> list[dict[str, Any]]:
    """Per-stage figures of one worker's work, without Kafka in between."""
    serde = AvroSerde(kafka)
    cleanser = CleanseBatch(kafka, processor, serde, Publisher(kafka), Metrics.create())
    count = len(records)

    def cleanse_all(records: list[Raw]) -> list[Cleansed]:
        return [cleanser.cleanse(record) for record in records]

    def hop(cleansed: list[Cleansed]) -> list[Cleansed]:
        return [Cleansed.decode(change.encode()) for change in cleansed]

    def resolve(cleansed: list[Cleansed]) -> list[Output]:
        resolver = Resolver(processor, Tables.in_memory())
        return [output for change in cleansed for output in resolver.apply(change)]

    def encode(outputs: list[Output]) -> list[bytes]:
        encoded = []
        for output in outputs:
            bare, _, entity = output.topic.partition(".")
            if bare != "canonical":
                continue
            topic = canonical_topic(kafka, entity)
            encoded.append(serde.encode(topic, output.key, key=True))
            if output.value is not None:
                encoded.append(serde.encode(topic, avro_record(entity, output.value)))
        return encoded

    cleansed, cleanse_figures = _timed("decode + cleanse", records, cleanse_all)
    hopped, hop_figures = _timed("identity-topic hop", cleansed, hop)
    outputs, resolve_figures = _timed("resolve + merge", hopped, resolve)
    _, encode_figures = _timed("encode canonical", outputs, encode)
    # per input event, like the other stages: the canonical records of N events are encoded for N events
    encode_figures.update(
        records=len(outputs),
        us_per_event=round(encode_figures["seconds"] / count * 1e6, 1),
        events_per_s=round(count / encode_figures["seconds"]),
        events=count,
    )
    return [cleanse_figures, hop_figures, resolve_figures, encode_figures]


def matching_cost(kafka: KafkaConfig, processor: ProcessorConfig, records: list[Raw]) -> dict[str, Any]:
    """CPU µs per event of resolve + merge without and with a probabilistic rule on customers (best of 3 runs each,
    the CPU time of this process: the figure a noisy machine does not move much), and its suggestions."""
    cleanser = CleanseBatch(kafka, processor, AvroSerde(kafka), Publisher(kafka), Metrics.create())
    cleansed = [cleanser.cleanse(record) for record in records]
    customer = processor.rules("customer").model_dump()
    matched = ProcessorConfig(
        **{**processor.model_dump(), "identity": {**processor.identity, "customer": {**customer, "probabilistic": {}}}}
    )
    figures: dict[str, Any] = {
        "events": len(cleansed),
        "customer_changes": sum(c.entity == "customer" for c in cleansed),
    }
    for name, config in (("without", processor), ("with", matched)):
        runs = []
        for _ in range(3):
            resolver = Resolver(config, Tables.in_memory())
            started = time.process_time()
            outputs = [output for change in cleansed for output in resolver.apply(change)]
            runs.append(time.process_time() - started)
        figures[f"{name}_us_per_event"] = round(min(runs) / len(cleansed) * 1e6, 1)
        figures[f"{name}_suggestions"] = sum(output.topic == "seamline.suggestions" for output in outputs)
    extra = figures["with_us_per_event"] - figures["without_us_per_event"]
    figures["matching_us_per_event"] = round(extra, 1)
    figures["matching_us_per_customer_change"] = round(extra * len(cleansed) / max(figures["customer_changes"], 1), 1)
    return figures


# --- 2. end to end ------------------------------------------------------------------------------------------


def _scrape(port: int) -> list[tuple[str, dict[str, str], float]]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def _total(samples: Iterable[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))


def _scrape_all(ports: list[int]) -> list[tuple[str, dict[str, str], float]]:
    """The samples of every worker's /metrics together (counters of a stage add up across workers)."""
    return [sample for port in ports for sample in _scrape(port)]


def _done(config: Config, ports: list[int], events: int, canonical: list[str]) -> bool:
    """Every event went through both stages, none is held, and every canonical record sent is in Kafka."""
    try:
        samples = _scrape_all(ports)
    except httpx.HTTPError:
        return False
    if _total(samples, "seamline_events_in_total", stage="resolve") < events:
        return False
    if _total(samples, "seamline_processor_held_records") > 0:
        return False
    sent = sum(_total(samples, "seamline_events_out_total", stage="resolve", topic=topic) for topic in canonical)
    return sent > 0 and sum(end_offset(config.kafka, topic) for topic in canonical) >= sent


def _late(ports: list[int], events: int, timeout: float) -> str:
    """Why the run is not finished: how far each stage got, the dead letters and the held changes."""
    try:
        samples = _scrape_all(ports)
    except httpx.HTTPError as exc:
        return f"a processor's /metrics did not answer within {timeout:.0f}s: {exc}"
    done = {stage: int(_total(samples, "seamline_events_in_total", stage=stage)) for stage in ("cleanse", "resolve")}
    return (
        f"not every event reached the canonical topics within {timeout:.0f}s (raise --timeout): of {events} events "
        f"cleanse read {done['cleanse']}, resolve read {done['resolve']}; "
        f"{int(_total(samples, 'seamline_errors_total'))} went to a DLQ, "
        f"{int(_total(samples, 'seamline_processor_held_records'))} are held"
    )


def _histogram(samples: list[tuple[str, dict[str, str], float]], stage: str) -> dict[str, Any]:
    count = _total(samples, "seamline_batch_seconds_count", stage=stage)
    total = _total(samples, "seamline_batch_seconds_sum", stage=stage)
    buckets: dict[str, float] = {}
    for name, labels, value in samples:
        if name == "seamline_batch_seconds_bucket" and labels["stage"] == stage:
            buckets[labels["le"]] = buckets.get(labels["le"], 0.0) + value
    return {
        "batches": int(count),
        "seconds": round(total, 3),
        "mean_ms": round(total / count * 1000, 1) if count else None,
        "buckets": buckets,
    }


def worker_configs(config_path: Path, work_dir: Path, workers: int) -> list[Path]:
    """One configuration file per worker: the same app id, its own state directory and metrics port."""
    if workers == 1:
        return [config_path]
    base = yaml.safe_load(config_path.read_text())
    paths = []
    for number in range(workers):
        section = {**base["processor"], "data_dir": str(work_dir / f"state-{number}"), "metrics_port": free_port()}
        path = work_dir / f"worker-{number}.yaml"
        path.write_text(yaml.safe_dump({**base, "processor": section}, sort_keys=False))
        paths.append(path)
    return paths


def _wait_idle(sampler: ProcessSampler, supervisors: list[Supervisor], timeout: float) -> None:
    """Wait until every worker has started and uses no CPU for a second: its start-up is over."""
    deadline = time.monotonic() + timeout
    while True:
        time.sleep(1.0)
        _check_alive(supervisors)
        second_ago = time.time() - 1.0
        if all(use.cpu_s > 1.0 and use.cpu_s - use.cpu_at(second_ago) < 0.03 for use in sampler.usage.values()):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the processors did not settle after their start within {timeout:.0f}s")


def _check_alive(supervisors: list[Supervisor]) -> None:
    for supervisor in supervisors:
        if crashed := supervisor.crashed():
            logs = "\n".join(supervisor.log_tail(name) for name in crashed)
            raise SystemExit(f"a processor exited ({crashed}):\n{logs}")


def end_to_end(
    config_path: Path, work_dir: Path, mix: Mix, publish_events: Callable[[], None], timeout: float, workers: int
) -> dict[str, Any]:
    """Start `workers` `seamline process` workers of one group, wait until their start-up is over, publish the
    events, and run them until every event is in the canonical topics; the figures."""
    paths = worker_configs(config_path, work_dir, workers)
    configs = [load_config(path) for path in paths]
    config = configs[0]
    assert config.processor is not None
    ports = [c.processor.metrics_port for c in configs if c.processor is not None]
    entities = sorted({m.entity for m in config.processor.mappings})
    canonical = [canonical_topic(config.kafka, entity) for entity in entities]
    events = len(mix.changes)
    supervisors = [
        Supervisor(path, work_dir / "logs", {f"processor-{number}": ["process"]}) for number, path in enumerate(paths)
    ]
    started = time.time()
    for supervisor in supervisors:
        supervisor.start_all()
    pids = {name: child.pid for supervisor in supervisors for name, child in supervisor.children.items()}
    sampler = ProcessSampler(pids, interval_s=0.2).start()
    try:
        _wait_idle(sampler, supervisors, timeout)
        ready = time.time()
        publish_events()
        deadline = time.monotonic() + timeout
        while not _done(config, ports, events, canonical):
            _check_alive(supervisors)
            if time.monotonic() > deadline:
                raise SystemExit(_late(ports, events, timeout))
            time.sleep(0.5)
        samples = _scrape_all(ports)
        assignment = _assignment(config)
        sampled = sampler.stop()
    finally:
        for supervisor in supervisors:
            supervisor.stop_all()
    stages = {stage: _histogram(samples, stage) for stage in ("cleanse", "resolve")}
    figures = _canonical_figures(config, canonical, mix, ready)
    last = figures.pop("last_at")
    usage = {
        # CPU from the end of the start-up to the last canonical record: the cost of the events alone
        name: {**use.as_dict(time.time() - started), "cpu_processing_s": round(use.cpu_between(ready, last), 2)}
        for name, use in sampled.items()
    }
    # With one worker, one event loop runs both agents, so the wall time not spent inside a batch is Faust's own:
    # fetching, dispatching events to the streams, sending table changelogs, committing.
    inside = sum(stage["seconds"] for stage in stages.values())
    outside = round(max(figures["publish_to_last_s"] - inside, 0.0), 3) if workers == 1 else None
    process = usage["processor-0"] if workers == 1 else usage
    return {
        **figures,
        "workers": workers,
        "assignment": assignment,
        "batch_seconds": stages,
        "outside_batches_s": outside,
        "events": events,
        "process": process,
    }


def _assignment(config: Config) -> list[dict[str, list[int]]]:
    """Each member of the workers' consumer group: the partitions it reads of each topic, the source topics'
    together as 'raw' (so that the split of every stage shows)."""
    assert config.processor is not None
    group = config.processor.app_id
    admin = AdminClient(client_settings(config.kafka, "admin"))
    description = admin.describe_consumer_groups([group])[group].result(timeout=15)
    identity = identity_topic(config.kafka)
    members = []
    for member in description.members:
        found: dict[str, list[int]] = {"raw": [], "identity": []}
        for tp in member.assignment.topic_partitions:
            found["identity" if tp.topic == identity else "raw"].append(tp.partition)
        members.append({name: sorted(partitions) for name, partitions in found.items()})
    return sorted(members, key=lambda member: member["identity"])


def _canonical_figures(config: Config, topics: list[str], mix: Mix, published: float) -> dict[str, Any]:
    """Counts and timing of the canonical records, and whether every event is reflected in the latest ones."""
    serde = AvroSerde(config.kafka)
    latest: dict[tuple[str, str], dict[str, Any] | None] = {}
    counts: dict[str, int] = {}
    stamps: list[int] = []
    for topic in topics:
        for message in read_to_end(config.kafka, topic):
            name = topic.removeprefix(config.kafka.topic_prefix)
            counts[name] = counts.get(name, 0) + 1
            stamps.append(message.timestamp()[1])
            latest[topic, serde.decode(topic, message.key(), key=True)] = serde.decode(topic, message.value())
    live = [record for record in latest.values() if record is not None and not record["deleted"]]
    linked = {link for record in live for link in record["links"]}
    lines = {r["xrefs"]["erp"]: len(r["lines"]) for r in live if "lines" in r and "erp" in r["xrefs"]}
    missing = sorted(mix.xrefs() - linked)
    missing_lines = sorted(order for order, n in mix.lines.items() if lines.get(order) != n)
    first, last = min(stamps) / 1000, max(stamps) / 1000
    events = len(mix.changes)
    return {
        "canonical_records": dict(sorted(counts.items())),
        "live_golden_records": len(live),
        "missing_xrefs": len(missing),
        "orders_missing_lines": len(missing_lines),
        "complete": not missing and not missing_lines,
        "last_at": last,
        "first_to_last_s": round(last - first, 3),
        "publish_to_last_s": round(last - published, 3),
        # From the first event published: the first canonical record comes only once the first batches are through,
        # and with the whole backlog in Kafka at once the worker cleanses for seconds before that
        "events_per_s": round(events / (last - published)),
        "events_per_s_first_to_last": round(events / max(last - first, 1e-3)),
    }


# --- setup, cleanup, report ---------------------------------------------------------------------------------


def write_config(
    path: Path, info: stack.StackInfo, prefix: str, data_dir: Path, state_cache: int | None, resolve_partitions: int
) -> Path:
    """The benchmark's configuration file: its own topic prefix, app id, state directory and metrics port."""
    processor = {**PROCESSOR, "app_id": f"{prefix}processor", "data_dir": str(data_dir), "metrics_port": free_port()}
    processor["resolve_partitions"] = resolve_partitions
    if state_cache is not None:
        processor["state_cache_entries"] = state_cache
    config = {
        "kafka": {"bootstrap_servers": info.bootstrap_servers, "schema_registry_url": info.registry_url},
        "processor": processor,
    }
    config["kafka"]["topic_prefix"] = prefix
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def report_matching(figures: dict[str, Any], console: Console) -> None:
    console.print(
        f"probabilistic matching: resolve + merge {figures['without_us_per_event']} -> {figures['with_us_per_event']} "
        f"µs of CPU per event, {figures['matching_us_per_event']} µs more per event "
        f"({figures['matching_us_per_customer_change']} µs per customer change, {figures['customer_changes']:,} of "
        f"{figures['events']:,}); suggestions {figures['without_suggestions']:,} -> {figures['with_suggestions']:,}"
    )


def report(result: dict[str, Any], console: Console) -> None:
    workers = result["end_to_end"]["workers"]
    table = Table(title=f"processor benchmark: {result['events']:,} events, {workers} worker(s)")
    for column in ("stage", "µs/event", "events/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage in result["in_process"]:
        table.add_row(stage["stage"], f"{stage['us_per_event']:.1f}", f"{stage['events_per_s']:,}")
    total = result["in_process_total"]
    table.add_row("[b]in process, all stages[/b]", f"{total['us_per_event']:.1f}", f"{total['events_per_s']:,}")
    e2e = result["end_to_end"]
    table.add_row("[b]end to end, seamline process[/b]", f"{1e6 / e2e['events_per_s']:.1f}", f"{e2e['events_per_s']:,}")
    console.print(table)
    usage = {"processor-0": e2e["process"]} if workers == 1 else e2e["process"]
    for name, figures in usage.items():
        console.print(
            f"{name}: {figures['cpu_processing_s'] / e2e['events'] * 1e6:,.0f} µs of CPU per event after its start-up "
            f"({figures['cpu_processing_s']} s), "
            f"{figures['cpu_s'] / e2e['events'] * 1e6:,.0f} µs with the start-up ({figures['cpu_s']} s for "
            f"{e2e['events']:,} events), RSS peak {figures['rss_peak_mb']} MB"
        )
    if workers > 1:
        cpu = sum(figures["cpu_processing_s"] for figures in usage.values())
        console.print(f"all workers: {cpu / e2e['events'] * 1e6:,.0f} µs of CPU per event after start-up ({cpu:.2f} s)")
        for number, member in enumerate(e2e["assignment"]):
            console.print(
                f"group member {number}: raw partitions {member['raw']}, identity partitions {member['identity']}"
            )
    for name, figures in e2e["batch_seconds"].items():
        console.print(f"{name}: {figures['batches']} batches, {figures['seconds']} s, {figures['mean_ms']} ms mean")
    if e2e["outside_batches_s"] is not None:
        console.print(f"outside batches (Faust consumer, streams, changelogs, commits): {e2e['outside_batches_s']} s")
    for stage in result["in_process"]:
        console.print(f"\n[b]{stage['stage']}[/b], top functions by cumulative time (cProfile):")
        for row in stage["profile"][:8]:
            console.print(f"  {row['cumtime']:8.3f} s  {row['calls']:>8}  {row['function']}")
    console.print(f"target {TARGET:,} events/s per worker; complete: {e2e['complete']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000, help="raw change events to publish")
    parser.add_argument("--json", type=Path, help="write the JSON result here instead of stdout")
    parser.add_argument("--keep-topics", action="store_true", help="leave the topics and subjects in place")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds the processor may take")
    parser.add_argument("--workers", type=int, default=1, help="processor workers in the group (scale-out)")
    parser.add_argument("--state-cache", type=int, help="the processor's state_cache_entries (memory against speed)")
    parser.add_argument(
        "--resolve-partitions",
        type=int,
        default=1,
        help="the processor's resolve_partitions (4 to scale out resolving)",
    )
    parser.add_argument(
        "--matching-only",
        action="store_true",
        help="only encode the events and measure what probabilistic matching costs",
    )
    args = parser.parse_args()

    console = Console(stderr=True)
    info = stack.up()
    prefix = f"pb{uuid.uuid4().hex[:8]}."
    mix = generate(args.events)
    with tempfile.TemporaryDirectory(prefix="processor-bench-") as work:
        config_path = write_config(
            Path(work) / "seamline.yaml", info, prefix, Path(work) / "state", args.state_cache, args.resolve_partitions
        )
        config = load_config(config_path)
        assert config.processor is not None
        try:
            records = encode(config.kafka, mix)
            if args.matching_only:
                matching = matching_cost(config.kafka, config.processor, records)
                report_matching(matching, console)
                write_result({"events": args.events, "matching": matching}, args.json)
                return
            console.print(f"{args.workers} worker(s), then {args.events:,} events under {prefix} …")
            e2e = end_to_end(
                config_path, Path(work), mix, partial(publish, config.kafka, records), args.timeout, args.workers
            )
            console.print("in-process stages …")
            stages = in_process(config.kafka, config.processor, records)
            matching = matching_cost(config.kafka, config.processor, records)
        finally:
            if not args.keep_topics:
                delete_subjects(config.kafka, delete_prefixed(config.kafka))
    us = sum(stage["us_per_event"] for stage in stages)
    result = {
        "events": args.events,
        "by_source": mix.by_source(),
        "target_events_per_s": TARGET,
        "in_process": stages,
        "in_process_total": {"us_per_event": round(us, 1), "events_per_s": round(1e6 / us)},
        "end_to_end": e2e,
        "matching": matching,
        "topic_prefix": prefix,
    }
    report(result, console)
    report_matching(matching, console)
    write_result(result, args.json)


if __name__ == "__main__":
    main()
