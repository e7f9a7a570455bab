"""Benchmark of `seamline replay`: rebuild an empty PostgreSQL target from --customers canonical customers.

Publishes the customers (one version each) to a canonical topic of its own prefix, then times a real
`seamline replay --sink warehouse` process from start to exit (Python start, group set-up and the final
commit included) while sampling its resident memory, and checks the target holds every customer. With
--instances N, N `seamline sink run` processes of one consumer group rebuild the target instead, timed until it
holds every customer: how the sink scales out over the topic's partitions. Its topics, registry subjects and
database are deleted at the end.
Run: make bench-replay   (or: .venv/bin/python bench/replay_bench.py --customers 1000000)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg
import yaml
from json_result import write_result
from postgres_sink_bench import customer
from process_sampler import ProcessSampler, Usage
from psycopg import sql
from rich.console import Console
from rich.table import Table

from seamline import stack
from seamline.config import KafkaConfig
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.stack import postgres_dsn
from seamline.stack.ports import free_port
from seamline.subjects import delete_subjects
from seamline.topics import canonical_topic, delete_prefixed, ensure_topics

AIM_S = 60.0  # for 1,000,000 customers (docs/performance.md)


def publish(kafka: KafkaConfig, count: int) -> float:
    """Publish `count` customers; the seconds it took."""
    topic = canonical_topic(kafka, "customer")
    ensure_topics(kafka, [topic])
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    started = time.perf_counter()
    for number in range(count):
        value = customer(number, version=1)
        publisher.send(topic, serde.encode(topic, value), key=serde.encode(topic, value["id"], key=True))
    publisher.flush()
    publisher.close()
    return time.perf_counter() - started


def write_config(path: Path, kafka: KafkaConfig, database: str, prefix: str, batch_size: int) -> Path:
    """A configuration with the warehouse sink: the benchmark's database and group, a metrics port of its own."""
    sink = {
        "kind": "postgres",
        "dsn": postgres_dsn(database),
        "tables": {"customer": "customers"},
        "batch_size": batch_size,
        "group_id": f"{prefix}warehouse",
        "metrics_port": free_port(),
    }
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "sinks": {"warehouse": sink}}))
    return path


def replay(config: Path) -> tuple[float, Usage]:
    """Run `seamline replay`; its wall time and CPU and memory use."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "seamline", "replay", "--sink", "warehouse", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={"SEAMLINE_LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"},
    )
    sampler = ProcessSampler({"replay": child.pid}, interval_s=0.2).start()
    child.wait()
    elapsed = time.perf_counter() - started
    usage = sampler.stop()["replay"]
    if child.returncode != 0:
        raise SystemExit(f"seamline replay failed ({child.returncode}):\n{child.stderr.read() if child.stderr else ''}")
    return elapsed, usage


def sink_instances(configs: list[Path], database: str, customers: int) -> tuple[float, dict[str, Usage]]:
    """Run one `seamline sink run warehouse` per config (one consumer group) until the target holds every
    customer; the wall time and each process's CPU and memory use."""
    started = time.perf_counter()
    children = {
        f"sink-{number}": subprocess.Popen(
            [sys.executable, "-m", "seamline", "sink", "run", "warehouse", "--config", str(path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"SEAMLINE_LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"},
        )
        for number, path in enumerate(configs)
    }
    sampler = ProcessSampler({name: child.pid for name, child in children.items()}, interval_s=0.2).start()
    try:
        with psycopg.connect(postgres_dsn(database), autocommit=True) as conn:
            while _count(conn) < customers:
                if exited := {name: child.returncode for name, child in children.items() if child.poll() is not None}:
                    raise SystemExit(f"a sink exited before the target was complete: {exited}")
                time.sleep(1.0)
        elapsed = time.perf_counter() - started
        return elapsed, sampler.stop()
    finally:
        for child in children.values():
            child.terminate()
            child.wait(30)


def _count(conn: psycopg.Connection[tuple[int]]) -> int:
    """Customers in the target so far (0 before the sink created its table)."""
    try:
        row = conn.execute("SELECT count(*) FROM customers").fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000, help="canonical customers to rebuild")
    parser.add_argument("--batch-size", type=int, default=2000, help="the sink's batch size")
    parser.add_argument("--json", help="write the JSON result to this file instead of stdout")
    parser.add_argument(
        "--instances",
        type=int,
        help="instead of `seamline replay`, run this many `seamline sink run` processes of one group (scale-out)",
    )
    args = parser.parse_args()
    info = stack.up()
    prefix = f"bench_replay_{uuid.uuid4().hex[:8]}."
    kafka = KafkaConfig(
        bootstrap_servers=info.bootstrap_servers, schema_registry_url=info.registry_url, topic_prefix=prefix
    )
    database = prefix.rstrip(".")
    with psycopg.connect(info.postgres_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        with TemporaryDirectory() as work:
            configs = [
                write_config(Path(work) / f"seamline-{number}.yaml", kafka, database, prefix, args.batch_size)
                for number in range(args.instances or 1)
            ]
            published_s = publish(kafka, args.customers)
            if args.instances:
                elapsed, usages = sink_instances(configs, database, args.customers)
            else:
                elapsed, replayed = replay(configs[0])
                usages = {"replay": replayed}
        with psycopg.connect(postgres_dsn(database)) as conn:
            held = _count(conn)
        if held != args.customers:
            raise SystemExit(f"the target holds {held:,} customers, not {args.customers:,}")
    finally:
        delete_subjects(kafka, delete_prefixed(kafka))
        with psycopg.connect(info.postgres_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
    processes = {name: usage.as_dict(elapsed) for name, usage in usages.items()}
    result = {
        "customers": args.customers,
        "batch_size": args.batch_size,
        "sink_instances": args.instances,
        "publish_s": round(published_s, 1),
        "replay_s": round(elapsed, 1),
        "replay_per_s": round(args.customers / elapsed),
        "process": processes["replay"] if "replay" in processes else processes,
    }
    how = f"{args.instances} `seamline sink run` instance(s)" if args.instances else "seamline replay"
    table = Table(title=f"{how}: {args.customers:,} canonical customers into an empty PostgreSQL target")
    for column in ("process", "s", "customers/s", "CPU cores", "peak RSS", "aim (1M)"):
        table.add_column(column, justify="right")
    for name, usage in usages.items():
        table.add_row(
            name,
            f"{elapsed:,.1f}",
            f"{result['replay_per_s']:,}",
            f"{usage.cpu_s / elapsed:.2f}",
            f"{usage.peak_rss_mb:,.0f} MB",
            f"{AIM_S:.0f} s",
        )
    Console(stderr=True).print(table)
    write_result(result, args.json)


if __name__ == "__main__":
    main()
