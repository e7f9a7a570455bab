"""CPU time and resident memory of running processes, sampled from /proc while a benchmark runs."""

from __future__ import annotations

import bisect
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Usage:
    """One process over the sampled period: CPU seconds used, and its RSS (MB) at each sample."""

    cpu_s: float = 0.0
    rss_mb: list[float] = field(default_factory=list)
    series: list[tuple[float, float]] = field(default_factory=list)
    """(wall time, CPU seconds used so far) at each sample."""

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds used between two wall times (time.time()), interpolated between samples."""
        return self.cpu_at(end) - self.cpu_at(start)

    def cpu_at(self, when: float) -> float:
        """CPU seconds used from the first sample to a wall time, interpolated between samples."""
        if not self.series:
            return 0.0
        times = [at for at, _ in self.series]
        index = bisect.bisect_left(times, when)
        if index == 0:
            return self.series[0][1]
        if index == len(times):
            return self.series[-1][1]
        (t0, c0), (t1, c1) = self.series[index - 1], self.series[index]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1

    @property
    def peak_rss_mb(self) -> float:
        return max(self.rss_mb, default=0.0)

    def rss_tenths_mb(self) -> list[int]:
        """RSS at the end of each tenth of the sampled period: flat, or growing, over the run."""
        samples = self.rss_mb
        return [round(samples[max(0, len(samples) * tenth // 10 - 1)]) for tenth in range(1, 11)] if samples else []

    def as_dict(self, seconds: float) -> dict[str, object]:
        """Figures for a JSON result: CPU seconds and share of one core over `seconds`, RSS first, peak, last and
        at each tenth of the run."""
        return {
            "cpu_s": round(self.cpu_s, 1),
            "cpu_cores": round(self.cpu_s / seconds, 2) if seconds else 0.0,
            "rss_first_mb": round(self.rss_mb[0]) if self.rss_mb else 0,
            "rss_peak_mb": round(self.peak_rss_mb),
            "rss_last_mb": round(self.rss_mb[-1]) if self.rss_mb else 0,
            "rss_tenths_mb": self.rss_tenths_mb(),
        }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process and its waited-for children; None once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return sum(int(value) for value in fields[11:15]) / _TICKS  # utime stime cutime cstime


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process, MB; None once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    line = next((line for line in status.splitlines() if line.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


class ProcessSampler:
    """Samples named processes every `interval_s` in a daemon thread, from start() to stop()."""

    def __init__(self, pids: dict[str, int], interval_s: float = 0.5) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.usage = {name: Usage() for name in pids}
        self._first = {name: cpu_seconds(pid) or 0.0 for name, pid in pids.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)

    def start(self) -> ProcessSampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, Usage]:
        """Stop sampling; the usage of each process."""
        self._stop.set()
        self._thread.join()
        return self.usage

    def _run(self) -> None:
        while True:
            self._sample()
            if self._stop.wait(self.interval_s):
                self._sample()
                return

    def _sample(self) -> None:
        for name, pid in self.pids.items():
            cpu, rss = cpu_seconds(pid), rss_mb(pid)
            if cpu is not None:
                usage = self.usage[name]
                usage.cpu_s = cpu - self._first[name]
                usage.series.append((time.time(), usage.cpu_s))
            if rss is not None:
                self.usage[name].rss_mb.append(rss)
