"""Phone numbers as people write them, read in the record's own country and written in E.164.

A number is read in this order, the first valid reading winning: as written in the record's region (which takes
"+39 …" and the region's own international prefix, "0039 …" in Italy); then after any other region's
international prefix ("0039 …" or "011 49 …" written in a record of another country); then as a country code
written without "+" ("880-1712-345678"). A reading that gives two different numbers is refused, never guessed.
"""

from __future__ import annotations

import re
from functools import cache

import phonenumbers
from phonenumbers import PhoneMetadata

from processors.normalise import InvalidField, text
from seamline.shapes import shape


@cache
def international_prefixes() -> tuple[str, ...]:
    """The dialling prefixes regions use to call abroad (00, 011, 0011, 810, …), longest first; "0" alone, which
    is also a trunk prefix, is left out."""
    found: set[str] = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            continue
        for prefix in (metadata.international_prefix, metadata.preferred_international_prefix):
            plain = (prefix or "").replace("~", "")  # "8~10": dial 8, wait for the tone, dial 10
            if re.fullmatch(r"[0-9]{2,}", plain):
                found.add(plain)
    return tuple(sorted(found, key=lambda prefix: (-len(prefix), prefix)))


def _valid(raw: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _international(digits: str) -> set[str]:
    """The valid numbers `digits` read as after an international prefix, else as starting with a country code."""
    after_prefix = {digits[len(prefix) :] for prefix in international_prefixes() if digits.startswith(prefix)}
    readings = {number for number in (_valid("+" + rest, None) for rest in after_prefix) if number}
    return readings or {number for number in [_valid("+" + digits, None)] if number}


def phone(value: str | None, region: str) -> str | None:
    """A valid phone number in E.164; a number without "+" is read in `region`, then as international."""
    raw = text(value)
    if raw is None:
        return None
    try:
        number = phonenumbers.parse(raw, region if region in phonenumbers.SUPPORTED_REGIONS else None)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type != phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise InvalidField(f"phone ({shape(raw)}) is not a phone number: {exc}", "malformed") from None
        number = None  # no "+" and no region to read it in: it may still read as international
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = phonenumbers.normalize_digits_only(raw)
    readings = _international(digits) if digits and not raw.startswith("+") else set()
    if len(readings) == 1:
        return readings.pop()
    if readings:
        raise InvalidField(
            f"phone ({shape(raw)}) reads as {len(readings)} different international numbers: write it with "
            "+<country code>",
            "ambiguous",
        )
    raise InvalidField(
        f"phone ({shape(raw)}) is not a valid number in the record's country (else the mapping's default_region), "
        "nor after an international prefix or as a country code and number: write it with +<country code>, or "
        "correct the record's country",
        "invalid",
    )
