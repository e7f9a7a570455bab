"""Field cleansing: each function returns a value's canonical form or raises InvalidField describing its shape.

Every cleanser is total and idempotent: on any input it returns a value or raises InvalidField (never another
exception), and applied to its own output it returns that output unchanged. Messages describe a value's shape
(`shape`), never the value itself, so dead letters do not carry personal data.
"""

from __future__ import annotations

import gettext
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email


class InvalidField(ValueError):
    """A field value that cannot be normalised; the message says what was wrong."""


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


def email(value: str | None) -> str | None:
    """A syntactically valid e-mail address, lower-cased."""
    raw = text(value)
    if raw is None:
        return None
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


# Names people commonly write that pycountry's English names and translations lack. Keys are folded like input.
COUNTRY_ALIASES: dict[str, str] = {
    "USA": "US",
    "U.S.": "US",
    "America": "US",
    "UK": "GB",
    "Great Britain": "GB",
    "Britain": "GB",
    "England": "GB",
    "Scotland": "GB",
    "Wales": "GB",
    "Northern Ireland": "GB",
    "Holland": "NL",
    "Russia": "RU",
    "Россия": "RU",
    "South Korea": "KR",
    "North Korea": "KP",
    "Iran": "IR",
    "Syria": "SY",
    "Vietnam": "VN",
    "Laos": "LA",
    "Czech Republic": "CZ",
    "Ivory Coast": "CI",
    "Cape Verde": "CV",
    "Swaziland": "SZ",
    "Burma": "MM",
    "Vatican": "VA",
    "Vatican City": "VA",
    "Palestine": "PS",
    "Macedonia": "MK",
    "Turkey": "TR",
    "East Timor": "TL",
    "UAE": "AE",
    "DR Congo": "CD",
    "DRC": "CD",
    "Congo-Kinshasa": "CD",
    "Congo-Brazzaville": "CG",
    "中国": "CN",
    "中國": "CN",
    "台灣": "TW",
    "台湾": "TW",
}

# Symbols that name one currency. ¥ is read as JPY: the yuan is written 元, CN¥ or RMB in data we receive.
CURRENCY_SYMBOLS: dict[str, str] = {
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "円": "JPY",
    "US$": "USD",
    "CA$": "CAD",
    "C$": "CAD",
    "AU$": "AUD",
    "A$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "R$": "BRL",
    "MX$": "MXN",
    "CN¥": "CNY",
    "元": "CNY",
    "RMB": "CNY",
    "₹": "INR",
    "₽": "RUB",
    "₩": "KRW",
    "₺": "TRY",
    "₪": "ILS",
    "₴": "UAH",
    "₫": "VND",
    "฿": "THB",
    "₱": "PHP",
    "₦": "NGN",
    "৳": "BDT",
    "zł": "PLN",
    "Kč": "CZK",
    "Ft": "HUF",
}
# Symbols several currencies use: refused by `currency`, but stripped around amounts by `decimal_number`.
AMBIGUOUS_CURRENCY_SYMBOLS: dict[str, str] = {"$": "USD, CAD, AUD, MXN and others", "kr": "SEK, NOK, DKK and ISK"}

_UNACCENTED_SCRIPTS = ("LATIN", "GREEK", "CYRILLIC")
_DROPPED = str.maketrans("", "", ".'’`")
_SEPARATORS = re.compile(r"[\s\-‐‑–—,;:()/&]+")


@cache
def _strips_accents(char: str) -> bool:
    return unicodedata.name(char, "").startswith(_UNACCENTED_SCRIPTS)


def _fold(name: str) -> str:
    """A name's lookup key: case-folded, accents removed from Latin/Greek/Cyrillic letters, punctuation ignored.

    Marks on other scripts (Bengali vowel signs, Devanagari matras) are letters there, so they are kept.
    """
    kept: list[str] = []
    strip = False
    for char in unicodedata.normalize("NFKD", name.casefold()):
        if unicodedata.combining(char):
            if strip:
                continue
        else:
            strip = _strips_accents(char)
        kept.append(char)
    folded = " ".join(_SEPARATORS.sub(" ", "".join(kept).translate(_DROPPED)).split())
    return unicodedata.normalize("NFC", folded.removeprefix("the "))


def _derived(name: str) -> Iterator[str]:
    """Short forms of an ISO name: "Korea, Republic of" gives "Korea" and "Republic of Korea"."""
    plain = re.sub(r"\s*\([^)]*\)", "", name)
    if plain != name:
        yield plain
    head, comma, tail = plain.partition(", ")
    if comma:
        yield head
        yield f"{tail} {head}"


class _NameIndex:
    """Names to codes over every language pycountry ships; a lower tier wins, a tie between codes is ambiguous."""

    def __init__(self, entries: Iterable[tuple[int, str, str]]) -> None:
        self.keys: dict[str, tuple[int, set[str]]] = {}
        for tier, name, code in entries:
            key = _fold(name)
            if not key:
                continue
            found = self.keys.get(key)
            if found is None or tier < found[0]:
                self.keys[key] = (tier, {code})
            elif tier == found[0]:
                found[1].add(code)

    def codes(self, value: str) -> frozenset[str]:
        found = self.keys.get(_fold(value))
        return frozenset(found[1]) if found else frozenset()


def languages(domain: str) -> list[str]:
    """The languages pycountry ships translations of `domain` (iso3166-1, iso4217) in."""
    return sorted(
        lang
        for lang in os.listdir(pycountry.LOCALES_DIR)
        if os.path.exists(os.path.join(pycountry.LOCALES_DIR, lang, "LC_MESSAGES", f"{domain}.mo"))
    )


def _translated(domain: str, names: list[tuple[str, str]]) -> Iterator[tuple[int, str, str]]:
    """Tier 1: the English names; tier 2: every translation; tier 3: English short forms; tier 4: translated ones."""
    catalogues = [gettext.translation(domain, pycountry.LOCALES_DIR, languages=[lang]) for lang in languages(domain)]
    for name, code in names:
        written = {catalogue.gettext(name) for catalogue in catalogues}
        yield 1, name, code
        yield from ((2, translation, code) for translation in written)
        yield from ((3, short, code) for short in _derived(name))
        yield from ((4, short, code) for translation in written for short in _derived(translation))


@cache
def _country_index() -> _NameIndex:
    names = [
        (name, entry.alpha_2)
        for entry in pycountry.countries
        for name in (entry.name, getattr(entry, "official_name", None), getattr(entry, "common_name", None))
        if name
    ]
    aliases = ((1, alias, code) for alias, code in COUNTRY_ALIASES.items())
    return _NameIndex([*aliases, *_translated("iso3166-1", names)])


@cache
def _currency_index() -> _NameIndex:
    return _NameIndex(_translated("iso4217", [(entry.name, entry.alpha_3) for entry in pycountry.currencies]))


def _by_name(kind: str, raw: str, index: _NameIndex, hint: str) -> str:
    codes = index.codes(raw)
    if len(codes) > 1:
        raise InvalidField(f"{kind} ({shape(raw)}) is ambiguous: it names {', '.join(sorted(codes))}; write the code")
    if not codes:
        raise InvalidField(f"{kind} ({shape(raw)}) is not {hint}")
    return next(iter(codes))


def country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code from an alpha-2/alpha-3/numeric code or a country name in any language pycountry
    translates (plus COUNTRY_ALIASES); case, accents and punctuation are ignored. Ambiguous names are refused."""
    raw = text(value)
    if raw is None:
        return None
    code = raw.upper()
    if raw.isascii() and raw.isdigit() and len(raw) <= 3:
        found = pycountry.countries.get(numeric=raw.zfill(3))
    elif len(code) == 2:
        found = pycountry.countries.get(alpha_2=code)
    elif len(code) == 3:
        found = pycountry.countries.get(alpha_3=code)
    else:
        found = None
    if found is not None:
        return str(found.alpha_2)
    return _by_name("country", raw, _country_index(), "an ISO 3166 code or a country name in a known language")


def currency(value: str | None) -> str | None:
    """ISO 4217 code from a code (alphabetic or numeric), a currency name in any language pycountry translates,
    or an unambiguous symbol (CURRENCY_SYMBOLS; ¥ is JPY). "$" and "kr" are refused as ambiguous."""
    raw = text(value)
    if raw is None:
        return None
    compact = "".join(raw.split()).upper()
    symbols = {symbol.upper(): code for symbol, code in CURRENCY_SYMBOLS.items()}
    if compact in symbols:
        return symbols[compact]
    ambiguous = {symbol.upper(): codes for symbol, codes in AMBIGUOUS_CURRENCY_SYMBOLS.items()}
    if compact in ambiguous:
        raise InvalidField(f"currency ({shape(raw)}) is a symbol of {ambiguous[compact]}: write the ISO 4217 code")
    if raw.isascii() and raw.isdigit():
        found = pycountry.currencies.get(numeric=raw.zfill(3))
    else:
        found = pycountry.currencies.get(alpha_3=compact) if len(compact) == 3 else None
    if found is not None:
        return str(found.alpha_3)
    return _by_name("currency", raw, _currency_index(), "an ISO 4217 code, currency name or symbol")


_GROUP_SPACES = " \u00a0\u202f\u2009"
_APOSTROPHES = "'’"
_BODY = re.compile(rf"[0-9.,{_APOSTROPHES}{_GROUP_SPACES}]+")
_SCIENTIFIC = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:X[0-9]{3})+")
_LAKHS = re.compile(r"[0-9]{1,2}(?:X[0-9]{2})*X[0-9]{3}")


@cache
def _currency_marks() -> tuple[str, ...]:
    """Every currency symbol and ISO code, upper-cased, longest first (US$ before $)."""
    marks = {*CURRENCY_SYMBOLS, *AMBIGUOUS_CURRENCY_SYMBOLS, *(entry.alpha_3 for entry in pycountry.currencies)}
    return tuple(sorted((mark.upper() for mark in marks), key=len, reverse=True))


def _without_sign_and_currency(raw: str) -> tuple[str, str]:
    """The amount without one sign (leading, or trailing as SAP writes "1.234,56-") and one currency mark."""
    sign, mark, body = "", "", raw
    while True:
        body = body.strip(_GROUP_SPACES)
        if not sign and body[:1] in ("+", "-", "−"):
            sign, body = body[0], body[1:]
        elif not sign and body[-1:] in ("-", "−"):
            sign, body = "-", body[:-1]
        elif not mark and (found := next((m for m in _currency_marks() if body[: len(m)].upper() == m), "")):
            mark, body = found, body[len(found) :]
        elif not mark and (found := next((m for m in _currency_marks() if body[-len(m) :].upper() == m), "")):
            mark, body = found, body[: -len(found)]
        else:
            return ("-" if sign in ("-", "−") else "", body)


def _grouping(mark: str) -> str:
    return " " if mark in _GROUP_SPACES else "'" if mark in _APOSTROPHES else mark


def _plain_number(body: str, decimal_separator: str) -> str | None:
    """The number as Decimal() reads it, or None when the grouping or separators do not form a number."""
    if _SCIENTIFIC.fullmatch(body):
        return body
    if not _BODY.fullmatch(body) or not any(char.isdigit() for char in body):
        return None
    marks = {char for char in body if char in ".,"}
    if len(marks) == 2:
        separator: str | None = body[max(body.rfind("."), body.rfind(","))]
    elif len(marks) == 1:
        separator = marks.pop()
        whole, _, fraction = body.rpartition(separator)
        if body.count(separator) > 1:
            separator = None
        elif (
            len(fraction) == 3
            and fraction.isdigit()
            and re.fullmatch(r"[1-9][0-9]{0,2}", whole)
            and separator != decimal_separator
        ):
            separator = None  # "1,234" or "1.234": a thousands mark unless it is the source's decimal separator
    else:
        separator = None
    whole, _, fraction = body.rpartition(separator) if separator else (body, "", "")
    if separator and not fraction.isdigit():
        return None
    if whole and not whole.isdigit():
        kinds = {_grouping(char) for char in whole if not char.isdigit()}
        if len(kinds) != 1 or kinds & {separator}:
            return None
        grouped = re.sub(r"[^0-9]", "X", whole)
        if not (_THOUSANDS.fullmatch(grouped) or _LAKHS.fullmatch(grouped)):
            return None
    digits = re.sub(r"[^0-9]", "", whole) or "0"
    return f"{digits}.{fraction}" if fraction else digits


def decimal_number(value: str | int | float | Decimal | None, locale_hint: str) -> Decimal | None:
    """A finite Decimal from a number as people and systems write it; None for empty.

    Accepted: ints, finite floats (read as their shortest repr), finite Decimals, and text such as "1234", "12,5",
    "1.234,56", "1,234.56", "1 234,56" (space, NBSP, narrow NBSP or thin space), "1'234.56", Indian "12,34,567.8",
    "1.5e3", with one sign ("-1.234,5", SAP's trailing "1.234,5-", "−" U+2212) and one currency symbol or ISO code
    before or after ("€ 1.234,56", "1,234.56 USD", "US$-5"). Only ASCII digits are read.

    Separators: with both "." and ",", the last one is the decimal separator. A single "." or "," followed by
    exactly three digits, with 1-3 digits (not "0") before it, is ambiguous ("1,234"): it is the decimal separator
    if it equals `locale_hint` (the source's decimal separator, "," or "."), else a thousands mark. Any other
    single "." or "," is the decimal separator; a mark that appears twice groups thousands. Groups must be of
    three digits (or Indian lakhs) with one kind of mark.
    """
    if locale_hint not in (",", "."):
        raise ValueError(f"the decimal separator hint must be ',' or '.', not {locale_hint!r}: fix the source's config")
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidField(f"number ({shape(value)}) is a truth value, not a number")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise InvalidField(f"number ({shape(value)}) is not a finite number")
        return number
    raw = text(value)
    if raw is None:
        return None
    sign, body = _without_sign_and_currency(raw)
    plain = _plain_number(body, locale_hint)
    try:
        if plain is not None:
            return Decimal(sign + plain)
    except ArithmeticError:  # an exponent beyond what Decimal can hold
        pass
    raise InvalidField(
        f"number ({shape(raw)}) is not a number: write digits with one decimal separator and optional "
        "thousands marks (1.234,56 or 1,234.56), a sign and a currency"
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DIGITS = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_COMPACT = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:([0-9]{2})([0-9]{2})([0-9]{2}))?")
_CLOCK = r"(?:[ T,]+([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?"
_DOTTED = re.compile(rf"([0-9]{{1,2}})\.([0-9]{{1,2}})\.([0-9]{{4}}){_CLOCK}")
_SLASHED = re.compile(rf"([0-9]{{1,2}})/([0-9]{{1,2}})/([0-9]{{4}}){_CLOCK}(?: *([AaPp])\.?[Mm]\.?)?")
_YEAR_SLASHED = re.compile(rf"([0-9]{{4}})/([0-9]{{1,2}})/([0-9]{{1,2}}){_CLOCK}")
# Epoch magnitudes: below 1e11 seconds (until year 5138), then milliseconds (from 1973-03-03), microseconds, nanos.
_EPOCH_UNITS = ((Decimal(10) ** 11, 1), (Decimal(10) ** 14, 10**3), (Decimal(10) ** 17, 10**6))


@cache
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Berlin or UTC") from None


def _from_epoch(seconds_or_finer: Decimal) -> datetime:
    if not seconds_or_finer.is_finite() or abs(seconds_or_finer) >= 10**20:
        raise OverflowError("out of range")
    scale = next((unit for limit, unit in _EPOCH_UNITS if abs(seconds_or_finer) < limit), 10**9)
    micros = int((seconds_or_finer * 10**6 / scale).to_integral_value())
    return _EPOCH + timedelta(microseconds=micros)


def _in_zone(naive: datetime, zone: ZoneInfo) -> datetime:
    """A wall-clock time in `zone` as UTC; a repeated hour reads as its first occurrence (fold=0)."""
    aware = naive.replace(tzinfo=zone, fold=0)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive.replace(fold=0):
        raise InvalidField(f"time ({shape(naive)}) does not exist in {zone.key}: the clocks were put forward then")
    return aware.astimezone(UTC)


def _wall_clock(raw: str, day_first: bool) -> datetime | None:
    """A naive datetime from the common day/month/year forms, or None when `raw` has none of them."""
    if found := _COMPACT.fullmatch(raw):
        year, month, day, hour, minute, second = (int(part or 0) for part in found.groups())
    elif found := _DOTTED.fullmatch(raw):
        day, month, year, hour, minute, second = (int(part or 0) for part in found.groups())
    elif found := _YEAR_SLASHED.fullmatch(raw):
        year, month, day, hour, minute, second = (int(part or 0) for part in found.groups())
    elif found := _SLASHED.fullmatch(raw):
        first, second_part, year, hour, minute, second = (int(part or 0) for part in found.groups()[:6])
        day, month = (first, second_part) if day_first else (second_part, first)
        if meridiem := found.group(7):
            if found.group(4) is None or not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if meridiem in "Pp" else 0)
    else:
        return None
    return datetime(year, month, day, hour, minute, second)


def utc_time(
    value: str | int | float | datetime | date | None, default_zone: str, day_first: bool = False
) -> datetime | None:
    """An aware datetime in UTC; None for empty. Times without an offset are wall-clock times in `default_zone`.

    Accepted: datetimes (naive ones in `default_zone`), dates (midnight there); epoch ints, floats and digit
    strings, whose unit is read from their magnitude (below 1e11 seconds, below 1e14 milliseconds, below 1e17
    microseconds, else nanoseconds; so milliseconds before 1973-03-03 read as seconds); ISO 8601 text with or
    without offset ("2024-02-29T13:14:15Z", "2024-02-29 13:14:15", "2024-02-29", a trailing " UTC");
    compact "20240229" and "20240229131415" (SAP's date and timestamp: 8 and 14 digit strings are never epochs);
    "29.02.2024[ 13:14[:15]]" (always day first); "2024/02/29[ 13:14[:15]]" (always year first);
    "02/29/2024[ 1:14[:15] PM]" month first, or day first ("29/02/2024 13:14") when `day_first` is set.
    An hour repeated when clocks go back reads as its first occurrence; an hour skipped is refused.
    A bad `default_zone` is a configuration error (ValueError), not a bad field.
    """
    zone = _zone(default_zone)
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidField(f"time ({shape(value)}) is a truth value, not a time")
    raw = text(value) if isinstance(value, str) else value
    if raw is None:
        return None
    try:
        return _to_utc(raw, zone, day_first)
    except InvalidField:
        raise
    except (ValueError, OverflowError, ArithmeticError):
        hint = "" if day_first else "; if the source writes dd/mm/yyyy, read it with day_first"
        raise InvalidField(
            f"time ({shape(raw)}) is not ISO 8601, an epoch, dd.mm.yyyy or mm/dd/yyyy time in range{hint}"
        ) from None


def _to_utc(raw: str | int | float | datetime | date, zone: ZoneInfo, day_first: bool) -> datetime:
    if isinstance(raw, datetime):
        return raw.astimezone(UTC) if raw.utcoffset() is not None else _in_zone(raw, zone)
    if isinstance(raw, date):
        return _in_zone(datetime(raw.year, raw.month, raw.day), zone)
    if isinstance(raw, int | float):
        return _from_epoch(Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw))
    if _EPOCH_DIGITS.fullmatch(raw) and not _COMPACT.fullmatch(raw):
        return _from_epoch(Decimal(raw))
    naive = _wall_clock(raw, day_first)
    if naive is not None:
        return _in_zone(naive, zone)
    iso = raw[:-4] + "+00:00" if raw[-4:].upper() in (" UTC", " GMT") else raw
    parsed = datetime.fromisoformat(iso)
    return parsed.astimezone(UTC) if parsed.utcoffset() is not None else _in_zone(parsed, zone)
