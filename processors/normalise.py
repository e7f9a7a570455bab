"""Field cleansing of text, e-mail and phone; countries and currencies are in iso_codes, numbers and times in
locale_values. Each function returns a value's canonical form or raises InvalidField describing its shape.

Every cleanser is total and idempotent: on any input it returns a value or raises InvalidField (never another
exception), and applied to its own output it returns that output unchanged. Messages describe a value's shape
(`seamline.shapes.shape`), never the value itself, so dead letters do not carry personal data.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from seamline.shapes import shape


class InvalidField(ValueError):
    """A field value that cannot be normalised; the message says what was wrong."""


def text(value: str | None) -> str | None:
    """Trimmed, Unicode NFC text with inner whitespace collapsed; None for empty. Scripts are kept as written."""
    if value is None:
        return None
    cleaned = " ".join(unicodedata.normalize("NFC", value).split())
    return cleaned or None


def match_key(value: str | None) -> str | None:
    """The form used only to compare values, never stored: NFKC, case-folded, whitespace collapsed, accents kept.

    "Straße", "STRASSE" and "ｓｔｒａｓｓｅ" share a key; "Müller" and "Muller" do not. Names keep `text()` form.
    """
    if value is None:
        return None
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    key = " ".join(folded.split())
    return key or None


_ATOM = r"[a-zA-Z0-9_!#$%&'*+/=?^`{|}~-]+"
_PLAIN_ADDRESS = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@([a-zA-Z0-9.-]+)")
"""An ASCII dot-atom before the @ (valid as it is) and an ASCII domain."""
_ADDRESS_BYTES = 254
"""The longest address validate_email takes, in UTF-8 bytes, as written, normalised and in IDNA ASCII."""


@lru_cache(maxsize=4096)
def _domain(domain: str) -> tuple[str, str] | None:
    """A valid e-mail domain's normalised and IDNA ASCII forms, or None. Cached: checking one costs ~25 µs, and
    domains, unlike addresses, are no personal data."""
    try:
        checked = validate_email(f"a@{domain}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return checked.domain, checked.ascii_domain


def email(value: str | None) -> str | None:
    """A syntactically valid e-mail address, lower-cased."""
    raw = text(value)
    if raw is None:
        return None
    # A plain address with a valid domain is valid unless too long; any other goes through the whole check,
    # which gives the reason.
    plain = _PLAIN_ADDRESS.fullmatch(raw)
    domain = _domain(plain[2]) if plain else None
    if plain and domain:
        normalized = f"{plain[1]}@{domain[0]}"
        lengths = (len(raw), len(normalized.encode()), len(plain[1]) + 1 + len(domain[1]))
        if max(lengths) <= _ADDRESS_BYTES:
            return normalized.lower()
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        # Parenthesised details quoting the domain (IDNA errors) are dropped: they would reveal the address.
        reason = re.sub(r" ?\([^()]*['\"][^()]*\)", "", str(exc))
        raise InvalidField(f"email ({shape(raw)}) is not a valid address: {reason}") from None
    return result.normalized.lower()


def phone(value: str | None, region: str) -> str | None:
    """A valid phone number in E.164; numbers without +code are read as in `region`."""
    raw = text(value)
    if raw is None:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidField(f"phone ({shape(raw)}) is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidField(f"phone ({shape(raw)}) is not a valid number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def tax_id(value: str | None) -> str | None:
    """A VAT or tax number as compared across systems: upper-case letters and digits only ("de 123.456.789" ->
    "DE123456789")."""
    raw = text(value)
    if raw is None:
        return None
    compact = "".join(char for char in raw.upper() if char.isascii() and char.isalnum())
    if len(compact) < 4:
        raise InvalidField(f"tax_id ({shape(raw)}) has fewer than 4 letters or digits: it is no tax number")
    return compact


def postcode(value: str | None) -> str | None:
    """A postal code upper-cased, whitespace collapsed ("sw1a  1aa" -> "SW1A 1AA")."""
    cleaned = text(value)
    return None if cleaned is None else cleaned.upper()
