"""What a record's value looks like, for the messages (dead-letter reasons, logs) that must never carry it."""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from decimal import Decimal


def shape(value: object) -> str:
    """What a value looks like without revealing it: its type, its length and the kinds of characters in it."""
    if isinstance(value, bool | int):
        return f"{type(value).__name__} of {value.bit_length()} bits"
    if isinstance(value, float):
        return "float" if math.isfinite(value) else f"float {value}"
    if isinstance(value, Decimal):
        return "Decimal" if value.is_finite() else f"Decimal {value}"
    if isinstance(value, datetime):
        return "naive datetime" if value.utcoffset() is None else "aware datetime"
    if not isinstance(value, str):
        return type(value).__name__
    if not value:
        return "empty text"
    kinds: dict[str, None] = {}
    symbols: set[str] = set()
    for char in value:
        group = unicodedata.category(char)[0]
        if char.isspace() or group == "Z":
            kinds["spaces"] = None
        elif group in "LM":
            kinds["letters"] = None
        elif group == "N":
            kinds["digits"] = None
        elif group == "C":
            kinds["control characters"] = None
        else:
            symbols.add(char)
    parts: list[str] = [kind for kind in ("letters", "digits", "spaces", "control characters") if kind in kinds]
    listed = sorted(symbols)
    parts += [repr(symbol) for symbol in listed[:8]] + ([f"{len(listed) - 8} more symbols"] if len(listed) > 8 else [])
    return f"text of {len(value)} char{'s' if len(value) > 1 else ''}: {', '.join(parts)}"
