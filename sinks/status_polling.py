"""Waiting for a target's asynchronous operation (a Mailchimp batch, a Zendesk job): its status polled with a
growing pause until it is done, or until a deadline, when the sink's batch is written again."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import httpx

from seamline.retry import ServerUnavailable

T = TypeVar("T")
FIRST_POLL_S = 0.1
"""The first pause: an operation is never done as it is queued."""
MAX_POLL_S = 5.0


def poll_until_done(read: Callable[[], T | None], timeout_s: float, late: str) -> T:
    """What `read` returns once it is not None, read after pauses from FIRST_POLL_S doubling to MAX_POLL_S; a read
    the target refuses for now (ServerUnavailable, a broken connection) is tried again after the pause it asks for.
    Not done within `timeout_s`: ServerUnavailable saying `late` (transient: the sink writes its batch again)."""
    deadline = time.monotonic() + timeout_s
    pause = wait = FIRST_POLL_S
    while True:
        if time.monotonic() + wait > deadline:
            raise ServerUnavailable(late)
        time.sleep(wait)
        pause = wait = min(pause * 2, MAX_POLL_S)
        try:
            done = read()
        except (ServerUnavailable, httpx.TransportError) as exc:
            wait = max(pause, getattr(exc, "retry_after_s", None) or 0.0)
            continue
        if done is not None:
            return done
