"""`stack up | status | down`: the services brought up, checked and stopped together."""

import fcntl
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from seamline.stack import mariadb, postgres
from seamline.stack.kafka import Kafka
from seamline.stack.layout import state_dir
from seamline.stack.mariadb import MariaDb
from seamline.stack.postgres import Postgres
from seamline.stack.prometheus import Prometheus
from seamline.stack.registry import Registry
from seamline.stack.service import Service, ServiceStatus, check, ensure_ports_free, launch, stop, wait_healthy


@dataclass(frozen=True)
class StackInfo:
    """Where the running stack's clients connect."""

    bootstrap_servers: str
    registry_url: str
    postgres_dsn: str
    mariadb_url: str
    prometheus_url: str
    state_dir: Path


def _services(root: Path) -> tuple[Kafka, Registry, Postgres, MariaDb, Prometheus]:
    return Kafka(root), Registry(root), Postgres(root), MariaDb(root), Prometheus(root)


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """Serialise up/down across processes (tests and demo share one stack)."""
    with (root / "stack.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _in_parallel(action: Callable[[Service], None], services: Iterable[Service]) -> None:
    """Run action on every service at once (downloads, formats, JVM start-ups overlap)."""
    with ThreadPoolExecutor() as pool:
        list(pool.map(action, services))  # re-raises the first failure


def up() -> StackInfo:
    """Install what is missing, start what is not running, wait until all are healthy.

    Idempotent: a running service of ours is left running (its configuration refreshed where it can take it
    without a restart), so a second call takes seconds. Raises StackError (missing Java, busy port, failed
    download, a service that does not become healthy) before anything is started where it can.
    """
    root = state_dir()
    kafka, registry, _, _, prometheus = services = _services(root)
    with _exclusive(root):
        pending: list[Service] = [service for service in services if service.pid() is None]
        for service in pending:
            ensure_ports_free(service)
        _in_parallel(lambda service: service.install(), pending)
        _in_parallel(launch, pending)
        for service in services:
            wait_healthy(service)
            if service not in pending:
                service.refresh()
    return StackInfo(kafka.address, registry.url, postgres.dsn(), mariadb.url(), prometheus.url, root)


def status() -> list[ServiceStatus]:
    """The status of each service: address, pid of our instance, healthy or not."""
    return [check(service) for service in _services(state_dir())]


def down(purge: bool = False) -> list[str]:
    """Stop the services `up` started (by their pid files); return the names stopped.

    With purge, also delete their data and logs; installs are kept.
    """
    root = state_dir()
    services = _services(root)
    with _exclusive(root):
        stopped = [service.name for service in reversed(services) if stop(service)]
        if purge:
            for service in services:
                service.purge()
                service.log_file.unlink(missing_ok=True)
    return stopped
