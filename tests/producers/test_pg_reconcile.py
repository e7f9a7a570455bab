"""`seamline reconcile --source` on a real pipeline: rows no golden record links (dead-lettered, or changed while
the pipeline was stopped) are missing, and links to rows deleted meanwhile are extra; nothing else is reported."""

from __future__ import annotations

import json

import psycopg
import pytest
from typer.testing import CliRunner

from producers.postgres_cdc.reconcile import parse_key
from sandbox.erp import SampleData, insert
from seamline.cli.main import app
from seamline.events import format_key
from seamline.operations.convergence import compare, dead_letter_reasons
from seamline.operations.local_pipeline import SOURCE, LocalPipeline
from seamline.stack.processes import Supervisor
from tests.conftest import wait_until

pytestmark = pytest.mark.slow


def reconcile(pipeline: LocalPipeline, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["reconcile", *args, "--config", str(pipeline.config_path)])
    return result.exit_code, result.output


def test_rows_without_golden_records_and_links_to_deleted_rows_are_found(
    pipeline: LocalPipeline, processes: Supervisor
) -> None:
    with psycopg.connect(pipeline.erp_dsn) as conn:
        insert(conn, list(SampleData(seed=11, invalid_every=40).customers(200)))
    processes.start_all()

    def in_sync() -> bool:
        report = compare(pipeline.config, pipeline.erp_dsn, pipeline.target_dsn)
        return report.source_rows == 200 and report.matched + report.invalid_in_dlq == 200

    wait_until(in_sync, 120, "the target to match the ERP")
    processes.stop_all()
    dead_lettered = {f"erp.customers:{key}" for key in dead_letter_reasons(pipeline.config)}
    assert len(dead_lettered) == 5
    code, output = reconcile(pipeline, "--source", SOURCE)
    assert code == 1 and "200 records compared: 5 missing customer" in output, output

    with psycopg.connect(pipeline.erp_dsn, autocommit=True) as conn:
        (added,) = insert(conn, list(SampleData(seed=99, invalid_every=10**9).customers(1)))
        ids = [row[0] for row in conn.execute("SELECT id FROM customers ORDER BY id")]
        gone = next(key for key in ids if f"erp.customers:{key}" not in dead_lettered)
        conn.execute("DELETE FROM customers WHERE id = %s", (gone,))
    code, output = reconcile(pipeline, "--source", SOURCE, "--json")
    found = {(m["id"], m["kind"]) for m in (json.loads(line) for line in output.splitlines() if line.startswith("{"))}
    assert code == 1
    assert found == {(ref, "missing") for ref in dead_lettered | {f"erp.customers:{added}"}} | {
        (f"erp.customers:{gone}", "extra")
    }


def test_a_key_reads_back_into_its_columns() -> None:
    for columns, key in ((["id"], {"id": "a;b=c"}), (["tenant", "id"], {"tenant": "t1", "id": "42"})):
        assert parse_key(columns, format_key(key)) == key


def test_unknown_sources_are_one_clear_line(pipeline: LocalPipeline) -> None:
    code, output = reconcile(pipeline, "--source", "nowhere")
    assert code == 2 and "no source 'nowhere'" in output
    code, output = reconcile(pipeline)
    assert code == 2 and "name one of --sink NAME or --source NAME" in output
