"""A TCP proxy that makes a network bad on purpose, for tests/chaos/test_network_faults.py.

This machine's kernel has no netem (nor tc's prio or fq_codel), so packets cannot be delayed, lost or
duplicated below TCP. What packet loss and duplication do to an application is what TCP turns them into: delay,
jitter, stalls while a segment is retransmitted, and connections that break. The proxy does those to every
connection it carries: each chunk waits `latency_s` plus up to `jitter_s`, a share of chunks breaks its
connection in both directions, `cut` breaks every open connection at once, and `blackhole` stops all traffic,
without closing anything, for a while.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter


class FaultProxy:
    """127.0.0.1:`listen` -> 127.0.0.1:`upstream`, faults set by the attributes below at any time."""

    def __init__(self, listen: int, upstream: int, seed: int = 0) -> None:
        self.listen, self.upstream = listen, upstream
        self.latency_s = 0.0
        self.jitter_s = 0.0
        self.break_share = 0.0
        """Of the chunks carried, the share after which their connection is broken (both sides reset)."""
        self.counts: Counter[str] = Counter()
        self._blackhole_until = 0.0
        self._open: set[tuple[asyncio.StreamWriter, ...]] = set()
        self._rng = random.Random(seed)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"the fault proxy did not start listening on 127.0.0.1:{self.listen}")
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def blackhole(self, seconds: float) -> None:
        """Carry nothing for `seconds`: as a network partition, connections stay open but silent."""
        self._blackhole_until = time.monotonic() + seconds
        self.counts["blackholes"] += 1

    def cut(self) -> None:
        """Break every connection open now, in both directions."""

        def abort_all() -> None:
            for ends in list(self._open):
                self.counts["cut"] += 1
                for end in ends:
                    end.transport.abort()

        self._loop.call_soon_threadsafe(abort_all)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.listen))
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.run_until_complete(asyncio.sleep(0))
            self._loop.close()

    async def _accept(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        self.counts["connections"] += 1
        try:
            server_in, server_out = await asyncio.open_connection("127.0.0.1", self.upstream)
        except OSError:
            client_out.transport.abort()
            return
        ends = (client_out, server_out)
        self._open.add(ends)
        try:
            await asyncio.gather(self._pipe(client_in, server_out, ends), self._pipe(server_in, client_out, ends))
        finally:
            self._open.discard(ends)

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, ends: tuple[asyncio.StreamWriter, ...]
    ) -> None:
        try:
            while chunk := await source.read(65536):
                await asyncio.sleep(self.latency_s + self._rng.uniform(0.0, self.jitter_s))
                while time.monotonic() < self._blackhole_until:
                    await asyncio.sleep(0.05)
                if self._rng.random() < self.break_share:
                    self.counts["broken"] += 1
                    break
                sink.write(chunk)
                await sink.drain()
                self.counts["chunks"] += 1
        except (ConnectionError, OSError):
            pass
        for end in ends:
            end.transport.abort()
