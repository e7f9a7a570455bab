"""Time the tests control: a wait returns at once and moves the clock on by exactly what it asked for.

`Clock.install(monkeypatch, module, ...)` sets each module's `time` to the clock, so that the module's
time.time(), time.monotonic() and time.sleep() run on it (the rest of the time module is the real one);
`ClockStop` is seamline.runtime's Stop whose idle waits (sources between polls, after a 429) run on it. The
`clock` fixture (tests/conftest.py) makes one and puts the retry policy's waits (stamina, through tenacity) on it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import tenacity
import tenacity.nap

from seamline.runtime import IDLE_STEP_S, Stop

TICK = 2.0**-20
"""The clock's resolution (about a microsecond): its times are whole ticks, so that the difference of two of them
is exact and a wait of x seconds moves it on by at least x."""


class Clock:
    """Wall and monotonic time in one (starting at the real time, so that stamps look recent), moved on only by
    sleep(); sleep() returns at once and records what it was asked for in `waits`."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(time.time() if start is None else start))
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(seconds)
            self.now += math.ceil(max(0.0, seconds) / TICK) * TICK

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)  # strftime, perf_counter, ... as they are

    def install(self, monkeypatch: pytest.MonkeyPatch, *modules: ModuleType) -> None:
        """Make each module's `time` this clock (for the test's duration)."""
        for module in modules:
            monkeypatch.setattr(module, "time", self)

    def install_retries(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put seamline.retry's waits (stamina's backoff and a server's Retry-After, slept by tenacity) and its
        timeouts on this clock."""
        self.install(monkeypatch, tenacity, tenacity.nap)


class ClockStop(Stop):
    """seamline.runtime's Stop whose idle(seconds) waits on the clock: it yields None at once and after every
    IDLE_STEP_S of the clock's time, as the real one does on the wall clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def idle(self, seconds: float) -> Iterator[None]:
        deadline = self.clock.monotonic() + seconds
        yield None
        while (left := deadline - self.clock.monotonic()) > 0 and not self.requested:
            self.clock.sleep(min(IDLE_STEP_S, left))
            yield None
