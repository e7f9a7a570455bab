"""Webhook signature checks as each provider documents them; every comparison runs in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

STRIPE_HEADER = "Stripe-Signature"
SHOPIFY_HEADER = "X-Shopify-Hmac-Sha256"
SHOPIFY_TRIGGERED_AT = "X-Shopify-Triggered-At"
ZENDESK_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"


class SignatureError(ValueError):
    """The request is not authentic or is a replay; the message says why without quoting the request."""


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _matches(secrets: Sequence[str], message: bytes, given: Sequence[bytes]) -> bool:
    """Whether any secret's MAC of `message` equals any given MAC; every pair is compared, in constant time each."""
    outcomes = [hmac.compare_digest(_mac(secret, message), mac) for secret in secrets for mac in given]
    return any(outcomes)


def _unix(text: str, header: str) -> float:
    """Unix seconds of an ISO 8601 time; one without an offset is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise SignatureError(f"header {header} is not an ISO 8601 time") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _fresh(stamp: float, now: float, tolerance_s: float, what: str) -> None:
    if abs(now - stamp) > tolerance_s:
        raise SignatureError(f"{what} is {now - stamp:.0f}s away from now, outside the {tolerance_s:.0f}s tolerance")


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if not value:
        raise SignatureError(f"header {name} is missing")
    return value


def stripe_timestamp(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], tolerance_s: float, now: float
) -> float:
    """Check `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`: HMAC-SHA256 of "<t>.<body>"; return t.

    Several v1 signatures appear while a secret is rolled; one match is enough. Other schemes (v0) are ignored.
    """
    stamp: str | None = None
    signatures: list[str] = []
    for item in _header(headers, STRIPE_HEADER).split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            stamp = value
        elif name == "v1":
            signatures.append(value)
    if stamp is None or not stamp.isdigit():
        raise SignatureError(f"header {STRIPE_HEADER} has no numeric t= timestamp")
    if not signatures:
        raise SignatureError(f"header {STRIPE_HEADER} has no v1= signature")
    try:
        given = [bytes.fromhex(signature) for signature in signatures]
    except ValueError as exc:
        raise SignatureError(f"header {STRIPE_HEADER} has a v1 signature that is not hex") from exc
    if not _matches(secrets, stamp.encode() + b"." + body, given):
        raise SignatureError("no v1 signature matches the body and the endpoint secret")
    _fresh(float(stamp), now, tolerance_s, "the signature timestamp")
    return float(stamp)


def _base64_header(headers: Mapping[str, str], name: str) -> bytes:
    """The bytes of a required base64 header."""
    text = _header(headers, name)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise SignatureError(f"header {name} is not base64") from exc


def shopify_timestamp(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], tolerance_s: float, now: float
) -> float | None:
    """Check `X-Shopify-Hmac-Sha256`: base64 HMAC-SHA256 of the raw body; X-Shopify-Triggered-At, when sent, must
    be within the tolerance. Return the trigger time (unix seconds) or None."""
    given = _base64_header(headers, SHOPIFY_HEADER)
    if not _matches(secrets, body, [given]):
        raise SignatureError("the HMAC does not match the body and the endpoint secret")
    triggered = headers.get(SHOPIFY_TRIGGERED_AT)
    if not triggered:
        return None
    stamp = _unix(triggered, SHOPIFY_TRIGGERED_AT)
    _fresh(stamp, now, tolerance_s, f"{SHOPIFY_TRIGGERED_AT}")
    return stamp


def zendesk_timestamp(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], tolerance_s: float, now: float
) -> float:
    """Check `X-Zendesk-Webhook-Signature`: base64 HMAC-SHA256 of timestamp + body, the timestamp being
    `X-Zendesk-Webhook-Signature-Timestamp` (ISO 8601); return it as unix seconds."""
    stamp_text = _header(headers, ZENDESK_TIMESTAMP)
    given = _base64_header(headers, ZENDESK_HEADER)
    if not _matches(secrets, stamp_text.encode() + body, [given]):
        raise SignatureError("the signature does not match the timestamp, the body and the endpoint secret")
    stamp = _unix(stamp_text, ZENDESK_TIMESTAMP)
    _fresh(stamp, now, tolerance_s, "the signature timestamp")
    return stamp


def url_secret(given: str | None, secrets: Sequence[str]) -> None:
    """Check the secret Mailchimp posts to as the last segment of the URL path, as its documentation advises."""
    outcomes = [hmac.compare_digest((given or "").encode(), secret.encode()) for secret in secrets]
    if not any(outcomes):
        raise SignatureError("the secret in the URL path does not match the endpoint secret")


def same_org(configured: str, given: str) -> bool:
    """Whether two Salesforce org ids (15 or 18 characters) name the same org, in constant time.

    The first 15 characters are the case-sensitive id; the 18-character form adds a checksum suffix.
    """
    return len(given) in (15, 18) and hmac.compare_digest(configured[:15].encode(), given[:15].encode())
