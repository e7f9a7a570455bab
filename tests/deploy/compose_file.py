"""docker-compose.yml read as Compose reads it, for the deploy tests: defaults of ${VAR:-default} applied."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
_DEFAULTED = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}")


def load_compose() -> dict[str, Any]:
    """The compose file as YAML (anchors and merge keys resolved, variables not)."""
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def with_defaults(text: str) -> str:
    """`text` with every ${VAR:-default} replaced by its default, as Compose does when VAR is unset."""
    return _DEFAULTED.sub(lambda match: match.group(1), text)


def env_file_values(path: Path) -> dict[str, str]:
    """NAME=value lines of an env file (comments and blank lines skipped)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@dataclass(frozen=True)
class SeamlineService:
    """A compose service running one seamline process."""

    name: str
    command: list[str]
    config: Path
    env: dict[str, str]
    network_owner: str  # the service whose network it uses: itself, or X of network_mode "service:X"


def seamline_services(compose: dict[str, Any]) -> list[SeamlineService]:
    """The services whose command is `seamline source run NAME`, `seamline process`, `seamline sink run NAME` or
    `seamline notify`."""
    found = []
    for name, service in compose["services"].items():
        command = service.get("command") or []
        runs_seamline = bool(command) and command[0] in ("source", "process", "sink", "notify")
        if service.get("entrypoint") is not None or not runs_seamline:
            continue
        mounts = dict(reversed(volume.split(":")[:2]) for volume in service.get("volumes", []))
        config_path = service["environment"]["SEAMLINE_CONFIG"]
        env: dict[str, str] = {}
        for env_file in service.get("env_file", []):
            env.update(env_file_values(ROOT / with_defaults(env_file)))
        network = service.get("network_mode", "")
        found.append(
            SeamlineService(
                name=name,
                command=list(command),
                config=ROOT / mounts[config_path],
                env=env,
                network_owner=network.removeprefix("service:") if network.startswith("service:") else name,
            )
        )
    return found
