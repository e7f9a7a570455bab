"""A multilingual data set of B2B customers in three source systems, with the true identity of every record.

About `count` real companies appear as ERP customers, CRM accounts and shop customers, as those systems deliver
them: e-mail case and spaces vary, tax numbers carry spaces, dots, lower case or lose their country prefix,
phones are national or international, names are written in Latin with diacritics, Chinese, Bengali or Arabic,
in NFC or NFD, with stray whitespace. Some true duplicates share only an e-mail, only a tax number, only the
ERP number an account keeps, or nothing a deterministic rule can see. Hard negatives are different companies
with the same or a similar name (some in the same postcode) sharing a free-mail domain, never an e-mail or a
tax number. About 1% of records carry an e-mail or a country that cleansing must refuse.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import phonenumbers
import pycountry

from tests.processors.company_profiles import (
    BROKEN_EMAILS,
    COUNTRIES,
    NO_COUNTRIES,
    Country,
    latin,
    native,
    slug,
)

ERP, CRM, SHOP = "erp.customers", "crm.Account", "shop.customers"
# Which systems a company appears in, and how often that happens.
PRESENCE: tuple[tuple[tuple[str, ...], int], ...] = (
    ((ERP,), 10),
    ((CRM,), 6),
    ((SHOP,), 6),
    ((ERP, CRM), 24),
    ((ERP, SHOP), 16),
    ((ERP, CRM, SHOP), 32),
    ((CRM, SHOP), 6),
)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class DataSet:
    """Source rows in arrival order, the true company of each, and the rows cleansing must refuse."""

    records: list[tuple[str, str, dict[str, Any]]]  # (source 'system.object', key, row) in arrival order
    truth: dict[str, str]  # xref -> true company id
    invalid: set[str]  # xrefs of rows that must fail cleansing


@dataclass(frozen=True)
class _Company:
    id: str
    country: Country
    name: str
    latin_name: str
    city: str
    postcode: str
    street: str
    vat_digits: str | None
    email: str
    domain: str | None  # the company's own mail domain (None: it uses a free-mail address)
    phone: phonenumbers.PhoneNumber
    parts: tuple[tuple[str, str], ...]  # template part -> word ("city", "brand", "trade", "legal")


@dataclass
class _Plan:
    """One source record of a company before its row is written."""

    time: float
    source: str
    company: _Company
    key: str = ""


def companies(seed: int = 2026, count: int = 1500) -> DataSet:
    """The data set for `count` companies; the same seed gives the same data set."""
    return _Generator(random.Random(seed)).build(count)


def pairwise(truth: Mapping[str, str], predicted: Mapping[str, str]) -> tuple[float, float]:
    """(precision, recall) over pairs of xrefs: predicted same golden id vs truly the same company.

    An xref missing from one mapping is alone there. With no pair on a side, that side's figure is 1.0.
    """
    refs = truth.keys() | predicted.keys()

    def pairs(groups: Counter[Any]) -> int:
        return sum(n * (n - 1) // 2 for n in groups.values())

    true_groups = Counter(truth.get(ref, ("alone", ref)) for ref in refs)
    predicted_groups = Counter(predicted.get(ref, ("alone", ref)) for ref in refs)
    both = Counter((truth.get(ref, ("alone", ref)), predicted.get(ref, ("alone", ref))) for ref in refs)
    true_pairs, predicted_pairs, agreed = pairs(true_groups), pairs(predicted_groups), pairs(both)
    precision = agreed / predicted_pairs if predicted_pairs else 1.0
    recall = agreed / true_pairs if true_pairs else 1.0
    return precision, recall


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.taken: set[str] = set()  # e-mails, domains and tax digits already given to a company

    def build(self, count: int) -> DataSet:
        rng = self.rng
        originals: list[_Company] = []
        plans: list[_Plan] = []
        for index in range(count):
            company_id = f"company-{index + 1:05d}"
            if originals and rng.random() < 0.08:
                company = self._twin(company_id, rng.choice(originals))
            else:
                company = self._company(company_id)
                originals.append(company)
            start = rng.uniform(0, 1_000_000)
            systems = rng.choices([p for p, _ in PRESENCE], [w for _, w in PRESENCE])[0]
            offsets = {ERP: (0, 1_000), CRM: (-300, 3_000), SHOP: (-2_000, 5_000)}
            for source in systems:
                copies = 2 if (source == ERP and rng.random() < 0.05) or (source == SHOP and rng.random() < 0.08) else 1
                plans += [_Plan(start + rng.uniform(*offsets[source]), source, company) for _ in range(copies)]
        plans.sort(key=lambda plan: plan.time)
        self._assign_keys(plans)
        erp_ids: dict[str, list[str]] = {}
        for plan in plans:
            if plan.source == ERP:
                erp_ids.setdefault(plan.company.id, []).append(plan.key)
        records: list[tuple[str, str, dict[str, Any]]] = []
        seen_shop: set[str] = set()
        for plan in plans:
            if plan.source == ERP:
                row = self._erp(plan.company, first=erp_ids[plan.company.id][0] == plan.key)
            elif plan.source == CRM:
                row = self._crm(plan.company, erp_ids.get(plan.company.id))
            else:
                row = self._shop(plan.company, plan.company.id in erp_ids, again=plan.company.id in seen_shop)
                seen_shop.add(plan.company.id)
            records.append((plan.source, plan.key, row))
        truth = {f"{plan.source}:{plan.key}": plan.company.id for plan in plans}
        referenced = {f"{ERP}:{row['ERP_Customer_Number__c']}" for s, _, row in records if s == CRM}
        invalid = self._break(records, referenced)
        return DataSet(records, truth, invalid)

    # --- companies ------------------------------------------------------------------------------------

    def _company(self, company_id: str) -> _Company:
        rng = self.rng
        country = rng.choices(COUNTRIES, [c.weight for c in COUNTRIES])[0]
        city, base = rng.choice(country.cities)
        parts = {"city": city, "brand": rng.choice(country.brands), "trade": rng.choice(country.trades)}
        parts["legal"] = rng.choice(country.legal)
        return self._named(company_id, country, parts, country.postcode(rng, base))

    def _twin(self, company_id: str, other: _Company) -> _Company:
        """A different company named like `other`: the same or a nearly the same name, often the same postcode."""
        rng, country = self.rng, other.country
        parts = dict(other.parts)
        if rng.random() < 0.5:
            field, choices = rng.choice((("trade", country.trades), ("legal", country.legal)))
            parts[field] = rng.choice(choices)
        if rng.random() < 0.6:
            return self._named(company_id, country, parts, other.postcode)
        city, base = rng.choice(country.cities)
        return self._named(company_id, country, {**parts, "city": city}, country.postcode(rng, base))

    def _named(self, company_id: str, country: Country, parts: dict[str, str], postcode: str) -> _Company:
        rng = self.rng
        name = country.template.format(**{k: native(v) for k, v in parts.items()})
        words = ([parts["city"]] if "{city}" in country.template else []) + [
            parts[k] for k in ("brand", "trade", "legal")
        ]
        latin_name = " ".join(latin(word) for word in words)
        vat_digits = self._vat_digits(country) if rng.random() < (0.9 if country.vat_prefix else 0.7) else None
        domain: str | None = None
        if rng.random() < 0.3:
            email = self._unique(f"{slug(parts['brand'])}.{slug(parts['trade'])}", f"@{rng.choice(country.free_mail)}")
        else:
            domain = self._unique(f"{slug(parts['brand'])}-{slug(parts['trade'])}", f".{country.tld}")
            email = f"{rng.choice(country.mailboxes)}@{domain}"
            self.taken.add(email)
        street = rng.choice(country.streets).format(n=rng.randint(1, 180))
        return _Company(
            company_id, country, name, latin_name, native(parts["city"]), postcode, street, vat_digits, email,
            domain, self._phone(country.code), tuple(parts.items()),
        )  # fmt: skip

    def _unique(self, stem: str, suffix: str) -> str:
        """stem + suffix, or stem + a number + suffix when that is taken already."""
        candidate, number = f"{stem}{suffix}", 1
        while candidate in self.taken:
            number += 1
            candidate = f"{stem}{number}{suffix}"
        self.taken.add(candidate)
        return candidate

    def _vat_digits(self, country: Country) -> str:
        """Digits no other company's tax number has (with or without any prefix)."""
        while True:
            digits = str(self.rng.randint(1, 9)) + "".join(
                str(self.rng.randint(0, 9)) for _ in range(country.vat_digits - 1)
            )
            if digits not in self.taken:
                self.taken.add(digits)
                return digits

    def _phone(self, region: str) -> phonenumbers.PhoneNumber:
        example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.FIXED_LINE)
        assert example is not None, f"phonenumbers has no fixed-line example for {region}"
        digits = str(example.national_number)
        for _ in range(50):
            tail = "".join(str(self.rng.randint(0, 9)) for _ in range(min(5, len(digits) - 2)))
            number = phonenumbers.PhoneNumber(example.country_code, int(digits[: len(digits) - len(tail)] + tail))
            if phonenumbers.is_valid_number(number):
                return number
        return example

    # --- rows as each system delivers them ------------------------------------------------------------

    def _erp(self, company: _Company, first: bool) -> dict[str, Any]:
        rng, country = self.rng, company.country
        email = company.email if first or company.vat_digits is None else self._personal(company)
        return {
            "full_name": self._noisy(company.name),
            "email": self._cased(email) if rng.random() < 0.2 else email,
            "phone": self._formatted(company.phone, national=rng.random() < 0.7),
            "country_code": country.code if rng.random() < 0.85 else rng.choice(country.names[1:]),
            "vat_id": self._vat(company, prefix=True) if company.vat_digits else None,
            "street": self._noisy(self._street(company.street)),
            "postcode": company.postcode,
            "city": company.city,
        }

    def _crm(self, company: _Company, erp_ids: list[str] | None) -> dict[str, Any]:
        rng, country = self.rng, company.country
        name = company.latin_name if not company.name.isascii() and rng.random() < 0.3 else company.name
        vat = None
        if company.vat_digits and rng.random() < 0.7:
            vat = self._vat(company, prefix=not country.vat_prefix or rng.random() < 0.8)
        return {
            "Name": self._noisy(name),
            "Phone": self._formatted(company.phone, national=rng.random() < 0.2),
            "BillingStreet": self._noisy(company.street),
            "BillingPostalCode": self._postcode_variant(company),
            "BillingCity": company.city,
            "BillingCountry": rng.choice(country.names[1:]) if rng.random() < 0.9 else country.code,
            "VAT_Number__c": vat,
            "ERP_Customer_Number__c": erp_ids[0] if erp_ids and rng.random() < 0.5 else None,
        }

    def _shop(self, company: _Company, in_erp: bool, again: bool) -> dict[str, Any]:
        rng, country = self.rng, company.country
        iso_country = pycountry.countries.get(alpha_2=country.code)
        assert iso_country is not None, f"no ISO country {country.code}"
        given, family = rng.choice(country.given), rng.choice(country.brands)
        if again or (in_erp and rng.random() < 0.6):
            email = self._cased(company.email) if rng.random() < 0.5 else company.email
        else:
            email = self._personal(company, given, family)
        company_name = company.latin_name if not company.name.isascii() and rng.random() < 0.2 else company.name
        return {
            "email": email,
            "first_name": native(given).split()[-1] if country.code != "CN" else native(given)[1:],
            "last_name": native(family).split()[-1] if country.code != "CN" else native(given)[0],
            "phone": self._formatted(company.phone, national=rng.random() < 0.3),
            "default_address": {
                "company": self._noisy(company_name),
                "address1": self._noisy(company.street),
                "zip": self._postcode_variant(company),
                "city": company.city,
                "country": iso_country.name,
                "country_code": country.code,
            },
        }

    def _personal(self, company: _Company, given: str | None = None, family: str | None = None) -> str:
        """A person's own address nobody else has, at the company's domain or a free-mail domain."""
        rng, country = self.rng, company.country
        given, family = given or rng.choice(country.given), family or rng.choice(country.brands)
        domain = company.domain if company.domain and rng.random() < 0.5 else rng.choice(country.free_mail)
        return self._unique(f"{slug(given)}.{slug(family)}", f"@{domain}")

    def _vat(self, company: _Company, prefix: bool) -> str:
        """The tax number as a person typed it: its normalised form is the canonical one unless `prefix` is False."""
        rng, digits, code = self.rng, company.vat_digits or "", company.country.vat_prefix
        groups = " ".join(digits[i : i + 3] for i in range(0, len(digits), 3))
        written = rng.choice((digits, digits, groups, groups.replace(" ", "."), groups.replace(" ", "-")))
        if not prefix:
            return written
        head = code if rng.random() < 0.8 else code.lower()
        return f"{' ' if rng.random() < 0.1 else ''}{head}{rng.choice(('', '', ' ', '-'))}{written}"

    def _noisy(self, value: str) -> str:
        """Text as systems store it: sometimes decomposed (NFD), with doubled or surrounding spaces."""
        rng = self.rng
        if not value.isascii() and rng.random() < 0.25:
            value = unicodedata.normalize("NFD", value)
        if " " in value and rng.random() < 0.1:
            value = value.replace(" ", "  ", 1)
        if rng.random() < 0.08:
            value = f" {value} "
        return value

    def _cased(self, email: str) -> str:
        """The same address with other letter case and sometimes surrounding spaces."""
        local, _, domain = email.partition("@")
        cased = self.rng.choice((email.upper(), f"{local.title()}@{domain.upper()}", email.title()))
        return f" {cased} " if self.rng.random() < 0.3 else cased

    def _formatted(self, phone: phonenumbers.PhoneNumber, national: bool) -> str:
        if national:
            return phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.NATIONAL)
        formats = (phonenumbers.PhoneNumberFormat.INTERNATIONAL, phonenumbers.PhoneNumberFormat.E164)
        written = phonenumbers.format_number(phone, self.rng.choice(formats))
        return "00" + written[1:] if self.rng.random() < 0.15 else written

    def _street(self, street: str) -> str:
        for long, short in (
            ("straße", "str."),
            ("Straße", "Str."),
            ("Via ", "V. "),
            ("Avenida", "Avda."),
            ("Road", "Rd"),
        ):
            if long in street and self.rng.random() < 0.4:
                return street.replace(long, short)
        return street

    def _postcode_variant(self, company: _Company) -> str:
        postcode, rng = company.postcode, self.rng
        if " " in postcode and rng.random() < 0.4:
            return postcode.replace(" ", "") if company.country.code == "CZ" else postcode.lower()
        return postcode

    # --- keys and broken rows -------------------------------------------------------------------------

    def _assign_keys(self, plans: list[_Plan]) -> None:
        """Keys in each system's style, increasing with arrival: ERP numbers, Salesforce ids, Shopify ids."""
        rng = self.rng
        erp, crm, shop = 100_000, rng.randint(10**6, 10**7), 7_412_356_000_000
        for plan in plans:
            if plan.source == ERP:
                erp += rng.randint(1, 12)
                plan.key = str(erp)
            elif plan.source == CRM:
                crm += rng.randint(1, 5_000)
                plan.key = _salesforce_id(crm)
            else:
                shop += rng.randint(1, 90_000_000)
                plan.key = str(shop)

    def _break(self, records: list[tuple[str, str, dict[str, Any]]], referenced: set[str]) -> set[str]:
        """Give about 1% of the rows (never an ERP row an account names) an e-mail or a country that is none."""
        candidates = [i for i, (source, key, _) in enumerate(records) if f"{source}:{key}" not in referenced]
        chosen = self.rng.sample(candidates, max(1, round(len(records) / 100)))
        for index in chosen:
            source, _, row = records[index]
            bad_email = self.rng.random() < 0.5
            if source == ERP:
                row["email" if bad_email else "country_code"] = self.rng.choice(
                    BROKEN_EMAILS if bad_email else NO_COUNTRIES
                )
            elif source == CRM:
                row["BillingCountry"] = self.rng.choice(NO_COUNTRIES)
            elif bad_email:
                row["email"] = self.rng.choice(BROKEN_EMAILS)
            else:
                row["default_address"]["country_code"] = self.rng.choice(("XX", "ZZ"))
        return {f"{records[i][0]}:{records[i][1]}" for i in chosen}


def _salesforce_id(number: int) -> str:
    """An 18-character Account id: '001', pod, counter in base 62, and the case-checksum Salesforce appends."""
    digits = ""
    while number:
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    short = "0015g" + digits.rjust(10, "0")
    suffix = ""
    for chunk in range(3):
        bits = sum(1 << i for i, char in enumerate(short[chunk * 5 : chunk * 5 + 5]) if char.isupper())
        suffix += "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"[bits]
    return short + suffix
