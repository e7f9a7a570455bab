"""Field normalisation (text, e-mail, phone, country): each returns the canonical form or raises InvalidField."""

from __future__ import annotations

import unicodedata

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email


class InvalidField(ValueError):
    """A field value that cannot be normalised; the message says what was wrong."""


def text(value: str | None) -> str | None:
    """Trimmed, Unicode NFC text with inner whitespace collapsed; None for empty. Scripts are kept as written."""
    if value is None:
        return None
    cleaned = " ".join(unicodedata.normalize("NFC", value).split())
    return cleaned or None


def email(value: str | None) -> str | None:
    """A syntactically valid e-mail address, lower-cased."""
    raw = text(value)
    if raw is None:
        return None
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidField(f"email {raw!r} is not a valid address: {exc}") from exc
    return result.normalized.lower()


def phone(value: str | None, region: str) -> str | None:
    """A valid phone number in E.164; numbers without +code are read as in `region`."""
    raw = text(value)
    if raw is None:
        return None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidField(f"phone {raw!r} is not a phone number: {exc}") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidField(f"phone {raw!r} is not a valid number for region {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code from a code (alpha-2/alpha-3) or an English country name."""
    raw = text(value)
    if raw is None:
        return None
    try:
        found = pycountry.countries.lookup(raw)
    except LookupError as exc:
        raise InvalidField(f"country {raw!r} is not an ISO 3166 code or country name") from exc
    return str(found.alpha_2)
