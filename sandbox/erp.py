"""A sample in-house ERP on real PostgreSQL: its customers table, sample rows and a stream of changes."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
import psycopg
from psycopg import sql

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id bigserial PRIMARY KEY,
    full_name text NOT NULL,
    email text,
    phone text,
    country_code text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE customers REPLICA IDENTITY FULL;
"""

_LATIN = (
    ["Ada", "Luca", "Giulia", "Marta", "Jonas", "Chiara", "Pierre", "Inés"],
    ["Lovelace", "Rossi", "Bianchi", "Müller", "Dubois", "García", "Esposito", "Novák"],
)
_BENGALI = (["রবীন্দ্রনাথ", "সুমিতা", "আরিফ", "তানিয়া", "নাসরিন"], ["ঠাকুর", "রহমান", "চৌধুরী", "হোসেন", "দাস"])
_CHINESE = (["小明", "丽", "伟", "芳", "静"], ["王", "李", "张", "刘", "陈"])
_COUNTRIES = {
    "latin": ["IT", "DE", "FR", "ES", "Italy", "DEU"],
    "bengali": ["BD", "Bangladesh"],
    "chinese": ["CN", "TW"],
}
_COUNTRY_CODE = {"Italy": "IT", "DEU": "DE", "Bangladesh": "BD"}


@dataclass(frozen=True)
class Customer:
    """One ERP customer row (without its id)."""

    full_name: str
    email: str | None
    phone: str | None
    country_code: str | None


class SampleData:
    """Deterministic sample customers in several scripts; every `invalid_every`-th has a broken e-mail."""

    def __init__(self, seed: int = 7, invalid_every: int = 250) -> None:
        self.rng = random.Random(seed)
        self.invalid_every = invalid_every
        self.made = 0

    def customer(self) -> Customer:
        self.made += 1
        script = self.rng.choice(["latin", "latin", "bengali", "chinese"])
        first, last = {"latin": _LATIN, "bengali": _BENGALI, "chinese": _CHINESE}[script]
        given, family = self.rng.choice(first), self.rng.choice(last)
        name = f"{family}{given}" if script == "chinese" else f" {given}  {family} "
        country = self.rng.choice(_COUNTRIES[script])
        code = _COUNTRY_CODE.get(country, country)
        phone = self.phone(code)
        email = f"customer{self.made}.{self.rng.randrange(10**6)}@Example.COM"
        if self.made % self.invalid_every == 0:
            email = f"customer{self.made}@"
        return Customer(name, email, phone, country)

    def phone(self, region: str) -> str:
        """A valid number of the region, written the way people type it (international format, spaces)."""
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
        while True:
            digits = phonenumbers.national_significant_number(example)[:-4] + f"{self.rng.randrange(10**4):04d}"
            number = phonenumbers.parse(f"+{example.country_code}{digits}")
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    def customers(self, count: int) -> Iterator[Customer]:
        for _ in range(count):
            yield self.customer()


def create_database(admin_dsn: str, dbname: str) -> None:
    """Create the ERP database (if missing) with its customers table."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def create_schema(dsn: str) -> None:
    """The customers table, with full row images in the WAL so updates and deletes carry their old values."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)


def insert(conn: psycopg.Connection, customers: list[Customer]) -> list[int]:
    """Insert customers in one transaction; return their ids."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO customers (full_name, email, phone, country_code) VALUES (%s, %s, %s, %s) RETURNING id",
            [(c.full_name, c.email, c.phone, c.country_code) for c in customers],
            returning=True,
        )
        ids = []
        while True:
            ids.append(cursor.fetchone()[0])
            if not cursor.nextset():
                break
        return ids


class ChangeStream:
    """Applies a random mix of inserts, updates and deletes, one transaction each, with valid data only."""

    def __init__(self, conn: psycopg.Connection, data: SampleData) -> None:
        if not conn.autocommit:
            raise ValueError("ChangeStream commits each change on its own: open the connection with autocommit=True")
        self.conn = conn
        self.data = data
        self.rng = data.rng
        self.counts = {"insert": 0, "update": 0, "delete": 0}

    def step(self) -> str:
        """Apply one change and return its kind."""
        kind = self.rng.choices(["insert", "update", "delete"], weights=[3, 6, 1])[0]
        target = self._valid_id() if kind != "insert" else None
        if target is None:
            kind = "insert"
        if kind == "insert":
            customer = self.data.customer()
            while customer.email and customer.email.endswith("@"):
                customer = self.data.customer()
            insert(self.conn, [customer])
        elif kind == "update":
            with self.conn.transaction():
                self.conn.execute(
                    "UPDATE customers SET email = %s, phone = %s, updated_at = now() WHERE id = %s",
                    (f"updated{self.rng.randrange(10**9)}@example.org", self.data.phone("DE"), target),
                )
        else:
            with self.conn.transaction():
                self.conn.execute("DELETE FROM customers WHERE id = %s", (target,))
        self.counts[kind] += 1
        return kind

    def _valid_id(self) -> int | None:
        row = self.conn.execute(
            "SELECT id FROM customers WHERE email NOT LIKE '%%@' ORDER BY random() LIMIT 1"
        ).fetchone()
        return row[0] if row else None
