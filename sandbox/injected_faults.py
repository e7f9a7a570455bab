"""Faults a test orders a simulation to answer with: its next requests throttled (429) or failing (503)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class InjectedFaults:
    """Counts of the next requests to throttle and to fail; a simulation asks for each request it serves."""

    retry_after: int = 1
    """Seconds a throttled answer asks the client to wait (its Retry-After)."""
    _left: dict[str, int] = field(default_factory=lambda: {"throttle": 0, "fail": 0})
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def throttle(self, requests: int, retry_after: int = 1) -> None:
        """The next `requests` requests get 429, asking to wait `retry_after` seconds."""
        with self._lock:
            self._left["throttle"], self.retry_after = requests, retry_after

    def fail(self, requests: int) -> None:
        """The next `requests` requests get 503 Service Unavailable (an outage)."""
        with self._lock:
            self._left["fail"] = requests

    def throttled_now(self) -> bool:
        """Whether the request in hand is to be throttled (it uses up one)."""
        return self._use("throttle")

    def failing_now(self) -> bool:
        """Whether the request in hand is to fail (it uses up one)."""
        return self._use("fail")

    def _use(self, fault: str) -> bool:
        with self._lock:
            if self._left[fault] > 0:
                self._left[fault] -= 1
                return True
            return False
