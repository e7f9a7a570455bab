"""A Slack incoming-webhook simulation, in memory.

What it follows from Slack's public documentation of incoming webhooks:
- `POST /services/{team}/{bot}/{secret}` with a JSON body holding `text` (or `blocks`); 200 with the plain-text
  body `ok`.
- Errors are plain text: 400 `invalid_payload` (not JSON), 400 `no_text` (neither text nor blocks), 404
  `no_service` (a webhook that does not exist or was revoked), 410 `channel_is_archived`, 429 when over about one
  message per second, with `Retry-After` in seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.injected_faults import InjectedFaults


@dataclass
class Slack:
    """One workspace's incoming webhook and the messages it received; thread-safe."""

    path: str = field(
        default_factory=lambda: f"/services/T{uuid.uuid4().hex[:8].upper()}/B0SEAMLINE/{uuid.uuid4().hex}"
    )
    messages: list[dict[str, Any]] = field(default_factory=list)
    archived: bool = False
    faults: InjectedFaults = field(default_factory=InjectedFaults)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def _post(self, request: web.Request) -> web.Response:
        raw = await request.read()
        with self._lock:
            if request.path != self.path:
                return web.Response(status=404, text="no_service")
            if self.faults.throttled_now():
                return web.Response(
                    status=429, text="rate_limited", headers={"Retry-After": str(self.faults.retry_after)}
                )
            if self.archived:
                return web.Response(status=410, text="channel_is_archived")
            try:
                payload = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                return web.Response(status=400, text="invalid_payload")
            if not isinstance(payload, dict):
                return web.Response(status=400, text="invalid_payload")
            if not payload.get("text") and not payload.get("blocks"):
                return web.Response(status=400, text="no_text")
            self.messages.append(payload)
        return web.Response(text="ok")

    def app(self) -> web.Application:
        """The aiohttp application serving the webhook (any other path: no_service)."""
        application = web.Application()
        application.router.add_post("/{tail:.*}", self._post)
        return application


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a simulated Slack incoming webhook; each request is logged.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8094)
    parser.add_argument("--path", default="/services/T0SAMPLE/B0SEAMLINE/sample", help="the webhook's path")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"Slack incoming webhook simulation on http://{args.host}:{args.port}{args.path}", flush=True)
    web.run_app(Slack(path=args.path).app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
