"""Field cleansing of text, match keys, e-mail and tax numbers; phones are in phones, postcodes in postcodes,
countries and currencies in iso_codes, numbers and times in locale_values. Each function returns a value's
canonical form or raises InvalidField describing its shape.

Every cleanser is total and idempotent: on any input it returns a value or raises InvalidField (never another
exception), and applied to its own output it returns that output unchanged. Messages describe a value's shape
(`seamline.shapes.shape`), never the value itself, so dead letters do not carry personal data.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Literal

from anyascii import anyascii
from email_validator import EmailNotValidError, validate_email
from stdnum.eu import vat

from seamline.shapes import shape

Reason = Literal["malformed", "invalid", "unknown", "ambiguous", "out_of_range"]
"""Why a value was refused, as a metric label and a data-quality record say it: it cannot be read as the field's
kind (malformed), it reads but is not valid (invalid), a name no code list has (unknown), a name or number of
several meanings (ambiguous), a number or time beyond what the field holds (out_of_range)."""


class InvalidField(ValueError):
    """A field value that cannot be normalised; the message says what was wrong, `reason` which kind of wrong."""

    def __init__(self, message: str, reason: Reason = "invalid") -> None:
        super().__init__(message)
        self.reason: Reason = reason


def text(value: str | None) -> str | None:
    """Trimmed, Unicode NFC text with inner whitespace collapsed; None for empty. Scripts are kept as written."""
    if value is None:
        return None
    cleaned = " ".join(unicodedata.normalize("NFC", value).split())
    return cleaned or None


def match_key(value: str | None, *, exact: bool = False) -> str | None:
    """The form used only to compare values, never stored: NFKC, case-folded, whitespace collapsed, and unless
    `exact`, accents folded and other scripts transliterated (anyascii), so that a name matches however a system
    spelled it: "Müller", "MULLER" and "Muller" share a key, as do "王小明" and "Wang XiaoMing" (spaces aside).

    `exact` keeps accents and scripts, for values where they make two different things (an e-mail's mailbox).
    """
    if value is None:
        return None
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    exact_key = " ".join(folded.split())
    if exact:
        return exact_key or None
    key = " ".join(anyascii(exact_key).casefold().split())
    return key or exact_key or None  # a script anyascii has no letters for keeps its own


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
        raise InvalidField(f"email ({shape(raw)}) is not a valid address: {reason}", "invalid") from None
    return result.normalized.lower()


def tax_id(value: str | None, region: str | None = None) -> str | None:
    """A VAT or tax number as compared across systems: upper-case letters and digits only ("de 123.456.789" ->
    "DE123456789"). In a record of an EU country (`region`), a valid VAT number of that country written without
    its prefix gets it ("00743110157" of an Italian customer -> "IT00743110157"), so that it matches a system
    writing it with one; anything else is kept as written (a national tax code is no VAT number)."""
    raw = text(value)
    if raw is None:
        return None
    compact = _NOT_ALPHANUMERIC.sub("", raw.upper())
    if len(compact) < 4:
        raise InvalidField(
            f"tax_id ({shape(raw)}) has fewer than 4 letters or digits: it is no tax number", "malformed"
        )
    prefix = _VAT_PREFIXES.get(region or "")
    # The prefixed reading first: most numbers already carry their prefix, so it fails and the other check is spared.
    if prefix and vat.is_valid(prefix + compact) and not vat.is_valid(compact):
        return prefix + compact
    return compact


_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")
"""What a tax number's compact form leaves out: all but ASCII letters and digits."""
_VAT_PREFIXES = {code.upper(): code.upper() for code in vat.MEMBER_STATES if code != "xi"} | {"GR": "EL"}
"""EU country -> the prefix of its VAT numbers (Greece's is EL; XI, Northern Ireland, is no ISO country)."""
