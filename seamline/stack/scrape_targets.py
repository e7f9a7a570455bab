"""Each seamline process registers its metrics endpoint with the local stack's Prometheus: a file_sd target file
written when it starts, removed when it stops; the files of processes that are gone are cleaned up, and the
targets' health is read back from Prometheus."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from seamline.stack import processes
from seamline.stack.layout import HOST, state_root
from seamline.stack.prometheus import Prometheus

JOBS = ("source", "processor", "sink", "reconcile", "notify")
"""The kinds of process, each scraped by the job seamline-<kind> of deploy/prometheus/prometheus.yml."""
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, order=True)
class ScrapeTarget:
    """A seamline process as Prometheus scrapes it: health up, down or unknown (not scraped yet)."""

    job: str
    process: str
    instance: str
    health: str
    error: str


def local_prometheus() -> Prometheus | None:
    """The local stack's Prometheus, None on a machine where `seamline stack up` never set it up (nothing is
    created here: a process elsewhere registers nowhere)."""
    prometheus = Prometheus(state_root())
    return prometheus if prometheus.targets.is_dir() else None


def register(kind: str, name: str, port: int, host: str = HOST) -> Path | None:
    """Have the local Prometheus scrape this process's metrics at host:port (job seamline-<kind>, label process
    <kind>-<name>): `targets/<kind>-<name>-<pid>-<port>.json`, written atomically once the files of processes that
    are gone are removed. The file, to `unregister` when the process stops; None without a local stack."""
    assert kind in JOBS, f"{kind} is not one of {JOBS}"
    prometheus = local_prometheus()
    if prometheus is None:
        return None
    remove_stale(prometheus.targets)
    path = prometheus.targets / f"{kind}-{_UNSAFE.sub('_', name)}-{os.getpid()}-{port}.json"
    staging = path.with_name(f".{path.name}.tmp")  # outside the jobs' `*.json` patterns until it is whole
    staging.write_text(json.dumps([{"targets": [f"{host}:{port}"], "labels": {"process": f"{kind}-{name}"}}]))
    staging.replace(path)
    return path


def unregister(path: Path) -> None:
    """Stop Prometheus scraping a process (its file gone, Prometheus drops the target within seconds)."""
    path.unlink(missing_ok=True)


def remove_stale(targets: Path) -> list[Path]:
    """Delete the target files of processes that are gone without removing theirs (SIGKILL, a crash): their pid,
    in the file name, is no longer alive. Files named otherwise are left alone. The files deleted."""
    removed = []
    for path in targets.glob("*-*-*-*.json"):
        pid = owner(path)
        if pid is not None and not processes.alive(pid):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def owner(path: Path) -> int | None:
    """The pid of the process that registered a target file, None for a file `register` did not name."""
    parts = path.stem.rsplit("-", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit() else None


def scrape_targets(prometheus: Prometheus) -> list[ScrapeTarget]:
    """The seamline processes Prometheus scrapes, with their health (its /api/v1/targets); httpx.HTTPError if
    Prometheus does not answer."""
    answer = httpx.get(f"{prometheus.url}/api/v1/targets", params={"state": "active"}, timeout=5)
    answer.raise_for_status()
    return sorted(
        ScrapeTarget(
            target["labels"].get("job", ""),
            target["labels"].get("process", ""),
            target["labels"].get("instance", ""),
            target["health"],
            target.get("lastError", ""),
        )
        for target in answer.json()["data"]["activeTargets"]
        if target["labels"].get("job", "").startswith("seamline-")
    )
