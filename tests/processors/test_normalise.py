"""Normalisation keeps names as written and turns contact data into canonical forms."""

import pytest

from processors import normalise
from processors.normalise import InvalidField


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Ada   Lovelace ", "Ada Lovelace"),
        ("রবীন্দ্রনাথ ঠাকুর", "রবীন্দ্রনাথ ঠাকুর"),
        ("王小明", "王小明"),
        ("Nicolo\u0300 Rossi", "Nicolò Rossi"),
        ("   ", None),
        (None, None),
    ],
)
def test_text_is_trimmed_and_nfc_but_kept_as_written(raw: str | None, expected: str | None) -> None:
    assert normalise.text(raw) == expected


def test_email_is_lower_cased() -> None:
    assert normalise.email(" Ada.Lovelace@Example.COM ") == "ada.lovelace@example.com"


@pytest.mark.parametrize("raw", ["x@", "no-at-sign", "a@b@c.com"])
def test_invalid_email_says_which_value(raw: str) -> None:
    with pytest.raises(InvalidField, match=f"email '{raw}' is not a valid address"):
        normalise.email(raw)


def test_phone_to_e164_with_default_region() -> None:
    assert normalise.phone("030 1234567", "DE") == "+49301234567"
    assert normalise.phone("+1 (415) 555-2671", "DE") == "+14155552671"


def test_invalid_phone_is_refused() -> None:
    with pytest.raises(InvalidField, match="phone '12' is not a valid number"):
        normalise.phone("12", "DE")


@pytest.mark.parametrize("raw, code", [("de", "DE"), ("DEU", "DE"), ("Germany", "DE"), ("bd", "BD")])
def test_country_to_alpha2(raw: str, code: str) -> None:
    assert normalise.country(raw) == code


def test_unknown_country_is_refused() -> None:
    with pytest.raises(InvalidField, match="country 'Atlantis'"):
        normalise.country("Atlantis")
