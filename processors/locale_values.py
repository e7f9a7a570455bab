"""Numbers and times as written in many locales: decimal amounts and instants (to UTC)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry

from processors.iso_codes import AMBIGUOUS_CURRENCY_SYMBOLS, CURRENCY_SYMBOLS
from processors.normalise import InvalidField, text
from seamline.shapes import shape

_DIGITS = frozenset("0123456789")
_GROUP_SPACES = " \u00a0\u202f\u2009"
_APOSTROPHES = "'’"
_BODY = re.compile(rf"[0-9.,{_APOSTROPHES}{_GROUP_SPACES}]+")
_SCIENTIFIC = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][+-]?[0-9]+")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:X[0-9]{3})+")
_LAKHS = re.compile(r"[0-9]{1,2}(?:X[0-9]{2})*X[0-9]{3}")


@cache
def _currency_marks() -> tuple[tuple[int, frozenset[str]], ...]:
    """Every currency symbol and ISO code, upper-cased, by length, longest first (US$ before $)."""
    marks = {mark.upper() for mark in (*CURRENCY_SYMBOLS, *AMBIGUOUS_CURRENCY_SYMBOLS)}
    marks |= {entry.alpha_3.upper() for entry in pycountry.currencies}
    lengths = sorted({len(mark) for mark in marks}, reverse=True)
    return tuple((length, frozenset(mark for mark in marks if len(mark) == length)) for length in lengths)


def _leading_mark(body: str) -> str:
    return next((body[:n] for n, marks in _currency_marks() if body[:n].upper() in marks), "")


def _trailing_mark(body: str) -> str:
    return next((body[-n:] for n, marks in _currency_marks() if body[-n:].upper() in marks), "")


def _without_sign_and_currency(raw: str) -> tuple[str, str]:
    """The amount without one sign (leading, or trailing as SAP writes "1.234,56-") and one currency mark."""
    sign, mark, body = "", "", raw
    while True:
        body = body.strip(_GROUP_SPACES)
        if not sign and body[:1] in ("+", "-", "−"):
            sign, body = body[0], body[1:]
        elif not sign and body[-1:] in ("-", "−"):
            sign, body = "-", body[:-1]
        elif not mark and (found := _leading_mark(body)):
            mark, body = found, body[len(found) :]
        elif not mark and (found := _trailing_mark(body)):
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
        raise InvalidField(f"number ({shape(value)}) is a truth value, not a number", "malformed")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if not number.is_finite():
            raise InvalidField(f"number ({shape(value)}) is not a finite number", "out_of_range")
        return number
    raw = text(value)
    if raw is None:
        return None
    if raw[0] in _DIGITS and raw[-1] in _DIGITS:  # no sign or currency mark starts or ends with a digit
        if raw.isascii() and raw.isdigit():
            return Decimal(raw)
        sign, body = "", raw
    else:
        sign, body = _without_sign_and_currency(raw)
    plain = _plain_number(body, locale_hint)
    try:
        if plain is not None:
            return Decimal(sign + plain)
    except ArithmeticError:  # an exponent beyond what Decimal can hold
        pass
    raise InvalidField(
        f"number ({shape(raw)}) is not a number: write digits with one decimal separator and optional "
        "thousands marks (1.234,56 or 1,234.56), a sign and a currency",
        "malformed",
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
        raise InvalidField(
            f"time ({shape(naive)}) does not exist in {zone.key}: the clocks were put forward then", "invalid"
        )
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
        raise InvalidField(f"time ({shape(value)}) is a truth value, not a time", "malformed")
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
            f"time ({shape(raw)}) is not ISO 8601, an epoch, dd.mm.yyyy or mm/dd/yyyy time in range{hint}",
            "malformed",
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
