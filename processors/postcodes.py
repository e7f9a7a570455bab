"""Postal codes in the form their country writes them, so that one code compares equal however a system stored it."""

from __future__ import annotations

import re

from processors.normalise import text

_DIGITS_PADDED = {"DE": 5, "FR": 5, "IT": 5, "ES": 5, "FI": 5, "MX": 5, "US": 5}
"""Countries whose all-digit codes may begin with 0, which a number column drops ("1067" for Dresden's 01067)."""

_SPLIT: dict[str, tuple[re.Pattern[str], str]] = {
    "GB": (re.compile(r"([A-Z][A-Z0-9]{1,3})([0-9][A-Z]{2})"), "{} {}"),
    "CA": (re.compile(r"([A-Z][0-9][A-Z])([0-9][A-Z][0-9])"), "{} {}"),
    "NL": (re.compile(r"([1-9][0-9]{3})([A-Z]{2})"), "{} {}"),
    "SE": (re.compile(r"([1-9][0-9]{2})([0-9]{2})"), "{} {}"),
    "PL": (re.compile(r"([0-9]{2})([0-9]{3})"), "{}-{}"),
    "PT": (re.compile(r"([1-9][0-9]{3})([0-9]{3})"), "{}-{}"),
    "JP": (re.compile(r"([0-9]{3})([0-9]{4})"), "{}-{}"),
    "BR": (re.compile(r"([0-9]{5})([0-9]{3})"), "{}-{}"),
    "US": (re.compile(r"([0-9]{5})([0-9]{4})"), "{}-{}"),  # ZIP+4
}
"""Countries whose codes have an inner separator: the code's parts without it, and how they are joined."""


def postcode(value: str | None, region: str | None = None) -> str | None:
    """A postal code upper-cased, whitespace collapsed ("sw1a  1aa" -> "SW1A 1AA"); in a record of a country
    (`region`) with a known form, written in that form: "sw1a1aa" -> "SW1A 1AA" in GB, "1067" -> "01067" in DE,
    "1234ab" -> "1234 AB" in NL. A code that does not fit its country's form is kept upper-cased as written."""
    cleaned = text(value)
    if cleaned is None:
        return None
    upper = cleaned.upper()
    compact = re.sub(r"[\s-]", "", upper)
    if region in _SPLIT and (parts := _SPLIT[region][0].fullmatch(compact)):
        return _SPLIT[region][1].format(*parts.groups())
    width = _DIGITS_PADDED.get(region or "")
    if width and compact.isascii() and compact.isdigit() and len(compact) <= width:
        return compact.zfill(width)
    return upper
