"""`seamline match train` on the real stack: it reads the canonical topic, fits the weights, and prints YAML that
pastes into the configuration as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from seamline.cli.main import app
from seamline.config import KafkaConfig, load_config
from seamline.match_config import DEFAULT_COMPARISONS
from tests.processors.companies import companies
from tests.processors.test_matching import PROCESSOR, in_process
from tests.sinks.canonical_records import publish

pytestmark = pytest.mark.slow


def write_config(kafka: KafkaConfig, path: Path, identity: dict[str, Any]) -> Path:
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    path.write_text(yaml.safe_dump({"kafka": kafka_section, "processor": {**PROCESSOR, "identity": identity}}))
    return path


def test_train_prints_the_fitted_rule_which_pastes_into_the_configuration(kafka: KafkaConfig, tmp_path: Path) -> None:
    _, _, harness = in_process(companies())
    live = harness.live("customer")
    publish(kafka, [("customer", record["id"], record) for record in live])
    config = write_config(kafka, tmp_path / "seamline.yaml", PROCESSOR["identity"])
    result = CliRunner().invoke(app, ["match", "train", "--entity", "customer", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"fitted on {len(live)} customer record(s)" in result.stderr
    assert "kept as configured (no pair agrees on them): email, tax_id" in result.stderr
    fitted = yaml.safe_load(result.stdout)["probabilistic"]
    by_field = {c["field"]: c for c in fitted["comparisons"]}
    assert by_field["phone"]["common"] == ["+390212345678"]  # the data set's switchboard number
    for default in DEFAULT_COMPARISONS:  # the shipped defaults are the fit on this data set
        assert by_field[default.field]["m"] == pytest.approx(default.m, abs=0.02)
        assert by_field[default.field]["u"] == pytest.approx(default.u, abs=0.02)
    identity = {"customer": {**PROCESSOR["identity"]["customer"], **yaml.safe_load(result.stdout)}}
    pasted = load_config(write_config(kafka, tmp_path / "pasted.yaml", identity))
    assert pasted.processor is not None
    rule = pasted.processor.rules("customer").probabilistic
    assert rule is not None and rule.upper == 20.0 and [c.field for c in rule.comparisons] == list(by_field)


def test_train_refuses_an_unknown_entity_one_without_a_rule_or_without_records(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    config = write_config(kafka, tmp_path / "seamline.yaml", PROCESSOR["identity"])
    unknown = CliRunner().invoke(app, ["match", "train", "--entity", "client", "--config", str(config)])
    assert unknown.exit_code == 2 and "no entity 'client': use one of customer, product" in unknown.stderr
    product = CliRunner().invoke(app, ["match", "train", "--entity", "product", "--config", str(config)])
    assert product.exit_code == 2 and "no probabilistic rule for product: the default comparisons are" in product.stderr
    empty = CliRunner().invoke(app, ["match", "train", "--entity", "customer", "--config", str(config)])
    assert empty.exit_code == 2 and "cannot fit on 0 customer record(s)" in empty.stderr
