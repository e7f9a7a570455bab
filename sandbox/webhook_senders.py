"""Webhook senders as the providers behave: they sign each delivery as documented and retry until a 2xx.

Stripe: `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, re-signed on every attempt.
Shopify: `X-Shopify-Hmac-Sha256` (base64 HMAC-SHA256 of the body), `X-Shopify-Webhook-Id` (the same on every
retry of a delivery), `X-Shopify-Topic`, `X-Shopify-Triggered-At`.
Zendesk: `X-Zendesk-Webhook-Signature` (base64 HMAC-SHA256 of timestamp + body) and
`X-Zendesk-Webhook-Signature-Timestamp`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def sign_stripe(secret: str, body: bytes, stamp: int) -> str:
    """The Stripe-Signature header value for `body` at unix time `stamp`."""
    return f"t={stamp},v1={_mac(secret, str(stamp).encode() + b'.' + body).hex()}"


def sign_shopify(secret: str, body: bytes) -> str:
    """The X-Shopify-Hmac-Sha256 header value for `body`."""
    return base64.b64encode(_mac(secret, body)).decode()


def sign_zendesk(secret: str, body: bytes, stamp: str) -> str:
    """The X-Zendesk-Webhook-Signature header value for `body` at the ISO 8601 time `stamp`."""
    return base64.b64encode(_mac(secret, stamp.encode() + body)).decode()


def stripe_headers(secret: str, body: bytes) -> dict[str, str]:
    """Headers of one Stripe delivery attempt, signed now."""
    return {"Stripe-Signature": sign_stripe(secret, body, int(time.time())), "Content-Type": "application/json"}


def shopify_headers(
    secret: str, body: bytes, delivery_id: str, topic: str, triggered_at: datetime | None = None
) -> dict[str, str]:
    """Headers of one Shopify delivery attempt; `triggered_at` defaults to now."""
    moment = (triggered_at or datetime.now(UTC)).astimezone(UTC)
    return {
        "X-Shopify-Hmac-Sha256": sign_shopify(secret, body),
        "X-Shopify-Webhook-Id": delivery_id,
        "X-Shopify-Topic": topic,
        "X-Shopify-Triggered-At": moment.isoformat().replace("+00:00", "Z"),
        "Content-Type": "application/json",
    }


def zendesk_headers(secret: str, body: bytes, stamp: str | None = None) -> dict[str, str]:
    """Headers of one Zendesk delivery attempt; `stamp` (ISO 8601) defaults to now."""
    stamp = stamp or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "X-Zendesk-Webhook-Signature": sign_zendesk(secret, body, stamp),
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "Content-Type": "application/json",
    }


def deliver(
    client: httpx.Client,
    path: str,
    body: bytes,
    headers: Callable[[], dict[str, str]],
    timeout_s: float = 60.0,
    pause_s: float = 0.1,
) -> int:
    """POST until a 2xx, re-signing each attempt; retry on connection errors and 5xx, fail on 4xx.

    Returns the number of attempts. Real providers back off for minutes (and honour Retry-After); the
    pause here is short so tests run quickly.
    """
    deadline = time.monotonic() + timeout_s
    attempts = 0
    while True:
        attempts += 1
        try:
            response = client.post(path, content=body, headers=headers())
            if response.is_success:
                return attempts
            if response.status_code < 500:
                raise RuntimeError(f"{path} refused the delivery: {response.status_code} {response.text.strip()}")
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not accept the delivery within {timeout_s:.0f}s ({attempts} attempts)")
        time.sleep(pause_s)
