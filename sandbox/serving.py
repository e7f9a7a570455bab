"""Serving a simulation's aiohttp application on 127.0.0.1 from a background thread."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web


class BackgroundServer:
    """An aiohttp application served by its own event loop thread; start() returns the base URL."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None

    def start(self, app: web.Application, port: int = 0) -> str:
        """Serve on 127.0.0.1:<port> (0: a free one); returns the base URL."""
        loop = asyncio.new_event_loop()
        threading.Thread(target=loop.run_forever, name=self.name, daemon=True).start()
        self._loop = loop
        self.url = asyncio.run_coroutine_threadsafe(self._serve(app, port), loop).result(timeout=10)
        return self.url

    async def _serve(self, app: web.Application, port: int) -> str:
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        host, bound = self._runner.addresses[0][:2]
        return f"http://{host}:{bound}"

    def stop(self) -> None:
        """Stop serving and end the thread."""
        if self._loop is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop = None
