"""Runs seamline's long-running processes as child processes (demo, tests, bench): start, kill, restart, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

EXIT_TRANSIENT = 75
"""EX_TEMPFAIL: a process exits with it to be restarted (a transient failure), as a process manager would."""
MAX_RESTARTS = 5
"""Restarts of one process after EXIT_TRANSIENT before it counts as crashed: a crash loop is a failure."""


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
        return cls(
            config_path,
            log_dir,
            {
                "source": ["source", "run", source],
                "processor": ["process"],
                "sink": ["sink", "run", sink],
            },
        )

    def start(self, name: str) -> None:
        """Start (or restart) one process."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")
        command = [sys.executable, "-m", "seamline", *self.commands[name], "--config", str(self.config_path)]
        self.children[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        log.close()

    def start_all(self) -> None:
        for name in self.commands:
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL one process: no shutdown hook runs, as in a crash."""
        child = self.children.pop(name)
        child.send_signal(signal.SIGKILL)
        child.wait()

    def crashed(self) -> dict[str, int]:
        """Processes that exited on their own, with their exit codes.

        One that exited with EXIT_TRANSIENT is restarted here instead, as Compose or Kubernetes would, up to
        MAX_RESTARTS times.
        """
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
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""
