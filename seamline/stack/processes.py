"""The one process launcher: the stack's detached services, and seamline's own processes for the demo, tests and
benchmarks (restarted after EXIT_TRANSIENT, as Compose or Kubernetes would)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from seamline.runtime import EXIT_TRANSIENT

MAX_RESTARTS = 5
"""Restarts of one process after EXIT_TRANSIENT before it counts as crashed: a crash loop is a failure."""


@dataclass(frozen=True)
class Command:
    """How to run a service in the foreground; the stack detaches it."""

    argv: list[str]
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None


def launch(command: Command, log_file: Path, detached: bool = False) -> subprocess.Popen[bytes]:
    """Start the command, its output appended to log_file; a detached one has its own session, to outlive us."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            command.argv,
            cwd=command.cwd,
            env={**os.environ, **command.env},
            user=command.user,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detached,
        )


def spawn(command: Command, log_file: Path, pid_file: Path) -> int:
    """Start a detached service, its pid written to pid_file; return its pid."""
    pid = launch(command, log_file, detached=True).pid
    pid_file.write_text(f"{pid}\n")
    return pid


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def recorded_pid(pid_file: Path) -> int | None:
    """The pid in pid_file, if there is one."""
    try:
        return int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in pid_file if that process is alive and its command line contains marker.

    The marker (the state dir) guards against a recycled pid belonging to someone else.
    """
    pid = recorded_pid(pid_file)
    if pid is None:
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    return pid if marker in cmdline and alive(pid) else None


def stop(pid: int, *signals: signal.Signals, grace: float = 20.0) -> None:
    """Send each signal in turn, waiting up to grace seconds for the process to exit, then SIGKILL it."""
    for sig in (*signals, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not alive(pid):
            break
    try:  # a service started by this very process stays a zombie until we collect it
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def tail(log_file: Path, lines: int = 20) -> str:
    """The last lines of a log file, or a note that it is missing."""
    try:
        with log_file.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - lines * 4096))  # a JSON line with a traceback runs to KiBs
            text = log.read().decode(errors="replace")
    except OSError:
        return f"(no log at {log_file})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Supervisor:
    """Child processes `seamline <args> --config <file>`, each logging to `<log_dir>/<name>.log`."""

    config_path: Path
    log_dir: Path
    commands: dict[str, list[str]]
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def for_pipeline(cls, config_path: Path, log_dir: Path, source: str, sink: str) -> Supervisor:
        """The three processes of one source → processor → sink pipeline."""
        commands = {"source": ["source", "run", source], "processor": ["process"], "sink": ["sink", "run", sink]}
        return cls(config_path, log_dir, commands)

    def start(self, name: str) -> None:
        """Start (or restart) one process."""
        argv = [sys.executable, "-m", "seamline", *self.commands[name], "--config", str(self.config_path)]
        self.children[name] = launch(Command(argv, env={"PYTHONUNBUFFERED": "1"}), self.log_dir / f"{name}.log")

    def start_all(self) -> None:
        for name in self.commands:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL one process: no shutdown hook runs, as in a crash."""
        child = self.children.pop(name)
        child.send_signal(signal.SIGKILL)
        child.wait()

    def crashed(self) -> dict[str, int]:
        """Processes that exited on their own, with their exit codes; one that exited with EXIT_TRANSIENT is
        restarted instead, up to MAX_RESTARTS times."""
        crashed = {}
        for name, child in list(self.children.items()):
            code = child.poll()
            if code == EXIT_TRANSIENT and self.restarts.get(name, 0) < MAX_RESTARTS:
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self.start(name)
            elif code is not None:
                crashed[name] = code
        return crashed

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGTERM every process, then SIGKILL what has not exited within `timeout`."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.children.clear()

    def log_tail(self, name: str, lines: int = 30) -> str:
        """The end of one process's log, for error messages."""
        return tail(self.log_dir / f"{name}.log", lines)
