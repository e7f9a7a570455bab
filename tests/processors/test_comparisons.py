"""Comparisons: values compared in their folded, transliterated form; agreement levels of exact and similar fields."""

from __future__ import annotations

import unicodedata

import pytest

from processors.comparisons import features, level, similarity
from seamline.match_config import Comparison

NAME = Comparison(field="name", kind="similar", levels=[95, 85, 70], m=[0.7, 0.1, 0.1, 0.1], u=[0.1, 0.1, 0.1, 0.7])
STREET = Comparison(field="street", kind="similar", levels=[95, 80], m=[0.8, 0.1, 0.1], u=[0.1, 0.1, 0.8])
PHONE = Comparison(field="phone", m=[0.9, 0.1], u=[0.01, 0.99], common=["+390212345678"])


def compare(comparison: Comparison, left: str | None, right: str | None) -> int | None:
    field = comparison.field
    return level(comparison, features({field: left}, [comparison]), features({field: right}, [comparison]))


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Müller Logistik GmbH", "MULLER LOGISTIK GMBH"),
        ("王小明科技有限公司", "Wang Xiao Ming Ke Ji You Xian Gong Si"),
        ("Nicolò Rossi S.r.l.", unicodedata.normalize("NFD", "  Nicolò  Rossi S.r.l. ")),
        ("রহিম টেক্সটাইল", unicodedata.normalize("NFD", "রহিম টেক্সটাইল")),
    ],
)
def test_names_written_in_other_scripts_cases_or_forms_agree_fully(left: str, right: str) -> None:
    assert compare(NAME, left, right) == 0


def test_similar_names_take_the_level_of_their_similarity() -> None:
    assert similarity("rossi costruzioni srl", "rossi costruzioni spa") < 95
    assert compare(NAME, "Rossi Costruzioni S.r.l.", "Rossi Costruzioni S.p.A.") in (1, 2)
    assert compare(NAME, "Rossi Costruzioni", "Bianchi Alimentari") == 3


def test_addresses_with_other_house_numbers_disagree_however_alike_they_read() -> None:
    assert compare(STREET, "Via Roma 12", "Via Roma 45") == 2
    assert compare(STREET, "V. Roma 12", "Via Roma 12") in (0, 1)
    assert compare(STREET, "Hauptstraße 5", "Hauptstrasse 5") == 0  # ß folds to ss


def test_exact_fields_agree_or_not_a_missing_or_common_value_says_nothing() -> None:
    assert compare(PHONE, "+4930123456", "+4930123456") == 0
    assert compare(PHONE, "+4930123456", "+4930123457") == 1
    assert compare(PHONE, "+4930123456", None) is None
    assert compare(PHONE, "+390212345678", "+390212345678") is None
    assert features({"phone": "+390212345678", "email": "x@y.de"}, [PHONE]) == {}
