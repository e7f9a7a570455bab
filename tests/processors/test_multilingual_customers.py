"""Customers of six countries, each written by a CRM, an ERP and a shop the way people there write them: every row
is read in its own country, none is refused, each person is one golden record, and names stay as written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.processors.resolving import Harness

PROCESSOR: dict[str, Any] = {
    "mappings": [
        {
            "source": "erp.customers",
            "entity": "customer",
            "fields": {
                "name": "full_name",
                "email": "email",
                "phone": "phone",
                "country": "country",
                "postcode": "plz",
            },
        },
        {
            "source": "crm.Account",
            "entity": "customer",
            "fields": {"name": "Name", "email": "Email__c", "phone": "Phone", "country": "BillingCountry"},
        },
        {
            "source": "shop.customers",
            "entity": "customer",
            "fields": {
                "name": {"concat": ["first_name", "last_name"]},
                "email": "email",
                "phone": "phone",
                "country": "country_code",
            },
        },
    ],
    "identity": {"customer": {"match": ["email"], "priority": ["erp", "crm", "shop"]}},
}
"""Every mapping keeps the default default_region (US): the rows' own countries must decide."""


@dataclass(frozen=True)
class Person:
    """One customer as each system holds them, and the golden record expected."""

    name: str  # as the ERP writes it: the golden name
    email: str
    erp: tuple[str, str, str]  # phone, country, postcode as written
    crm: tuple[str, str]  # phone, country
    shop: tuple[str, str, str, str]  # first name, last name, phone, country code
    expected: tuple[str, str, str]  # phone E.164, country, postcode


PEOPLE = [
    Person(
        "রহিম উদ্দিন",
        "rahim.uddin@example.com.bd",
        ("01811223344", "Bangladesh", "1212"),
        ("880-1811-223344", "বাংলাদেশ"),
        ("Rahim", "Uddin", "+880 1811-223344", "BD"),
        ("+8801811223344", "BD", "1212"),
    ),
    Person(
        "করিম আহমেদ",
        "karim@example.com.bd",
        ("01712-345678", "BGD", "1000"),
        ("00880 1712 345678", "Bangladesh"),
        ("Karim", "Ahmed", "8801712345678", "bd"),
        ("+8801712345678", "BD", "1000"),
    ),
    Person(
        "王小明",
        "xiaoming.wang@example.cn",
        ("13800138000", "中国", "100000"),
        ("+86 138 0013 8000", "China"),
        ("Xiaoming", "Wang", "0086 138 0013 8000", "CN"),
        ("+8613800138000", "CN", "100000"),
    ),
    Person(
        "陈静",
        "chen.jing@example.cn",
        ("010-6552 9988", "中國", "100020"),
        ("86 10 6552 9988", "People's Republic of China"),
        ("Jing", "Chen", "(010) 65529988", "CN"),
        ("+861065529988", "CN", "100020"),
    ),
    Person(
        "Nicolò Rossi",
        "nicolo.rossi@example.it",
        ("347 1234567", "Italia", "184"),
        ("0039 347 123 4567", "Italy"),
        ("Nicolò", "Rossi", "+39 347 1234567", "IT"),
        ("+393471234567", "IT", "00184"),
    ),
    Person(
        "Giulia Bianchi",
        "g.bianchi@example.it",
        ("02 1234 5678", "Italien", "20121"),
        ("0039 02 1234 5678", "ITA"),
        ("Giulia", "Bianchi", "+390212345678", "it"),
        ("+390212345678", "IT", "20121"),
    ),
    Person(
        "Jürgen Müller",
        "juergen.mueller@example.de",
        ("030 1234567", "Deutschland", "10115"),
        ("+49 (0)30 1234567", "Germany"),
        ("Jürgen", "Müller", "0049 30 1234567", "DE"),
        ("+49301234567", "DE", "10115"),
    ),
    Person(
        "Heike Groß",
        "heike.gross@example.de",
        ("0151 23456789", "Deutschland", "1067"),
        ("+49 151 23456789", "Allemagne"),
        ("Heike", "Groß", "0049151/23456789", "DE"),
        ("+4915123456789", "DE", "01067"),
    ),
    Person(
        "José Pérez",
        "jose.perez@example.es",
        ("612 34 56 78", "España", "8001"),
        ("+34 612 345 678", "Spain"),
        ("José", "Pérez", "0034612345678", "ES"),
        ("+34612345678", "ES", "08001"),
    ),
    Person(
        "María Fernández",
        "maria.fernandez@example.es",
        ("91 123 45 67", "Espagne", "28013"),
        ("0034 911 23 45 67", "ESP"),
        ("María", "Fernández", "(+34) 911 23 45 67", "ES"),
        ("+34911234567", "ES", "28013"),
    ),
    Person(
        "Mary-Jane O'Neil",
        "mj.oneil@example.com",
        ("(212) 555-0147", "United States", "2134"),
        ("+1 212-555-0147", "USA"),
        ("Mary-Jane", "O'Neil", "1-212-555-0147", "US"),
        ("+12125550147", "US", "02134"),
    ),
    Person(
        "Tom Smith",
        "tom.smith@example.com",
        ("415.555.2671", "Vereinigte Staaten", "94103"),
        ("+1 (415) 555-2671", "United States of America"),
        ("Tom", "Smith", "001 415 555 2671", "US"),
        ("+14155552671", "US", "94103"),
    ),
]


def rows(person: Person, index: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The person's three rows; e-mails and names written a little differently by each system."""
    phone, country, postcode = person.erp
    erp = {"full_name": f"  {person.name.replace(' ', '  ')} ", "email": person.email, "phone": phone}
    erp |= {"country": country, "plz": postcode}
    crm = {"Name": person.name.upper(), "Email__c": person.email.upper(), "Phone": person.crm[0]}
    crm |= {"BillingCountry": person.crm[1]}
    first, last, shop_phone, code = person.shop
    shop = {"first_name": first, "last_name": last, "email": f" {person.email} ", "phone": shop_phone}
    shop |= {"country_code": code}
    return [
        ("shop.customers", f"s{index}", shop),
        ("crm.Account", f"c{index}", crm),
        ("erp.customers", f"{index}", erp),
    ]


@pytest.fixture(scope="module")
def harness() -> Harness:
    resolved = Harness(PROCESSOR)
    for index, person in enumerate(PEOPLE):
        for source, key, row in rows(person, index):
            resolved.change(source, key, row)  # InvalidRecord here would be a refused customer
    return resolved


def test_no_row_is_refused_or_loses_a_field(harness: Harness) -> None:
    assert harness.issues == []
    assert len(harness.tables.links) == 3 * len(PEOPLE)  # type: ignore[arg-type]


@pytest.mark.parametrize("person", PEOPLE, ids=[person.email for person in PEOPLE])
def test_each_person_is_one_golden_record_read_in_their_country(harness: Harness, person: Person) -> None:
    (record,) = [record for record in harness.live("customer") if record["email"] == person.email]
    assert sorted(record["xrefs"]) == ["crm", "erp", "shop"]
    assert (record["phone"], record["country"], record["postcode"]) == person.expected


@pytest.mark.parametrize("person", PEOPLE, ids=[person.email for person in PEOPLE])
def test_the_name_stays_as_the_most_trusted_system_wrote_it(harness: Harness, person: Person) -> None:
    (record,) = [record for record in harness.live("customer") if record["email"] == person.email]
    assert record["name"] == person.name  # script, accents and case kept; only spaces trimmed and collapsed


def test_there_are_as_many_golden_records_as_people(harness: Harness) -> None:
    assert len(harness.live("customer")) == len(PEOPLE)
