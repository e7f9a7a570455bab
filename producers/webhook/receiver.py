"""The webhook source: an HTTP receiver for push sources (Stripe, Shopify, Zendesk, Salesforce Outbound Messaging)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from producers.webhook.acked_publisher import AckedPublisher, KafkaUnavailable
from producers.webhook.config import WebhookEndpoint, WebhookSource
from producers.webhook.mailchimp import mailchimp_changes
from producers.webhook.payloads import PayloadError, json_change
from producers.webhook.recent_deliveries import RecentDeliveries
from producers.webhook.salesforce_om import ACK, UnknownOrg, notifications
from producers.webhook.signatures import (
    SignatureError,
    shopify_timestamp,
    stripe_timestamp,
    url_secret,
    zendesk_timestamp,
)
from seamline.config import KafkaConfig
from seamline.connectors.source import SourceSetupError
from seamline.events import Change
from seamline.metrics import Metrics
from seamline.runtime import process_stop

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_VERIFIERS = {"stripe": stripe_timestamp, "shopify": shopify_timestamp, "zendesk": zendesk_timestamp}
DEFAULT_TOLERANCE_S = {
    "stripe": 300.0,
    "shopify": 4 * 3600 + 300.0,
    "zendesk": 300.0,
    "salesforce_om": 300.0,
    "mailchimp": 300.0,
}
MEDIA_TYPES = {
    "stripe": ("application/json",),
    "shopify": ("application/json",),
    "zendesk": ("application/json",),
    "salesforce_om": ("text/xml", "application/xml"),
    "mailchimp": ("application/x-www-form-urlencoded",),
}
SECRET_SEGMENT = "/{secret}"
"""Where a mailchimp endpoint's secret is: the path's last segment."""


class BodyTooLarge(ValueError):
    """The request body is over the endpoint's max_body_bytes."""


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused with BodyTooLarge as soon as it passes `limit` (Content-Length is checked first)."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(f"the body of {request.content_length} bytes is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _tolerance_s(endpoint: WebhookEndpoint) -> float:
    return endpoint.tolerance_s or DEFAULT_TOLERANCE_S[endpoint.provider]


def _text(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")


class WebhookReceiver:
    """Receives provider webhooks and publishes one change per delivered record to src.<system>.<object>.

    Delivery: at-least-once. A request is answered 2xx only after Kafka acknowledged every change it carried;
    otherwise the provider retries it, and the retry has the same event_id (system, object, key and the
    provider's event/delivery id), so downstream stages recognise the duplicate; within the signature tolerance
    the receiver itself recognises a delivery it published and does not publish it again. Nothing is buffered
    outside Kafka, so a crash loses only requests that were never acknowledged to their sender.
    """

    def __init__(self, name: str, kafka: KafkaConfig, config: WebhookSource, metrics: Metrics) -> None:
        self.name = name
        self.config = config
        self.metrics = metrics
        self.kafka = AckedPublisher(kafka, name, metrics, config.ack_timeout_s)
        self._recent = {endpoint.path: RecentDeliveries(_tolerance_s(endpoint)) for endpoint in config.endpoints}
        self._in_flight = 0

    def app(self) -> web.Application:
        """The aiohttp application: one route per endpoint, every answer counted."""
        app = web.Application(middlewares=[self._count])
        for endpoint in self.config.endpoints:
            tail = SECRET_SEGMENT if endpoint.provider == "mailchimp" else ""
            app.router.add_route("*", endpoint.path.rstrip("/") + tail, self._handler(endpoint))
        return app

    @web.middleware
    async def _count(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        path = route.canonical if route is not None else "unmatched"
        status = 500
        self._in_flight += 1
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self._in_flight -= 1
            self.metrics.webhook_requests.labels(self.name, path, str(status)).inc()

    def _handler(self, endpoint: WebhookEndpoint) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            response = await self._receive(endpoint, request)
            if response.status >= 400:
                log.warning("%s %s %s: %d %s", self.name, request.method, endpoint.path, response.status, response.text)
            return response

        return handle

    async def _receive(self, endpoint: WebhookEndpoint, request: web.Request) -> web.Response:
        if endpoint.provider == "mailchimp" and request.method == "GET":  # Mailchimp checks the URL before use
            try:
                url_secret(request.match_info.get("secret"), self._secrets(endpoint))
            except SignatureError as exc:
                return _text(401, f"not authenticated: {exc}")
            return web.json_response({"received": 0})
        if request.method != "POST":
            return web.Response(status=405, text="only POST is accepted\n", headers={"Allow": "POST"})
        if request.content_type not in MEDIA_TYPES[endpoint.provider]:
            expected = " or ".join(MEDIA_TYPES[endpoint.provider])
            return _text(415, f"unsupported Content-Type {request.content_type!r}: send {expected}")
        try:
            body = await read_body(request, endpoint.max_body_bytes)
        except BodyTooLarge as exc:
            response = _text(413, str(exc))
            response.force_close()  # the rest of the body is not read
            return response
        received = time.time()
        try:
            if endpoint.provider == "mailchimp":
                url_secret(request.match_info.get("secret"), self._secrets(endpoint))
            stamp = self._verify(endpoint, request.headers, body, received)
            changes = self._changes(endpoint, request.headers, body, int((stamp or received) * 1000))
        except (SignatureError, UnknownOrg) as exc:
            return _text(401, f"not authenticated: {exc}")
        except PayloadError as exc:
            return _text(400, f"malformed request: {exc}")
        recent = self._recent[endpoint.path]
        event_ids = [change.event_id for change in changes]
        if recent.all_published(event_ids, received):
            log.info("%s %s: a delivery published before came again; not published twice", self.name, endpoint.path)
            return self._ok(endpoint, 0)
        try:
            await self.kafka.publish(changes)
        except KafkaUnavailable as exc:
            return web.Response(
                status=503,
                text=f"not stored, retry later: {exc}\n",
                headers={"Retry-After": str(self.config.retry_after_s)},
            )
        except PayloadError as exc:
            return _text(400, f"malformed request: {exc}")
        recent.published(event_ids, time.time())
        return self._ok(endpoint, len(changes))

    @staticmethod
    def _ok(endpoint: WebhookEndpoint, published: int) -> web.Response:
        if endpoint.provider == "salesforce_om":
            return web.Response(text=ACK, content_type="text/xml")
        return web.json_response({"received": published})

    @staticmethod
    def _verify(endpoint: WebhookEndpoint, headers: Mapping[str, str], body: bytes, now: float) -> float | None:
        """The signed time of the request (unix seconds) if the provider signs one; SignatureError if not authentic."""
        if endpoint.provider in ("salesforce_om", "mailchimp"):
            return None  # not signed: notifications() checks the OrganizationId, _receive Mailchimp's URL secret
        secrets = WebhookReceiver._secrets(endpoint)
        return _VERIFIERS[endpoint.provider](headers, body, secrets, _tolerance_s(endpoint), now)

    @staticmethod
    def _secrets(endpoint: WebhookEndpoint) -> list[str]:
        return [secret.get_secret_value() for secret in (endpoint.secret, endpoint.previous_secret) if secret]

    def _changes(
        self, endpoint: WebhookEndpoint, headers: Mapping[str, str], body: bytes, source_ts_ms: int
    ) -> list[Change]:
        if endpoint.provider == "salesforce_om":
            return notifications(self.config.system, endpoint, body, source_ts_ms)
        if endpoint.provider == "mailchimp":
            return mailchimp_changes(self.config.system, endpoint, body, source_ts_ms)
        return [json_change(self.config.system, endpoint, body, headers, source_ts_ms)]

    async def serve(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set; then stop accepting, let requests in flight finish, and flush."""
        self.kafka.start()
        runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=self.config.drain_timeout_s)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.config.host, self.config.port, reuse_address=True)
            try:
                await site.start()
            except OSError as exc:
                raise SourceSetupError(
                    f"webhook source {self.name}: cannot listen on {self.config.host}:{self.config.port}: "
                    f"{exc.strerror}; free the port or change `port`"
                ) from exc
            paths = ", ".join(f"{e.path} ({e.provider})" for e in self.config.endpoints)
            log.info("webhook source %s listens on %s:%d: %s", self.name, self.config.host, self.config.port, paths)
            await stop.wait()
            log.info("webhook source %s: stopping, draining %d requests in flight", self.name, self._in_flight)
            await site.stop()  # no new connections; open ones go on receiving their request bodies
            await self._drained(self.config.drain_timeout_s)
        finally:
            await runner.cleanup()
            await asyncio.get_running_loop().run_in_executor(None, self.kafka.close)
        log.info("webhook source %s stopped", self.name)

    async def _drained(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self._in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self._in_flight:
            log.warning("webhook source %s: %d requests cut off after %.0fs", self.name, self._in_flight, timeout_s)

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT."""

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            process_stop.on_request(lambda: loop.call_soon_threadsafe(stop.set))
            process_stop.on_signals()
            await self.serve(stop)

        asyncio.run(main())
