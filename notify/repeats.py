"""The same record failing again: announced once per repeat window, and then with since when and how often."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from notify.failures import Failure

_PRUNE_EVERY = 1000


@dataclass(frozen=True)
class History:
    """A record's failures as far as this process has seen them, by the letters' failure times."""

    first: datetime
    last: datetime
    attempts: int


@dataclass
class _Seen:
    first: datetime
    last: datetime
    attempts: int
    announced: datetime


class Repeats:
    """Each failing record's history, forgotten once it has not failed for the repeat window. A failure within
    the window of the record's last announcement is a repeat; a later one is announced again, with the first
    failure and the attempts since."""

    def __init__(self, window_s: float) -> None:
        self._window = timedelta(seconds=window_s)
        self._records: dict[tuple[str, str], _Seen] = {}
        self._newest: datetime | None = None
        self._notes = 0

    def note(self, failure: Failure) -> History | None:
        """Record a failure: the history to announce, or None for a repeat within the window."""
        at = failure.failed_at
        self._newest = at if self._newest is None else max(self._newest, at)
        self._notes += 1
        if self._notes % _PRUNE_EVERY == 0:
            self._prune(self._newest - self._window)
        seen = self._records.get(failure.identity)
        if seen is None or abs(at - seen.last) > self._window:
            seen = self._records[failure.identity] = _Seen(at, at, max(failure.attempt, 1), at)
            return History(at, at, seen.attempts)
        seen.first, seen.last, seen.attempts = min(seen.first, at), max(seen.last, at), seen.attempts + 1
        if abs(at - seen.announced) <= self._window:
            return None
        seen.announced = at
        return History(seen.first, seen.last, seen.attempts)

    def _prune(self, horizon: datetime) -> None:
        self._records = {identity: seen for identity, seen in self._records.items() if seen.last >= horizon}
