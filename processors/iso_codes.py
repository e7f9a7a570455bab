"""ISO codes from what people write: countries (ISO 3166-1) and currencies (ISO 4217), in many languages."""

from __future__ import annotations

import gettext
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from functools import cache, lru_cache

import pycountry

from processors.normalise import InvalidField, text
from seamline.shapes import shape

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
_SYMBOLS = {symbol.upper(): code for symbol, code in CURRENCY_SYMBOLS.items()}
_AMBIGUOUS = {symbol.upper(): codes for symbol, codes in AMBIGUOUS_CURRENCY_SYMBOLS.items()}
# Sources write a handful of countries and currencies over and over; the names are no personal data.
_NAMES_CACHED = 4096

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
        raise InvalidField(
            f"{kind} ({shape(raw)}) is ambiguous: it names {', '.join(sorted(codes))}; write the code", "ambiguous"
        )
    if not codes:
        raise InvalidField(f"{kind} ({shape(raw)}) is not {hint}", "unknown")
    return next(iter(codes))


@lru_cache(maxsize=_NAMES_CACHED)
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


@lru_cache(maxsize=_NAMES_CACHED)
def currency(value: str | None) -> str | None:
    """ISO 4217 code from a code (alphabetic or numeric), a currency name in any language pycountry translates,
    or an unambiguous symbol (CURRENCY_SYMBOLS; ¥ is JPY). "$" and "kr" are refused as ambiguous."""
    raw = text(value)
    if raw is None:
        return None
    compact = "".join(raw.split()).upper()
    if compact in _SYMBOLS:
        return _SYMBOLS[compact]
    if compact in _AMBIGUOUS:
        raise InvalidField(
            f"currency ({shape(raw)}) is a symbol of {_AMBIGUOUS[compact]}: write the ISO 4217 code", "ambiguous"
        )
    if raw.isascii() and raw.isdigit():
        found = pycountry.currencies.get(numeric=raw.zfill(3))
    else:
        found = pycountry.currencies.get(alpha_3=compact) if len(compact) == 3 else None
    if found is not None:
        return str(found.alpha_3)
    return _by_name("currency", raw, _currency_index(), "an ISO 4217 code, currency name or symbol")
