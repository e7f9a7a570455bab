"""Which channels hear of each failure, and how: a message of its own, a line of its route's digest once the
route is over its rate limit, or nothing when it is a repeat."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from notify.failures import Failure
from notify.ledger import Receipt
from notify.notices import Digest, failure_notice
from notify.outbox import Outbox
from notify.repeats import Repeats
from seamline.metrics import Metrics
from seamline.notify_config import NotifyConfig, Route

log = logging.getLogger(__name__)


@dataclass
class _Window:
    """A route's rate window: what it announced one by one, and the digest of the rest."""

    ends: float
    announced: int = 0
    digest: Digest | None = None
    receipts: list[Receipt] = field(default_factory=list)


def matches(route: Route, failure: Failure) -> bool:
    """True when each of the route's filters (glob patterns; none: anything) takes the failure."""
    return all(
        not patterns or (value is not None and any(fnmatchcase(value, pattern) for pattern in patterns))
        for patterns, value in (
            (route.stages, failure.stage),
            (route.entities, failure.entity),
            (route.systems, failure.system),
        )
    )


class Dispatcher:
    """Puts each failure's notices in its route's outboxes. Not thread-safe: the reading loop calls it."""

    def __init__(
        self,
        notify: NotifyConfig,
        outboxes: Mapping[str, Outbox],
        metrics: Metrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._notify = notify
        self._outboxes = outboxes
        self._metrics = metrics
        self._clock = clock
        self._repeats = Repeats(notify.repeat_window_s)
        self._windows: dict[int, _Window] = {}
        self._unrouted: set[str] = set()

    def take(self, failure: Failure, receipt: Receipt) -> None:
        """Announce a failure on its route's channels, now or in the route's digest; the receipt owes each."""
        index = next((i for i, route in enumerate(self._notify.routes) if matches(route, failure)), None)
        if index is None:
            if failure.stage not in self._unrouted:
                self._unrouted.add(failure.stage)
                log.warning(
                    "no notify route takes failures of stage %s: add one, or a last route without filters",
                    failure.stage,
                )
            return
        route = self._notify.routes[index]
        history = self._repeats.note(failure)
        if history is None:
            self._count(route, "suppressed")
            return
        now = self._clock()
        window = self._windows.get(index)
        if window is None:
            window = self._windows[index] = _Window(now + route.rate_window_s)
        if window.announced < route.rate_limit:
            window.announced += 1
            notice = failure_notice(failure, history)
            for channel in route.channels:
                self._outboxes[channel].put(notice, [receipt])
            return
        if window.digest is None:
            window.digest = Digest(self._notify.route_name(index), route.rate_limit, route.rate_window_s)
        window.digest.add(failure)
        receipt.hold()  # until the digest is queued, which then holds it per channel
        window.receipts.append(receipt)
        self._count(route, "digested")

    def flush_due(self, stopping: bool = False) -> None:
        """Queue the digest of every rate window that has ended (of every window when `stopping`, so that a stop
        sends what it can rather than leave it to the restart), and start the next window afresh."""
        now = self._clock()
        for index, window in list(self._windows.items()):
            if now < window.ends and not stopping:
                continue
            del self._windows[index]
            if window.digest is not None:
                notice = window.digest.notice()
                for channel in self._notify.routes[index].channels:
                    self._outboxes[channel].put(notice, window.receipts)
                for receipt in window.receipts:
                    receipt.release()

    def _count(self, route: Route, outcome: str) -> None:
        for channel in route.channels:
            self._metrics.notifications.labels(channel, outcome).inc()
