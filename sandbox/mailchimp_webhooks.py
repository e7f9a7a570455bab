"""The Mailchimp simulation's webhooks: form-encoded events posted to one URL, in order, from a thread of their own.

Mailchimp's format: `type`, `fired_at` ("YYYY-MM-DD HH:MM:SS", UTC), `data[id]`, `data[list_id]`, `data[email]`,
`data[email_type]`, `data[merges][TAG]` per merge field, and per type `data[action]`, `data[reason]`, ...; a
delivery is retried until a 2xx, and given up on after a while (30 s here).
"""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from sandbox.webhook_senders import deliver

_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "MailChimp"}


class HookSender:
    """Posts the events of one audience to its webhook URL (the secret in its path)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._queue: queue.Queue[dict[str, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._send, name="mailchimp-hooks", daemon=True)
        self._thread.start()

    def send(self, kind: str, member: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        """Queue an event of type `kind` about `member` (as the members API shows it)."""
        fields = {
            "type": kind,
            "fired_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
            "data[id]": member["unique_email_id"],
            "data[list_id]": member["list_id"],
            "data[email]": member["email_address"],
            "data[email_type]": "html",
        }
        fields |= {f"data[merges][{tag}]": str(value) for tag, value in member["merge_fields"].items()}
        fields |= {f"data[{name}]": value for name, value in (extra or {}).items()}
        self._queue.put(fields)

    def stop(self) -> None:
        """End after sending what was queued."""
        self._queue.put(None)
        self._thread.join(30)

    def _send(self) -> None:
        with httpx.Client(timeout=10) as client:
            while (fields := self._queue.get()) is not None:
                body = urlencode(fields).encode()
                try:
                    deliver(client, self.url, body, lambda: dict(_HEADERS), timeout_s=30)
                except (RuntimeError, TimeoutError):
                    pass  # Mailchimp gives up on a webhook that keeps failing
