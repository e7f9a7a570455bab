"""Every configuration file the project ships takes each secret from the environment, never written in it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr

from seamline.config import load_config

ROOT = Path(__file__).resolve().parents[2]
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def shipped() -> dict[str, str]:
    """Name -> text of each configuration file in the repository, the Kubernetes ConfigMap's included."""
    files = {str(path.relative_to(ROOT)): path.read_text() for path in sorted((ROOT / "examples").glob("*.yaml"))}
    files["deploy/compose/seamline.yaml"] = (ROOT / "deploy/compose/seamline.yaml").read_text()
    configmap = yaml.safe_load((ROOT / "deploy/k8s/configmap.yaml").read_text())
    files["deploy/k8s/configmap.yaml"] = configmap["data"]["seamline.yaml"]
    return files


def secrets(node: Any, where: str = "") -> dict[str, str]:
    """Dotted path -> value of every secret field in a loaded configuration."""
    if isinstance(node, SecretStr):
        return {where: node.get_secret_value()}
    found: dict[str, str] = {}
    items: Any = (
        ((name, getattr(node, name)) for name in type(node).model_fields)
        if isinstance(node, BaseModel)
        else node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list | tuple)
        else ()
    )
    for key, value in items:
        found.update(secrets(value, f"{where}.{key}" if where else str(key)))
    return found


@pytest.mark.parametrize("name", list(shipped()))
def test_every_secret_comes_from_the_environment(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = shipped()[name]
    for variable in set(ENV_REF.findall(text)):
        monkeypatch.setenv(variable, f"<env:{variable}>")
    path = tmp_path / "seamline.yaml"
    path.write_text(text)
    found = secrets(load_config(path))
    assert found, f"{name} has no secret field: the check would prove nothing"
    written = {where: value for where, value in found.items() if value and "<env:" not in value}
    assert written == {}, f"{name} writes secrets in the file; use ${{ENV_VAR}}"
