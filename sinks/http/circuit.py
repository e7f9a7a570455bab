"""A circuit breaker: after repeated transient failures, calls are held back for a cool-down."""

from __future__ import annotations

import threading
import time

from prometheus_client import Gauge

from seamline.retry import ServerUnavailable


class CircuitBreaker:
    """Closed: calls pass. Open after `failures` transient failures in a row: calls fail at once with
    ServerUnavailable until `cool_down_s` passed. Half-open then: calls pass; a success closes it, a failure
    opens it again. `gauge` (sink_circuit_open for this sink) is 1 while open."""

    def __init__(self, failures: int, cool_down_s: float, gauge: Gauge) -> None:
        self.failures = failures
        self.cool_down_s = cool_down_s
        self.gauge = gauge
        self._in_a_row = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()
        gauge.set(0)

    @property
    def is_open(self) -> bool:
        """Whether calls are held back now."""
        with self._lock:
            return self._opened_at is not None and time.monotonic() - self._opened_at < self.cool_down_s

    def check(self) -> None:
        """Raise ServerUnavailable (retry after the rest of the cool-down) while open."""
        with self._lock:
            if self._opened_at is None:
                return
            left = self.cool_down_s - (time.monotonic() - self._opened_at)
        if left > 0:
            raise ServerUnavailable(f"circuit open after {self.failures} failures in a row", retry_after_s=left)

    def succeeded(self) -> None:
        """A call went through: close."""
        with self._lock:
            self._in_a_row, self._opened_at = 0, None
        self.gauge.set(0)

    def failed(self) -> None:
        """A call failed transiently: open after enough in a row (again at once when half-open)."""
        with self._lock:
            self._in_a_row += 1
            if self._in_a_row >= self.failures or self._opened_at is not None:
                self._opened_at = time.monotonic()
        if self._opened_at is not None:
            self.gauge.set(1)
