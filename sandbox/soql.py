"""The SOQL subset the Salesforce simulation understands: SELECT fields FROM object [WHERE] [ORDER BY] [LIMIT].

WHERE takes comparisons (=, !=, <, <=, >, >=) of a field with a literal (quoted string, number, true,
false, null, date 2026-11-22, datetime 2026-11-22T04:05:06Z or with +hh:mm; optional milliseconds, the
yyyy-MM-ddTHH:mm:ss.SSSZ form the REST API documents for dateTime values), joined by AND / OR
and grouped with parentheses. Keywords and field names are case-insensitive, as in SOQL: the WHERE
predicate reads records keyed by lower-case field names.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:"
    r"(?P<string>'(?:[^'\\]|\\.)*')"
    r"|(?P<datetime>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?(?:Z|[+-]\d\d:\d\d))"
    r"|(?P<date>\d{4}-\d\d-\d\d)"
    r"|(?P<number>-?\d+(?:\.\d+)?)"
    r"|(?P<op><=|>=|!=|=|<|>)"
    r"|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)"
    r")"
)
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_KEYWORDS = {"SELECT", "FROM", "WHERE", "ORDER", "BY", "LIMIT", "AND", "OR", "ASC", "DESC"}

Record = Mapping[str, Any]
Condition = Callable[[Record], bool]


class SoqlError(ValueError):
    """A query outside the subset or malformed; the message reads like Salesforce's."""


@dataclass(frozen=True)
class Query:
    """A parsed query; `fields` and `order` as written, `where` a predicate over records."""

    fields: tuple[str, ...]
    object: str
    where: Condition
    where_fields: tuple[str, ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    limit: int | None


def parse_datetime(text: str) -> datetime:
    """A SOQL datetime literal or a Salesforce datetime value (…+0000) as an aware datetime."""
    return datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text.replace("Z", "+00:00")))


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens, at = [], 0
    text = text.strip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            raise SoqlError(f"unexpected token: '{text[at:].split()[0]}'")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        at = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.where_fields: list[str] = []

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def keyword(self, word: str) -> bool:
        kind, value = self.peek()
        if kind == "word" and value.upper() == word:
            self.at += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            raise SoqlError(f"unexpected token: '{self.peek()[1] or 'end of query'}', expected {word}")

    def name(self) -> str:
        kind, value = self.peek()
        if kind != "word" or value.upper() in _KEYWORDS:
            raise SoqlError(f"unexpected token: '{value or 'end of query'}'")
        self.at += 1
        return value

    def query(self) -> Query:
        self.expect_keyword("SELECT")
        fields = [self.name()]
        while self.peek() == ("punct", ","):
            self.at += 1
            fields.append(self.name())
        self.expect_keyword("FROM")
        obj = self.name()
        where: Condition = lambda _record: True  # noqa: E731 - no WHERE: every record
        if self.keyword("WHERE"):
            where = self.disjunction()
        order: list[tuple[str, bool]] = []
        if self.keyword("ORDER"):
            self.expect_keyword("BY")
            while True:
                field = self.name()
                descending = self.keyword("DESC")
                if not descending:
                    self.keyword("ASC")
                order.append((field, descending))
                if self.peek() != ("punct", ","):
                    break
                self.at += 1
        limit = None
        if self.keyword("LIMIT"):
            kind, value = self.peek()
            if kind != "number" or not value.isdigit():
                raise SoqlError(f"unexpected token: '{value or 'end of query'}', expected a LIMIT count")
            self.at += 1
            limit = int(value)
        if self.peek()[0] != "end":
            raise SoqlError(f"unexpected token: '{self.peek()[1]}'")
        return Query(tuple(fields), obj, where, tuple(self.where_fields), tuple(order), limit)

    def disjunction(self) -> Condition:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda record: any(part(record) for part in parts)

    def conjunction(self) -> Condition:
        parts = [self.comparison()]
        while self.keyword("AND"):
            parts.append(self.comparison())
        return parts[0] if len(parts) == 1 else lambda record: all(part(record) for part in parts)

    def comparison(self) -> Condition:
        if self.peek() == ("punct", "("):
            self.at += 1
            inner = self.disjunction()
            if self.peek() != ("punct", ")"):
                raise SoqlError(f"unexpected token: '{self.peek()[1] or 'end of query'}', expected ')'")
            self.at += 1
            return inner
        field = self.name()
        self.where_fields.append(field)
        kind, symbol = self.peek()
        if kind != "op":
            raise SoqlError(f"unexpected token: '{symbol or 'end of query'}', expected a comparison operator")
        self.at += 1
        value = self.literal()
        compare = _OPERATORS[symbol]

        def check(record: Record) -> bool:
            current = _comparable(record.get(field.lower()), value)
            if current is None or value is None:
                return compare(current is None, value is None) if symbol in ("=", "!=") else False
            return bool(compare(current, value))

        return check

    def literal(self) -> Any:
        kind, value = self.peek()
        self.at += 1
        if kind == "string":
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        if kind == "datetime":
            return parse_datetime(value)
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "word" and value.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[value.lower()]
        raise SoqlError(f"unexpected token: '{value or 'end of query'}', expected a literal value")


def _comparable(stored: Any, literal: Any) -> Any:
    """The stored JSON value in the literal's type (datetimes and dates are stored as text)."""
    if stored is None:
        return None
    if isinstance(literal, datetime):
        return parse_datetime(stored)
    if isinstance(literal, date):
        return date.fromisoformat(stored)
    return stored


def parse(text: str) -> Query:
    """The parsed query, or SoqlError naming the unexpected token."""
    return _Parser(text).query()
