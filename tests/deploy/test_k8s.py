"""deploy/k8s: every manifest is valid for a recent Kubernetes (strict: no unknown field), the ConfigMap's
configuration loads with seamline's config model using the Secret's keys, and each Deployment runs a real
seamline command with probes, resources, Prometheus annotations and the rollout its stage needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from seamline.config import Config, load_config
from tests.deploy.commands import check_process_command

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
MANIFESTS = [
    document
    for resource in KUSTOMIZATION["resources"]
    for document in yaml.safe_load_all((K8S / resource).read_text())
    if document
]
DEPLOYMENTS = [manifest for manifest in MANIFESTS if manifest["kind"] == "Deployment"]


def the(kind: str) -> dict[str, Any]:
    (found,) = [manifest for manifest in MANIFESTS if manifest["kind"] == kind]
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    """The ConfigMap's seamline.yaml, loaded with every key of the Secret set."""
    for name, value in the("Secret")["stringData"].items():
        monkeypatch.setenv(name, value)
    path = tmp_path / "seamline.yaml"
    path.write_text(the("ConfigMap")["data"]["seamline.yaml"])
    return load_config(path)


def test_every_resource_file_exists_and_every_file_is_a_resource() -> None:
    files = sorted(path.name for path in K8S.glob("*.yaml") if path.name != "kustomization.yaml")
    assert sorted(KUSTOMIZATION["resources"]) == files


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda m: f"{m['kind']}-{m['metadata']['name']}")
def test_manifest_is_valid_kubernetes(manifest: dict[str, Any]) -> None:
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_the_validation_refuses_an_unknown_field() -> None:
    broken = {**DEPLOYMENTS[0], "spec": {**DEPLOYMENTS[0]["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_configuration_is_valid_and_every_secret_it_names_is_in_the_secret(config: Config) -> None:
    assert set(config.sources) >= {"erp", "crm", "shop", "marketing", "marketing-poll", "support"}
    assert config.processor is not None
    assert "replace-me" in the("Secret")["stringData"].values(), "a template, not real secrets"


def test_the_configuration_is_the_sample_business() -> None:
    cluster = yaml.safe_load(the("ConfigMap")["data"]["seamline.yaml"])
    example = yaml.safe_load((ROOT / "examples" / "business.yaml").read_text())
    assert {**cluster["processor"], "data_dir": None} == {**example["processor"], "data_dir": None}
    assert cluster["sources"].keys() == example["sources"].keys()
    assert cluster["sinks"].keys() == example["sinks"].keys()
    assert cluster["notify"]["routes"] == example["notify"]["routes"]
    assert cluster["notify"]["channels"].keys() == example["notify"]["channels"].keys()


def test_each_process_of_the_configuration_has_a_deployment_running_a_real_command(config: Config) -> None:
    commands = [container(deployment)["args"] for deployment in DEPLOYMENTS]
    for args in commands:
        check_process_command(args, config)
    expected = [["source", "run", name] for name in config.sources] + [["process"], ["notify"]]
    expected += [["sink", "run", name] for name in config.sinks]
    assert sorted(map(tuple, commands)) == sorted(map(tuple, expected))


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["metadata"]["name"])
def test_deployment_probes_resources_and_scraping(deployment: dict[str, Any], config: Config) -> None:
    main = container(deployment)
    args = main["args"]
    if args[0] == "process":
        assert config.processor is not None
        port = config.processor.metrics_port
    elif args[0] == "notify":
        assert config.notify is not None
        port = config.notify.metrics_port
    else:
        port = (config.sources if args[0] == "source" else config.sinks)[args[2]].metrics_port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
    assert {"name": "metrics", "containerPort": port} in main["ports"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert main[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert {"name": "SEAMLINE_METRICS_HOST", "value": "0.0.0.0"} in main["env"], "probes and Prometheus reach the pod"
    assert {"cpu", "memory"} <= set(main["resources"]["requests"]) and "memory" in main["resources"]["limits"]
    assert main["envFrom"] == [{"secretRef": {"name": the("Secret")["metadata"]["name"]}}]
    mounts = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    assert mounts["config"]["configMap"]["name"] == the("ConfigMap")["metadata"]["name"]


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=lambda d: d["metadata"]["name"])
def test_sources_and_notify_have_one_owner_and_scaling_stages_a_disruption_budget(deployment: dict[str, Any]) -> None:
    name = deployment["metadata"]["name"]
    budgets = {
        manifest["metadata"]["name"]: manifest for manifest in MANIFESTS if manifest["kind"] == "PodDisruptionBudget"
    }
    # notify's rate limits and repeat window count what one process sees
    if container(deployment)["args"][0] in ("source", "notify"):
        assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
        assert name not in budgets
    else:
        assert deployment["spec"]["replicas"] >= 2
        assert budgets[name]["spec"]["selector"] == deployment["spec"]["selector"]


def test_each_webhook_source_is_reachable_through_its_service(config: Config) -> None:
    webhooks = sorted(name for name, source in config.sources.items() if source.kind == "webhook")
    services = {manifest["metadata"]["name"]: manifest for manifest in MANIFESTS if manifest["kind"] == "Service"}
    assert sorted(services) == [f"seamline-source-{name}" for name in webhooks] and webhooks
    for name in webhooks:
        source = config.sources[name]
        assert getattr(source, "host", None) == "0.0.0.0", f"{name} listens beyond the pod"
        service = services[f"seamline-source-{name}"]
        (port,) = service["spec"]["ports"]
        assert port["port"] == getattr(source, "port", None)
        (deployment,) = [d for d in DEPLOYMENTS if d["metadata"]["name"] == service["metadata"]["name"]]
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert {"name": port["targetPort"], "containerPort": port["port"]} in container(deployment)["ports"]
