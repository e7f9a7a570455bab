"""Detached service processes: spawn with a pid file and a log file, find, stop."""

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Command:
    """How to run a service in the foreground; the stack detaches it."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None


def spawn(command: Command, log_file: Path, pid_file: Path) -> int:
    """Start the command in its own session, output appended to log_file; return its pid."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            command.argv,
            cwd=command.cwd,
            env={**os.environ, **command.env},
            user=command.user,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(f"{process.pid}\n")
    return process.pid


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
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
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
    _reap(pid)


def _reap(pid: int) -> None:
    # A service started by this very process stays a zombie until we collect it.
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def tail(log_file: Path, lines: int = 20) -> str:
    """The last lines of a log file, or a note that it is missing."""
    try:
        with log_file.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 64 * 1024))
            text = log.read().decode(errors="replace")
    except OSError:
        return f"(no log at {log_file})"
    return "\n".join(text.splitlines()[-lines:])
