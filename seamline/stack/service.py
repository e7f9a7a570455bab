"""What every local service provides, and bringing one up, checking it, stopping it."""

import signal
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from seamline.stack import processes
from seamline.stack.errors import StackError
from seamline.stack.layout import HOST
from seamline.stack.ports import ensure_port_free


class Service(ABC):
    """One process of the local stack, with its files under the state dir."""

    name: ClassVar[str]
    #: The ports it listens on, the first being the one clients use.
    ports: ClassVar[tuple[int, ...]]
    #: Sent in turn to stop it, each given 20 s, before SIGKILL.
    stop_signals: ClassVar[tuple[signal.Signals, ...]] = (signal.SIGTERM,)
    start_timeout: ClassVar[float] = 120.0

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pid_file = root / f"{self.name}.pid"
        self.log_file = root / f"{self.name}.log"

    @property
    def address(self) -> str:
        """Where clients reach it."""
        return f"{HOST}:{self.ports[0]}"

    @abstractmethod
    def install(self) -> None:
        """Download or locate the binaries (idempotent, fast when already done)."""

    @abstractmethod
    def prepare(self) -> None:
        """Initialise data and config before a start (idempotent)."""

    def refresh(self) -> None:
        """Bring a running instance's configuration up to this checkout's, where it can take it without a restart
        (an instance left running by an earlier checkout); by default there is nothing to refresh."""
        return None

    @abstractmethod
    def command(self) -> processes.Command:
        """The foreground command; its argv must mention the state dir."""

    @abstractmethod
    def healthy(self) -> bool:
        """True when clients can use it now."""

    @abstractmethod
    def purge(self) -> None:
        """Delete its data (not its install)."""

    def pid(self) -> int | None:
        """The pid of our running instance, if any."""
        return processes.running_pid(self.pid_file, str(self.root))


@dataclass(frozen=True)
class ServiceStatus:
    """One row of `seamline stack status`."""

    name: str
    address: str
    pid: int | None
    healthy: bool


def ensure_ports_free(service: Service) -> None:
    """Refuse to start when another process holds one of the service's ports."""
    for port in service.ports:
        ensure_port_free(HOST, port, service.name)


def launch(service: Service) -> None:
    """Prepare and spawn the (installed, not running) service without waiting for it."""
    service.prepare()
    processes.spawn(service.command(), service.log_file, service.pid_file)


def wait_healthy(service: Service) -> None:
    """Wait until the service is healthy; on death or timeout raise with its log's tail."""
    deadline = time.monotonic() + service.start_timeout
    while not service.healthy():
        pid = processes.recorded_pid(service.pid_file)
        # Not service.pid(): right after the fork, before the exec, the command line is still ours.
        if pid is None or not processes.alive(pid):
            problem = "exited during start-up"
        elif time.monotonic() > deadline:
            problem = f"not healthy after {service.start_timeout:.0f} s"
        else:
            time.sleep(0.5)
            continue
        raise StackError(
            f"{service.name} {problem}; last lines of {service.log_file}:\n{processes.tail(service.log_file)}"
        )


def stop(service: Service) -> bool:
    """Stop our instance (by its pid file); True if one was running."""
    pid = service.pid()
    if pid is not None:
        processes.stop(pid, *service.stop_signals)
    service.pid_file.unlink(missing_ok=True)
    return pid is not None


def restart(service: Service) -> None:
    """Stop our instance, start it again and wait until it is healthy."""
    stop(service)
    launch(service)
    wait_healthy(service)


def check(service: Service) -> ServiceStatus:
    """The service's current status."""
    pid = service.pid()
    return ServiceStatus(service.name, service.address, pid, pid is not None and service.healthy())
