"""Whether a sink's target takes its writes: the failing gauge, and one log line per change of state."""

from __future__ import annotations

import logging
import time

from prometheus_client import Gauge

from seamline.connectors.sink import TargetFailing

log = logging.getLogger(__name__)


class TargetHealth:
    """Follows one sink's target: `failed(exc)` after each failed write, `took()` after one that succeeded.

    `seamline_sink_failing{sink}` is 1 from the first failure to the next success. The log says what is wrong
    (and, for a TargetFailing, what to do) when the target starts failing and when the problem changes, and says
    once that it takes writes again: never once per attempt or per record.
    """

    def __init__(self, sink: str, failing: Gauge) -> None:
        self.sink = sink
        self._gauge = failing.labels(sink)
        self._gauge.set(0)
        self._since: float | None = None
        self._problem: str | None = None
        self._failures = 0

    def failed(self, exc: BaseException) -> None:
        """A write failed with `exc`, an error retrying can cure (the batch is retried, its input paused)."""
        problem = exc.problem if isinstance(exc, TargetFailing) else type(exc).__name__
        if self._since is None:
            self._since = time.monotonic()
            self._gauge.set(1)
        self._failures += 1
        if problem != self._problem:
            self._problem = problem
            log.warning(
                "sink %s: the target refuses writes: %s; input paused, the batch is retried until the target takes "
                "it (nothing goes to the DLQ)",
                self.sink,
                exc,
            )

    def took(self) -> None:
        """A write succeeded."""
        if self._since is None:
            return
        log.info(
            "sink %s: the target takes writes again after %.1fs and %d failed attempts; input resumed",
            self.sink,
            time.monotonic() - self._since,
            self._failures,
        )
        self._gauge.set(0)
        self._since, self._problem, self._failures = None, None, 0
