"""One channel's notices in order, delivered by a thread of its own: a channel that is down is retried with
backoff and holds up nothing but itself."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence

from notify.channels import Sender
from notify.ledger import Receipt
from notify.notices import Notice
from seamline.metrics import Metrics
from seamline.retry import is_transient, retrying

log = logging.getLogger(__name__)

_IDLE_S = 0.2


class Outbox:
    """Queues notices for one channel; its thread sends each until the channel takes it, then releases the
    receipts of the records in it. A bug in the thread is kept in `failure` for the runner to raise."""

    def __init__(self, sender: Sender, metrics: Metrics, wait_max_s: float) -> None:
        self.name = sender.name
        self.failure: BaseException | None = None
        self._sender = sender
        self._wait_max_s = wait_max_s
        self._queue: queue.Queue[tuple[Notice, Sequence[Receipt]]] = queue.Queue()
        self._in_hand = 0
        self._stopping = threading.Event()
        self._sent = metrics.notifications.labels(self.name, "sent")
        self._failed = metrics.notifications.labels(self.name, "failed")
        self._thread = threading.Thread(target=self._run, name=f"notify-{self.name}", daemon=True)

    @property
    def backlog(self) -> int:
        """Notices queued or being delivered."""
        return self._queue.qsize() + self._in_hand

    def put(self, notice: Notice, receipts: Sequence[Receipt]) -> None:
        """Queue a notice; each record's receipt owes one more delivery until the channel takes it."""
        for receipt in receipts:
            receipt.hold()
        self._queue.put((notice, receipts))

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Stop after the attempt in hand; what is not delivered stays owed (its records uncommitted)."""
        self._stopping.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    notice, receipts = self._queue.get(timeout=_IDLE_S)
                except queue.Empty:
                    continue
                self._in_hand = 1
                if self._deliver(notice):
                    for receipt in receipts:
                        receipt.release()
                self._in_hand = 0
        except BaseException as exc:
            self.failure = exc

    def _deliver(self, notice: Notice) -> bool:
        """Send until the channel takes it (True) or a stop comes (False); never gives up otherwise."""
        for attempt in retrying(timeout_s=None, wait_max_s=self._wait_max_s):
            with attempt:
                if attempt.num > 1 and self._stopping.is_set():
                    return False
                try:
                    self._sender.send(notice)
                except Exception as exc:
                    if is_transient(exc):
                        self._failed.inc()
                        log.warning(
                            "channel %s did not take a notification (attempt %d): %s", self.name, attempt.num, exc
                        )
                    raise
        self._sent.inc()
        return True
