"""The company data set: deterministic, sized as promised, multilingual, and with every class of duplicate."""

from __future__ import annotations

import unicodedata
from collections import Counter
from itertools import combinations
from typing import Any

import pytest

from processors.iso_codes import country
from processors.normalise import InvalidField, email, tax_id
from tests.processors.companies import CRM, ERP, SHOP, DataSet, companies, pairwise

RULES = ("email", "vat", "erp_number")


@pytest.fixture(scope="module")
def data() -> DataSet:
    return companies()


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data(data: DataSet) -> None:
    assert companies() == data
    assert companies(seed=7, count=200) == companies(seed=7, count=200)
    assert companies(seed=8, count=200).records != companies(seed=7, count=200).records


def test_sizes_and_keys(data: DataSet) -> None:
    assert len(set(data.truth.values())) == 1500
    assert 3000 <= len(data.records) <= 3500
    assert set(data.truth) == {f"{source}:{key}" for source, key, _ in data.records}
    assert 0.008 <= len(data.invalid) / len(data.records) <= 0.012
    assert data.invalid <= set(data.truth)
    keys = {source: [key for s, key, _ in data.records if s == source] for source in (ERP, CRM, SHOP)}
    assert all(key.isdigit() for key in keys[ERP])
    assert all(len(key) == 18 and key.startswith("001") for key in keys[CRM])
    assert all(len(key) == 13 and key.isdigit() for key in keys[SHOP])
    assert all(len(set(found)) == len(found) for found in keys.values())


@pytest.mark.parametrize(
    ("truth", "predicted", "expected"),
    [
        ({"a": "1", "b": "1", "c": "2"}, {"a": "x", "b": "x", "c": "y"}, (1.0, 1.0)),  # perfect
        ({"a": "1", "b": "1", "c": "2"}, {"a": "x", "b": "x", "c": "x"}, (1 / 3, 1.0)),  # over-merged
        ({"a": "1", "b": "1", "c": "1", "d": "2"}, {"a": "x", "b": "x", "c": "y", "d": "z"}, (1.0, 1 / 3)),  # split
        ({"a": "1", "b": "1"}, {"a": "x"}, (1.0, 0.0)),  # an xref the prediction lacks is alone
        ({}, {}, (1.0, 1.0)),  # empty
        ({"a": "1", "b": "2"}, {"a": "x", "b": "y"}, (1.0, 1.0)),  # no pairs on either side
    ],
)
def test_pairwise(truth: dict[str, str], predicted: dict[str, str], expected: tuple[float, float]) -> None:
    assert pairwise(truth, predicted) == pytest.approx(expected)


def test_pairwise_agrees_with_counting_every_pair(data: DataSet) -> None:
    refs = sorted(ref for ref, company in data.truth.items() if company <= "company-00150")
    predicted = {ref: data.truth[ref] if i % 7 else "one" for i, ref in enumerate(refs)}
    truth = {ref: data.truth[ref] for ref in refs}
    pairs = list(combinations(refs, 2))
    said = {p for p in pairs if predicted[p[0]] == predicted[p[1]]}
    true = {p for p in pairs if truth[p[0]] == truth[p[1]]}
    assert pairwise(truth, predicted) == pytest.approx((len(said & true) / len(said), len(said & true) / len(true)))


def test_every_script_and_spelling_occurs(data: DataSet) -> None:
    names = [row.get("full_name") or row.get("Name") or row["default_address"]["company"] for _, _, row in data.records]
    scripts = Counter(_script(name) for name in names)
    assert {"LATIN DIACRITICS", "CJK", "BENGALI", "ARABIC"} <= {s for s, n in scripts.items() if n >= 20}, scripts
    written = unicodedata.normalize("NFC", "".join(names))
    assert all(char in written for char in "äöüßèéòâáñíčřýžů"), "German, Italian, Spanish, French, Czech letters"
    assert sum(unicodedata.is_normalized("NFC", n) is False for n in names) >= 50, "NFD spellings"
    assert sum(n != " ".join(n.split()) for n in names) >= 50, "extra whitespace"
    countries = {row["BillingCountry"] for source, _, row in data.records if source == CRM}
    assert {"Italia", "Deutschland", "中国", "বাংলাদেশ", "España", "Österreich", "France", "United Kingdom"} <= countries
    erp_countries = Counter(len(row["country_code"]) == 2 for source, _, row in data.records if source == ERP)
    assert erp_countries[True] > 5 * erp_countries[False] > 0, "the ERP keeps codes, some rows hold names"
    phones: list[str] = [row.get("phone") or row["Phone"] for _, _, row in data.records]
    assert sum(p.startswith("+") for p in phones) >= 300 and sum(p.startswith("0") for p in phones) >= 300


def test_valid_rows_clean_and_invalid_rows_fail(data: DataSet) -> None:
    for source, key, row in data.records:
        xref = f"{source}:{key}"
        assert (_problem(source, row) is not None) == (xref in data.invalid), xref


def test_different_companies_share_no_email_or_tax_number_but_look_alike(data: DataSet) -> None:
    owners: dict[tuple[str, str], set[str]] = {}
    for source, key, row in data.records:
        if f"{source}:{key}" in data.invalid:
            continue
        for rule, value in _values(source, row).items():
            if rule != "erp_number":
                owners.setdefault((rule, value), set()).add(data.truth[f"{source}:{key}"])
    assert all(len(found) == 1 for found in owners.values())
    by_name_postcode: dict[tuple[str, str], set[str]] = {}
    for source, key, row in data.records:
        if source == ERP:
            name = " ".join(unicodedata.normalize("NFC", row["full_name"]).split())
            by_name_postcode.setdefault((name, row["postcode"]), set()).add(data.truth[f"{source}:{key}"])
    assert sum(len(found) > 1 for found in by_name_postcode.values()) >= 10, "same name, same postcode"
    domains = Counter(
        email(row["email"]).split("@")[1]  # type: ignore[union-attr]
        for source, key, row in data.records
        if source == ERP and f"{source}:{key}" not in data.invalid
    )
    assert domains["gmail.com"] >= 20


def test_each_rule_alone_links_some_duplicates_and_some_no_rule_can(data: DataSet) -> None:
    valid = [(source, key, row) for source, key, row in data.records if f"{source}:{key}" not in data.invalid]
    truth = {f"{source}:{key}": data.truth[f"{source}:{key}"] for source, key, _ in valid}
    reach = {rules: _reachable(valid, rules) for rules in [RULES, *combinations(RULES, 2)]}
    true_pairs = {pair for pair in combinations(sorted(truth), 2) if truth[pair[0]] == truth[pair[1]]}
    summary = {"true pairs": len(true_pairs), "reachable": len(true_pairs & reach[RULES])}
    for rule in RULES:
        without = next(rules for rules in reach if len(rules) == 2 and rule not in rules)
        summary[f"only by {rule}"] = len((true_pairs & reach[RULES]) - reach[without])
    summary["none"] = len(true_pairs - reach[RULES])
    print(f"\ntrue duplicate pairs reachable: {summary}")
    assert all(summary[f"only by {rule}"] >= 100 for rule in RULES), summary
    assert 0.1 <= summary["none"] / len(true_pairs) <= 0.45, summary
    assert not reach[RULES] - true_pairs, "the deterministic rules never link two different companies"


def _script(name: str) -> str:
    if any("CJK" in unicodedata.name(c, "") for c in name):
        return "CJK"
    for script in ("BENGALI", "ARABIC"):
        if any(unicodedata.name(c, "").startswith(script) for c in name):
            return script
    return "LATIN DIACRITICS" if not name.isascii() else "ASCII"


def _problem(source: str, row: dict[str, Any]) -> str | None:
    """What cleansing would refuse in the row's e-mail or country, as the processor's mappings read them."""
    where = row.get("default_address") or {}
    code = {ERP: row.get("country_code"), CRM: row.get("BillingCountry"), SHOP: where.get("country_code")}[source]
    try:
        email(row.get("email"))
        country(code)
        tax_id(row.get("vat_id") or row.get("VAT_Number__c"))
    except InvalidField as exc:
        return str(exc)
    return None


def _values(source: str, row: dict[str, Any]) -> dict[str, str]:
    """The normalised values each deterministic rule compares."""
    values = {"email": email(row.get("email")), "vat": tax_id(row.get("vat_id") or row.get("VAT_Number__c"))}
    values["erp_number"] = row["ERP_Customer_Number__c"] if source == CRM else None
    return {rule: value for rule, value in values.items() if value}


def _reachable(records: list[tuple[str, str, dict[str, Any]]], rules: tuple[str, ...]) -> set[tuple[str, str]]:
    """Pairs of xrefs linked, directly or through others, by equal values of the rules."""
    parent: dict[str, str] = {}

    def root(ref: str) -> str:
        while parent.setdefault(ref, ref) != ref:
            parent[ref] = parent[parent[ref]]
            ref = parent[ref]
        return ref

    first: dict[tuple[str, str], str] = {}
    for source, key, row in records:
        ref = f"{source}:{key}"
        root(ref)
        values = _values(source, row)
        if source == ERP:
            values["erp_number"] = key
        for rule in rules:
            if rule in values:
                other = first.setdefault((rule, values[rule]), ref)
                parent[root(ref)] = root(other)
    groups: dict[str, list[str]] = {}
    for ref in parent:
        groups.setdefault(root(ref), []).append(ref)
    return {pair for members in groups.values() for pair in combinations(sorted(members), 2)}
