"""The one process runtime: a graceful stop on SIGTERM or SIGINT, and an exit code that says what a failure was."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn

from seamline.connectors.source import SourceSetupError
from seamline.retry import is_transient

log = logging.getLogger(__name__)

EXIT_BUG = 1
EXIT_SETUP = 2
"""Something the user must fix: a source that cannot start, an action Kafka's ACLs refused."""
EXIT_TRANSIENT = 75
"""EX_TEMPFAIL: Compose, Kubernetes or the supervisor restarts the process, which resumes from its committed
position."""
SETUP_ERRORS = (SourceSetupError, PermissionError)
IDLE_STEP_S = 0.1


class Stop:
    """A graceful stop, requested once: loops check `requested` between steps, and waits on it end when it comes."""

    def __init__(self) -> None:
        self._requested = threading.Event()
        self._callbacks: list[Callable[[], object]] = []

    @property
    def requested(self) -> bool:
        return self._requested.is_set()

    def request(self) -> None:
        """Ask every loop to finish the step in hand; the callbacks run on the first request only."""
        if not self._requested.is_set():
            self._requested.set()
            for callback in self._callbacks:
                callback()

    def on_request(self, callback: Callable[[], object]) -> None:
        """Call `callback` when the stop is requested (at once if it already was)."""
        self._callbacks.append(callback)
        if self.requested:
            callback()

    def on_signals(self) -> None:
        """Request this stop on SIGTERM or SIGINT (call it from the main thread: Python runs handlers there)."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._signalled)

    def idle(self, seconds: float) -> Iterator[None]:
        """Wait `seconds`, yielding None now and every IDLE_STEP_S so that a source's runner can commit or stop
        meanwhile; the stop's request ends the wait at once."""
        deadline = time.monotonic() + seconds
        yield None
        while (left := deadline - time.monotonic()) > 0 and not self._requested.wait(min(IDLE_STEP_S, left)):
            yield None

    def _signalled(self, signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping after the step in hand", signal.Signals(signum).name)
        self.request()


process_stop = Stop()
"""This process's stop: a loop's `on_signals()` makes SIGTERM and SIGINT request it; sources idle on it."""


def exit_on_sigterm() -> None:
    """Until a loop asks for a graceful stop (`Stop.on_signals`), or in a command without one, have SIGTERM end the
    process through SystemExit (exit 143) rather than at once, so that its exit hooks still run. Only from the main
    thread, and only where SIGTERM has no handler yet."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run(main: Callable[[], None]) -> None:
    """Run a long-running process's main loop; a failure ends the process with its exit code (see `report`)."""
    try:
        main()
    except Exception as exc:
        raise SystemExit(report(exc)) from exc


def exit_now(exc: Exception) -> NoReturn:
    """End the process at once on `exc`, with its exit code: no cleanup runs, so nothing is committed after the
    failure (a Faust agent's, whose batch Faust would otherwise acknowledge)."""
    code = report(exc)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)


def report(exc: Exception) -> int:
    """Say why the process stops and return its exit code: what the user must fix in one line on stderr (2), a
    transient failure in one log line (75), a bug with its traceback (1)."""
    if isinstance(exc, SETUP_ERRORS):
        print(exc, file=sys.stderr)
        return EXIT_SETUP
    if is_transient(exc):
        log.error("stopping on a transient failure, to be restarted: %s: %s", type(exc).__name__, exc)
        return EXIT_TRANSIENT
    log.critical("stopping on a bug: %s: %s", type(exc).__name__, exc, exc_info=exc)
    return EXIT_BUG
