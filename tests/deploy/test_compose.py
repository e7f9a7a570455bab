"""docker-compose.yml: valid against the Compose Specification, and consistent with the project: what it mounts
exists, the seamline services run real commands on valid configurations, publish their metrics ports on
127.0.0.1, start after what they need, and Prometheus scrapes each of them. No Docker engine is needed."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from seamline.config import Config, load_config
from seamline.stack.prometheus import tool
from tests.command import seamline
from tests.deploy.commands import check_process_command
from tests.deploy.compose_file import ROOT, SeamlineService, load_compose, seamline_services, with_defaults

COMPOSE = load_compose()
SERVICES = COMPOSE["services"]
SEAMLINE = seamline_services(COMPOSE)
INFRASTRUCTURE = {"kafka", "registry", "postgres", "mariadb", "prometheus", "alertmanager", "grafana"}
GRAFANA_MOUNTS = {"./deploy/grafana/provisioning", "./deploy/grafana/dashboards"}


def compose_spec_schema() -> dict[str, Any]:
    """The Compose Specification's JSON schema as check-jsonschema (pinned in pyproject.toml) vendors it.

    Located without importing the package, whose command line needs a newer click than faust-streaming allows.
    """
    spec = find_spec("check_jsonschema")
    assert spec is not None and spec.submodule_search_locations, "pip install -e '.[test]' installs check-jsonschema"
    vendor = Path(spec.submodule_search_locations[0]) / "builtin_schemas" / "vendor"
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))
    return schema


SCHEMA = compose_spec_schema()


def loaded(service: SeamlineService, monkeypatch: pytest.MonkeyPatch) -> Config:
    for name, value in service.env.items():
        monkeypatch.setenv(name, value)
    return load_config(service.config)


def metrics_port(config: Config, command: list[str]) -> int:
    if command[0] == "process":
        assert config.processor is not None
        return config.processor.metrics_port
    if command[0] == "notify":
        assert config.notify is not None
        return config.notify.metrics_port
    sections: dict[str, Any] = config.sources if command[0] == "source" else config.sinks
    return int(sections[command[2]].metrics_port)


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each short-syntax port."""
    result = []
    for port in service.get("ports", []):
        address, host, container = str(port).split(":")
        result.append((address, int(host), int(container)))
    return result


def test_the_compose_file_follows_the_compose_specification() -> None:
    validator = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)
    errors = [f"{'.'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(COMPOSE)]
    assert not errors, "\n".join(errors)


def test_the_schema_check_refuses_an_unknown_service_key() -> None:
    broken = {"services": {"kafka": {**SERVICES["kafka"], "healthcheck_": {}}}}
    assert not jsonschema.validators.validator_for(SCHEMA)(SCHEMA).is_valid(broken)


def test_the_whole_stack_is_there() -> None:
    assert INFRASTRUCTURE <= set(SERVICES)
    assert {service.command[0] for service in SEAMLINE} == {"source", "process", "sink", "notify"}
    assert {"crm", "shop", "erp-seed", "mailchimp", "zendesk"} <= set(SERVICES), "the sample business's systems"
    assert {"mailpit", "slack", "twilio"} <= set(SERVICES), "where notify's e-mails, Slack messages and SMS go"
    assert "KAFKA_PROCESS_ROLES" in SERVICES["kafka"]["environment"], "Kafka runs in KRaft mode"


def test_every_file_mounted_or_built_from_exists() -> None:
    sources = {SERVICES[name]["build"]["context"] for name in SERVICES if "build" in SERVICES[name]}
    for service in SERVICES.values():
        sources |= {volume.split(":")[0] for volume in service.get("volumes", []) if volume.startswith(".")}
        sources |= {with_defaults(env_file) for env_file in service.get("env_file", [])}
    sources |= {with_defaults(secret["file"]) for secret in COMPOSE["secrets"].values()}
    sources |= {f"./{service['build']['dockerfile']}" for service in SERVICES.values() if "build" in service}
    missing = [source for source in sorted(sources) if not (ROOT / source).exists()]
    assert not missing, f"mounted or built from, but not in the repository: {missing}"
    mounted_by_grafana = {volume.split(":")[0] for volume in SERVICES["grafana"]["volumes"]}
    assert mounted_by_grafana == GRAFANA_MOUNTS
    assert SERVICES["grafana"]["environment"]["PROMETHEUS_URL"] == "http://prometheus:9090"


def test_every_published_port_is_on_localhost_only() -> None:
    for name, service in SERVICES.items():
        for address, _, _ in published(service):
            assert address == "127.0.0.1", f"{name} publishes a port on {address}"


@pytest.mark.parametrize("service", SEAMLINE, ids=lambda service: service.name)
def test_seamline_service_runs_a_real_command_on_a_valid_configuration(
    service: SeamlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = seamline("validate", str(service.config), env=service.env)
    assert result.returncode == 0, result.stderr
    check_process_command(service.command, loaded(service, monkeypatch))


@pytest.mark.parametrize("service", SEAMLINE, ids=lambda service: service.name)
def test_seamline_service_publishes_its_metrics_port_and_prometheus_scrapes_it(
    service: SeamlineService, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = metrics_port(loaded(service, monkeypatch), service.command)
    assert ("127.0.0.1", port, port) in published(SERVICES[service.network_owner])
    healthcheck = " ".join(SERVICES[service.name]["healthcheck"]["test"])
    assert f"http://127.0.0.1:{port}/metrics" in healthcheck
    prometheus = yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text())
    targets = {
        target
        for job in prometheus["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert f"{service.network_owner}:{port}" in targets


def test_published_ports_do_not_collide() -> None:
    ports = [host for service in SERVICES.values() for _, host, _ in published(service)]
    assert len(ports) == len(set(ports))


def test_start_order_waits_for_health() -> None:
    for name, service in SERVICES.items():
        for needed, condition in service.get("depends_on", {}).items():
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[needed], f"{name} waits for {needed}, which has no healthcheck"
            elif condition["condition"] == "service_completed_successfully":
                assert SERVICES[needed].get("restart") == "no", f"{needed} runs once"
    for service in SEAMLINE:
        needs = SERVICES[service.name]["depends_on"]
        assert needs["kafka"] == needs["registry"] == {"condition": "service_healthy"}
        assert needs["erp-seed"] == {"condition": "service_completed_successfully"}


def test_the_processor_is_the_sample_business_processor() -> None:
    compose_config = yaml.safe_load((ROOT / "deploy/compose/seamline.yaml").read_text())
    example = yaml.safe_load((ROOT / "examples/business.yaml").read_text())
    assert {**compose_config["processor"], "data_dir": None} == {**example["processor"], "data_dir": None}
    assert compose_config["sources"].keys() == example["sources"].keys()
    assert compose_config["sinks"].keys() == example["sinks"].keys()
    assert compose_config["notify"]["routes"] == example["notify"]["routes"]
    assert compose_config["notify"]["channels"].keys() == example["notify"]["channels"].keys()


def test_every_process_of_the_configuration_runs_in_a_service(monkeypatch: pytest.MonkeyPatch) -> None:
    config = loaded(SEAMLINE[0], monkeypatch)
    expected = [["source", "run", name] for name in config.sources] + [["process"], ["notify"]]
    expected += [["sink", "run", name] for name in config.sinks]
    assert sorted(service.command for service in SEAMLINE) == sorted(expected)


def test_compose_prometheus_configuration_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "deploy/compose/prometheus.yml").read_text().replace("/etc/prometheus/alerts.yml", "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(text)
    shutil.copy(ROOT / "deploy/prometheus/alerts.yml", tmp_path / "alerts.yml")
    result = subprocess.run(
        [tool("promtool"), "check", "config", "prometheus.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
