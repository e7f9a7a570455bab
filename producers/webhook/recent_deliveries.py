"""The event ids a webhook endpoint published lately, so that a replayed delivery is not published again."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

DEFAULT_CAPACITY = 100_000  # about 10 MB of ids; older ones are left to the downstream event_id check


class RecentDeliveries:
    """Event ids published in the last `window_s` seconds, at most `capacity` of them (oldest forgotten first).

    The window is the endpoint's signature tolerance: a captured request replayed later than that fails its
    signature check, and one replayed within it is recognised here. A provider's retry of a delivery whose 2xx
    was lost is recognised the same way. Only ids published to Kafka are kept; the memory ends with the process.
    """

    def __init__(self, window_s: float, capacity: int = DEFAULT_CAPACITY) -> None:
        self.window_s = window_s
        self.capacity = capacity
        self._published: OrderedDict[str, float] = OrderedDict()

    def all_published(self, event_ids: Iterable[str], now: float) -> bool:
        """Whether every one of these ids was published within the window."""
        self._expire(now)
        ids = list(event_ids)
        return bool(ids) and all(event_id in self._published for event_id in ids)

    def published(self, event_ids: Iterable[str], now: float) -> None:
        """Remember ids that Kafka acknowledged at `now`."""
        for event_id in event_ids:
            self._published.pop(event_id, None)
            self._published[event_id] = now
        while len(self._published) > self.capacity:
            self._published.popitem(last=False)

    def _expire(self, now: float) -> None:
        while self._published:
            oldest, at = next(iter(self._published.items()))
            if now - at <= self.window_s:
                return
            del self._published[oldest]
