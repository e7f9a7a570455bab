"""Schema subjects against the real registry: `push`, `check` and `seamline schemas check`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from seamline.cli.main import app
from seamline.config import Config, KafkaConfig, load_config
from seamline.schemas import SCHEMA_DIR
from seamline.serde import registry_client
from seamline.subjects import check, push
from seamline.topics import config_topics

BARE_SUBJECTS = {
    f"{topic}-{part}"
    for topic in ("src.erp.customers", "canonical.customer", "seamline.offsets")
    for part in ("key", "value")
}


@pytest.fixture
def config_file(kafka: KafkaConfig, tmp_path: Path) -> Path:
    """A configuration with one source and one sink, on topics of this test's own."""
    path = tmp_path / "seamline.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "kafka": {
                    "bootstrap_servers": kafka.bootstrap_servers,
                    "schema_registry_url": kafka.schema_registry_url,
                    "topic_prefix": kafka.topic_prefix,
                },
                "sources": {
                    "erp": {
                        "kind": "postgres_cdc",
                        "dsn": "postgresql://unused@127.0.0.1/erp",
                        "system": "erp",
                        "tables": ["customers"],
                        "slot": "unused",
                        "publication": "unused",
                    }
                },
                "sinks": {
                    "warehouse": {
                        "kind": "postgres",
                        "dsn": "postgresql://unused@127.0.0.1/dw",
                        "tables": {"customer": "customers"},
                    }
                },
            }
        )
    )
    return path


@pytest.fixture
def config(config_file: Path) -> Config:
    return load_config(config_file)


def changed_schemas(tmp_path: Path, change: Callable[[list[dict[str, Any]]], None]) -> Path:
    """A copy of schemas/ whose customer.avsc fields went through `change`."""
    schema_dir = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, schema_dir)
    customer = json.loads((schema_dir / "customer.avsc").read_text())
    change(customer["fields"])
    (schema_dir / "customer.avsc").write_text(json.dumps(customer))
    return schema_dir


def add_required_field(fields: list[dict[str, Any]]) -> None:
    fields.append({"name": "loyalty_tier", "type": "string"})  # no default: old records cannot be read


def version_to_string(fields: list[dict[str, Any]]) -> None:
    next(f for f in fields if f["name"] == "version")["type"] = "string"


def add_optional_field(fields: list[dict[str, Any]]) -> None:
    fields.append({"name": "loyalty_tier", "type": ["null", "string"], "default": None})


def schemas_check(config_file: Path, schema_dir: Path | None = None) -> tuple[int, str]:
    args = ["schemas", "check", "--config", str(config_file)]
    if schema_dir is not None:
        args += ["--schema-dir", str(schema_dir)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "300"})
    return result.exit_code, result.output


def test_push_registers_subjects_backward(config: Config) -> None:
    prefix = config.kafka.topic_prefix
    ids = push(config.kafka, config_topics(config))
    assert set(ids) == {prefix + subject for subject in BARE_SUBJECTS}
    client = registry_client(config.kafka)
    for subject, schema_id in ids.items():
        latest = client.get_latest_version(subject)
        assert latest.schema_id == schema_id
        assert client.get_compatibility(subject) == "BACKWARD"
    customer = client.get_latest_version(f"{prefix}canonical.customer-value").schema
    assert customer.schema_str is not None
    assert json.loads(customer.schema_str)["name"] == "Customer"


def test_push_twice_keeps_one_version(config: Config) -> None:
    first = push(config.kafka, config_topics(config))
    assert push(config.kafka, config_topics(config)) == first
    client = registry_client(config.kafka)
    assert client.get_versions(f"{config.kafka.topic_prefix}canonical.customer-value") == [1]


def test_check_before_push_reports_new_subjects(config: Config) -> None:
    results = check(config.kafka, config_topics(config))
    assert len(results) == len(BARE_SUBJECTS)
    assert all(r.compatible for r in results)
    # nothing is registered yet: the verdict must not claim a comparison with a registered version
    assert {r.detail for r in results} == {"new subject"}


def test_check_passes_unchanged_schemas(config: Config, config_file: Path) -> None:
    push(config.kafka, config_topics(config))
    results = check(config.kafka, config_topics(config))
    assert all(r.compatible for r in results), results
    files = {r.subject.removeprefix(config.kafka.topic_prefix): r.schema_file for r in results}
    assert files["canonical.customer-value"] == "customer.avsc"
    assert files["src.erp.customers-value"] == "change_event.avsc"
    code, output = schemas_check(config_file)
    assert code == 0, output
    assert "compatible with the registered version" in output


@pytest.mark.parametrize("change", [add_required_field, version_to_string], ids=["required-field", "type-change"])
def test_check_refuses_incompatible_change(
    config: Config, config_file: Path, tmp_path: Path, change: Callable[[list[dict[str, Any]]], None]
) -> None:
    push(config.kafka, config_topics(config))
    schema_dir = changed_schemas(tmp_path, change)
    results = {
        r.subject.removeprefix(config.kafka.topic_prefix): r
        for r in check(config.kafka, config_topics(config), schema_dir)
    }
    refused = results.pop("canonical.customer-value")
    assert not refused.compatible
    assert "not backward compatible" in refused.detail
    assert all(r.compatible for r in results.values())
    code, output = schemas_check(config_file, schema_dir)
    assert code == 1, output
    assert "not backward compatible" in output and "customer.avsc" in output


def test_check_accepts_new_optional_field(config: Config, config_file: Path, tmp_path: Path) -> None:
    push(config.kafka, config_topics(config))
    schema_dir = changed_schemas(tmp_path, add_optional_field)
    assert all(r.compatible for r in check(config.kafka, config_topics(config), schema_dir))
    code, output = schemas_check(config_file, schema_dir)
    assert code == 0, output
