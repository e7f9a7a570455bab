"""Benchmark of the postgres sink's write paths: version-guarded upserts/s into a real PostgreSQL database.

For each write path (`copy`, `executemany`) and batch size, a fresh database of the local stack receives
--rows canonical customers (first version: inserts), then the same rows again as version 2 (updates), then
version 1 once more (a redelivery the version guard must turn into no change), and --orders sales orders
of 1-5 lines. PostgresTarget.write is called directly, without Kafka, so the figures are the sink's own.
Run: make bench-postgres-sink   (or: .venv/bin/python bench/postgres_sink_bench.py --help). Needs `seamline stack up`.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
from json_result import write_result
from psycopg import sql
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from seamline import stack
from seamline.connectors.sink import SinkRecord
from seamline.stack import postgres_dsn
from sinks.postgres.config import PostgresSink
from sinks.postgres.target import PostgresTarget

AIM = 30_000  # upserts/s with the version guard


def customer(number: int, version: int) -> dict[str, Any]:
    return {
        "id": f"c{number:08d}",
        "version": version,
        "name": f"Kunde {number} GmbH",
        "email": f"kunde{number}@example.com",
        "phone": "+4940123456",
        "country": "DE",
        "tax_id": f"DE{number:09d}",
        "street": "Hauptstraße 1",
        "postcode": "20095",
        "city": "Hamburg",
        "deleted": False,
        "xrefs": {"erp": str(number)},
        "links": [f"erp.customers:{number}"],
        "origin": "erp",
        "updated_at": 1_767_225_600_000 + version,
        "merged_into": None,
    }


def order(number: int, rng: random.Random) -> dict[str, Any]:
    lines = [
        {
            "line_number": n,
            "product_id": f"p{rng.randrange(5000)}",
            "sku": None,
            "description": None,
            "quantity": Decimal(rng.randint(1, 50)),
            "unit_price": Decimal("4.9000"),
            "amount": None,
        }
        for n in range(1, rng.randint(1, 5) + 1)
    ]
    return {
        "id": f"o{number:08d}",
        "version": 1,
        "order_number": f"SO-{number}",
        "customer_id": f"c{number % 1000:08d}",
        "status": "open",
        "order_date": datetime(2026, 1, 5, tzinfo=UTC),
        "currency": "EUR",
        "total_amount": Decimal("100.0000"),
        "lines": lines,
        "deleted": False,
        "xrefs": {"erp": str(number)},
        "links": [f"erp.sales_orders:{number}"],
        "origin": "erp",
        "updated_at": 1_767_225_600_000,
        "merged_into": None,
    }


def records(entity: str, values: list[dict[str, Any]]) -> list[SinkRecord]:
    return [
        SinkRecord(entity, value["id"], value, f"canonical.{entity}", 0, offset, None, None)
        for offset, value in enumerate(values)
    ]


@contextmanager
def fresh_database(admin_dsn: str) -> Iterator[str]:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield postgres_dsn(name)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def timed(target: PostgresTarget, batch: list[SinkRecord], size: int) -> float:
    """Records/s writing `batch` in batches of `size`."""
    started = time.perf_counter()
    for start in range(0, len(batch), size):
        outcome = target.write(batch[start : start + size])
        if outcome.rejected:
            raise SystemExit(f"the target rejected records: {outcome.rejected[0].reason}")
    return len(batch) / (time.perf_counter() - started)


def measure(admin_dsn: str, path: str, size: int, rows: int, orders: int) -> dict[str, Any]:
    rng = random.Random(7)
    with fresh_database(admin_dsn) as dsn:
        tables = {"customer": "customers", "sales_order": "sales_orders"}
        target = PostgresTarget(PostgresSink(kind="postgres", dsn=SecretStr(dsn), tables=tables, write_path=path))
        target.setup()
        try:
            result = {
                "write_path": path,
                "batch_size": size,
                "insert_per_s": timed(target, records("customer", [customer(n, 1) for n in range(rows)]), size),
                "update_per_s": timed(target, records("customer", [customer(n, 2) for n in range(rows)]), size),
                "stale_per_s": timed(target, records("customer", [customer(n, 1) for n in range(rows)]), size),
                "orders_per_s": timed(target, records("sales_order", [order(n, rng) for n in range(orders)]), size),
            }
        finally:
            target.close()
        with psycopg.connect(dsn) as conn:
            versions = conn.execute("SELECT count(*), min(version) FROM customers").fetchone()
            lines = conn.execute("SELECT count(*) FROM sales_orders_lines").fetchone()
        if versions != (rows, 2) or not lines or not lines[0]:
            raise SystemExit(f"unexpected target state: customers {versions}, order lines {lines}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=50_000, help="customers upserted per phase")
    parser.add_argument("--orders", type=int, default=10_000, help="sales orders (1-5 lines each)")
    parser.add_argument("--batch-sizes", default="500,2000", help="comma-separated batch sizes")
    parser.add_argument("--json", help="write the JSON result to this file instead of stdout")
    args = parser.parse_args()
    info = stack.up()
    results = [
        measure(info.postgres_dsn, path, int(size), args.rows, args.orders)
        for path in ("copy", "executemany")
        for size in args.batch_sizes.split(",")
    ]
    table = Table(title=f"postgres sink, {args.rows:,} customers, {args.orders:,} orders (aim {AIM:,} upserts/s)")
    for column in ("write path", "batch", "inserts/s", "updates/s", "stale (no change)/s", "orders/s"):
        table.add_column(column, justify="right")
    for r in results:
        figures = (r["insert_per_s"], r["update_per_s"], r["stale_per_s"], r["orders_per_s"])
        table.add_row(r["write_path"], str(r["batch_size"]), *(f"{figure:,.0f}" for figure in figures))
    Console(stderr=True).print(table)
    write_result({"rows": args.rows, "orders": args.orders, "results": results}, args.json)


if __name__ == "__main__":
    main()
