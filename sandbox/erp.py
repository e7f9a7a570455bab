"""A sample in-house ERP on real PostgreSQL: its customers table, sample rows and a stream of changes.

The materials, sales orders and stock tables of the same ERP are in sandbox/erp_orders.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

import phonenumbers
import psycopg
from psycopg import sql

from sandbox import erp_orders

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    id bigserial PRIMARY KEY,
    full_name text NOT NULL,
    email text,
    phone text,
    country_code text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE customers ADD COLUMN IF NOT EXISTS vat_id text;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS street text;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS postcode text;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS city text;
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
COUNTRY_CODES = {"Italy": "IT", "DEU": "DE", "Bangladesh": "BD"}
"""The ISO code of each country name or alpha-3 code the ERP's country_code column holds besides ISO codes."""
# ISO country -> (streets, [(postcode, city)]) written the way the country writes them.
_PLACES: dict[str, tuple[list[str], list[tuple[str, str]]]] = {
    "DE": (["Hauptstraße", "Schillerstraße", "Am Sandtorkai"], [("20095", "Hamburg"), ("80331", "München")]),
    "IT": (["Via Roma", "Corso Buenos Aires", "Via Garibaldi"], [("20121", "Milano"), ("00184", "Roma")]),
    "FR": (["Rue de Rivoli", "Avenue Jean Jaurès"], [("75001", "Paris"), ("69002", "Lyon")]),
    "ES": (["Calle Mayor", "Carrer de Mallorca", "Avenida de la Constitución"], [("28013", "Madrid")]),
    "BD": (["সাত মসজিদ রোড", "মিরপুর রোড"], [("1209", "ঢাকা"), ("4000", "চট্টগ্রাম")]),
    "CN": (["人民路", "南京东路", "长安街"], [("200001", "上海"), ("100006", "北京")]),
    "TW": (["中山北路", "忠孝東路"], [("100", "臺北市"), ("400", "臺中市")]),
}


@dataclass(frozen=True)
class Customer:
    """One ERP customer row (without its id)."""

    full_name: str
    email: str | None
    phone: str | None
    country_code: str | None
    vat_id: str | None = None
    street: str | None = None
    postcode: str | None = None
    city: str | None = None


class SampleData:
    """Deterministic sample customers in several scripts; every `invalid_every`-th has a broken e-mail.

    Addresses and VAT ids come from a second generator, so the names, e-mails and phones of a seed stay
    what they were before customers had addresses.
    """

    def __init__(self, seed: int = 7, invalid_every: int = 250) -> None:
        self.rng = random.Random(seed)
        self.places = random.Random(seed * 7919 + 1)
        self.invalid_every = invalid_every
        self.made = 0

    def customer(self) -> Customer:
        self.made += 1
        script = self.rng.choice(["latin", "latin", "bengali", "chinese"])
        first, last = {"latin": _LATIN, "bengali": _BENGALI, "chinese": _CHINESE}[script]
        given, family = self.rng.choice(first), self.rng.choice(last)
        name = f"{family}{given}" if script == "chinese" else f" {given}  {family} "
        country = self.rng.choice(_COUNTRIES[script])
        code = COUNTRY_CODES.get(country, country)
        phone = self.phone(code)
        email = f"customer{self.made}.{self.rng.randrange(10**6)}@Example.COM"
        if self.made % self.invalid_every == 0:
            email = f"customer{self.made}@"
        street, postcode, city = self.address(code)
        return Customer(name, email, phone, country, self.vat_id(code), street, postcode, city)

    def address(self, region: str) -> tuple[str, str, str]:
        """(street with house number, postcode, city) of a place in the region."""
        streets, towns = _PLACES[region]
        street, number = self.places.choice(streets), self.places.randint(1, 180)
        postcode, city = self.places.choice(towns)
        if region in ("CN", "TW"):
            return f"{street}{number}号", postcode, city
        return (f"{number} {street}" if region == "FR" else f"{street} {number}"), postcode, city

    def vat_id(self, region: str) -> str | None:
        """A VAT number as the country writes it (EU: country prefix, e.g. DE 123 456 789), or None for some."""
        if self.places.random() < 0.2:
            return None
        digits = {"DE": 9, "IT": 11, "FR": 11, "ES": 9, "BD": 13, "CN": 18, "TW": 8}[region]
        number = "".join(str(self.places.randrange(10)) for _ in range(digits))
        return f"{region}{number}" if region in ("DE", "IT", "FR", "ES") else number

    def phone(self, region: str) -> str:
        """A valid number of the region, written the way people type it (international format, spaces)."""
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
        assert example is not None, f"phonenumbers has no fixed-line example for {region}"
        while True:
            digits = phonenumbers.national_significant_number(example)[:-4] + f"{self.rng.randrange(10**4):04d}"
            number = phonenumbers.parse(f"+{example.country_code}{digits}")
            if phonenumbers.is_valid_number(number):
                return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)

    def customers(self, count: int) -> Iterator[Customer]:
        for _ in range(count):
            yield self.customer()


def create_database(admin_dsn: str, dbname: str) -> None:
    """Create the ERP database (if missing)."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))


def create_schema(dsn: str) -> None:
    """The ERP's tables, with full row images in the WAL so updates and deletes carry their old values."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        erp_orders.create_schema(conn)


def insert(conn: psycopg.Connection, customers: list[Customer]) -> list[int]:
    """Insert customers in one transaction; return their ids."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO customers (full_name, email, phone, country_code, vat_id, street, postcode, city) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            [
                (c.full_name, c.email, c.phone, c.country_code, c.vat_id, c.street, c.postcode, c.city)
                for c in customers
            ],
            returning=True,
        )
        ids = []
        while True:
            row = cursor.fetchone()
            assert row is not None, "each INSERT ... RETURNING id returns its row"
            ids.append(row[0])
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
        target = self._valid_id(kind == "delete") if kind != "insert" else None
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

    def _valid_id(self, deletable: bool) -> int | None:
        """A customer with a valid e-mail; to delete, one without sales orders (the ERP keeps those)."""
        orderless = " AND NOT EXISTS (SELECT 1 FROM sales_orders o WHERE o.customer_id = c.id)" if deletable else ""
        row = self.conn.execute(
            f"SELECT id FROM customers c WHERE email NOT LIKE '%%@'{orderless} ORDER BY random() LIMIT 1"
        ).fetchone()
        return row[0] if row else None
