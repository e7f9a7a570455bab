"""The command line refuses bad configuration files with the line, the key and the fix."""

import os
import subprocess
import sys
from pathlib import Path

from tests.command import ROOT, seamline


def test_the_example_configuration_is_valid() -> None:
    result = seamline(
        "validate", "examples/erp-to-warehouse.yaml", env={"ERP_PASSWORD": "x", "WAREHOUSE_PASSWORD": "y"}
    )
    assert result.returncode == 0, result.stderr
    assert "1 source(s), a processor, 1 sink(s)" in result.stderr


def test_a_long_running_process_refuses_a_bad_file_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        (ROOT / "examples/erp-to-warehouse.yaml").read_text().replace("slot: seamline_erp", "slot: Bad-Slot")
    )
    result = seamline(
        "source", "run", "erp", "--config", str(bad), env={"ERP_PASSWORD": "x", "WAREHOUSE_PASSWORD": "y"}
    )
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert f"{bad}:12: sources.erp.slot: String should match pattern" in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr


def test_a_missing_secret_is_named(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ERP_PASSWORD", "WAREHOUSE_PASSWORD")}
    result = subprocess.run(
        [sys.executable, "-m", "seamline", "validate", "examples/erp-to-warehouse.yaml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert result.returncode == 2
    assert "environment variable ERP_PASSWORD is not set" in result.stderr


def test_validate_locates_a_bad_field_rule(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    text = (
        (ROOT / "examples/erp-to-warehouse.yaml")
        .read_text()
        .replace("{lookup: countries, column: country_name}", "{lookup: country_names, column: country_name}")
    )
    bad.write_text(text)
    line = next(number for number, row in enumerate(text.splitlines(), 1) if "country_names" in row)
    result = seamline("validate", str(bad), env={"ERP_PASSWORD": "x", "WAREHOUSE_PASSWORD": "y"})
    assert result.returncode == 2
    assert (
        f"{bad}:{line}: processor.mappings.0.fields.country.lookup: lookup table 'country_names' is not declared "
        "under processor.lookups (countries)"
    ) in result.stderr.replace("\n", "")
    assert "Traceback" not in result.stderr
