"""Turning a verified JSON webhook payload into a Change, as an endpoint's mapping says."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from producers.webhook.config import WebhookEndpoint
from seamline.events import Change, Row

CONNECTOR = "webhook"
OBJECT_NAME = re.compile(r"[A-Za-z0-9_]+")
DEFAULT_ID_FROM = {"stripe": "field:id", "shopify": "header:X-Shopify-Webhook-Id", "zendesk": "field:id"}


class PayloadError(ValueError):
    """The body cannot be mapped to a change; the message says what is missing, never what the body holds."""


def text_row(record: Mapping[str, Any]) -> Row:
    """Top-level fields as text: strings as sent, null as None, anything else (numbers, nested values) as JSON."""
    return {
        str(name): value if value is None or isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        for name, value in record.items()
    }


def lookup(payload: Any, path: str) -> Any:
    """The value at a dotted path, or None when a step is missing."""
    value = payload
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def _scalar(value: Any, what: str) -> str:
    if isinstance(value, bool) or value is None or not isinstance(value, str | int | float):
        raise PayloadError(f"{what} is missing or not a string or number")
    return str(value)


def sourced(source: str, payload: Any, headers: Mapping[str, str], what: str) -> str:
    """The value named by 'field:<path>' or 'header:<name>'."""
    kind, _, name = source.partition(":")
    if kind == "header":
        value = headers.get(name)
        if not value:
            raise PayloadError(f"{what}: header {name} is missing")
        return value
    return _scalar(lookup(payload, name), f"{what}: field {name!r}")


def json_change(
    system: str, endpoint: WebhookEndpoint, body: bytes, headers: Mapping[str, str], source_ts_ms: int
) -> Change:
    """The change a JSON delivery describes; raise PayloadError saying what is wrong."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise PayloadError(f"the body is not valid UTF-8 JSON{where}") from exc
    if not isinstance(payload, dict):
        raise PayloadError("the body is not a JSON object")
    record = payload if endpoint.record_field is None else lookup(payload, endpoint.record_field)
    if not isinstance(record, dict):
        raise PayloadError(f"field {endpoint.record_field!r} is missing or not an object")
    obj = endpoint.object or _scalar(lookup(payload, endpoint.object_field or ""), f"field {endpoint.object_field!r}")
    if not OBJECT_NAME.fullmatch(obj):
        raise PayloadError(f"field {endpoint.object_field!r} is not an object name (letters, digits, _)")
    key_field = endpoint.key_field or "id"
    key_value = _scalar(lookup(payload, key_field), f"key field {key_field!r}")
    position = sourced(endpoint.id_from or DEFAULT_ID_FROM[endpoint.provider], payload, headers, "delivery id")
    deleted = endpoint.type_from is not None and (
        sourced(endpoint.type_from, payload, headers, "event type") in endpoint.delete_types
    )
    row = text_row(record)
    return Change(
        system=system,
        object=obj,
        connector=CONNECTOR,
        op="d" if deleted else "u",
        key={key_field.rpartition(".")[2]: key_value},
        before=row if deleted else None,
        after=None if deleted else row,
        position=position,
        source_ts_ms=source_ts_ms,
    )
