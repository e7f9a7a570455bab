"""Postal codes written in their country's form, so one code compares equal however a system stored it."""

import pytest

from processors.postcodes import postcode


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("sw1a1aa", "GB", "SW1A 1AA"),
        ("sw1a  1aa", "GB", "SW1A 1AA"),
        ("EC1A-1BB", "GB", "EC1A 1BB"),
        ("k1a0b1", "CA", "K1A 0B1"),
        ("1234ab", "NL", "1234 AB"),
        ("11455", "SE", "114 55"),
        ("00950", "PL", "00-950"),
        ("1000001", "PT", "1000-001"),
        ("1000001", "JP", "100-0001"),
        ("01310100", "BR", "01310-100"),
        ("123456789", "US", "12345-6789"),
        ("2134", "US", "02134"),  # a number column dropped the ZIP's leading zero
        ("1067", "DE", "01067"),
        ("184", "IT", "00184"),
        ("8001", "ES", "08001"),
        ("100000", "CN", "100000"),
        ("1212", "BD", "1212"),
        ("010 67", "DE", "01067"),
        ("not a code", "DE", "NOT A CODE"),  # kept, upper-cased, when it fits no form
        ("sw1a  1aa", None, "SW1A 1AA"),
        ("2134", None, "2134"),  # without a country nothing is padded
        (None, "DE", None),
        ("  ", "GB", None),
    ],
)
def test_a_postcode_takes_its_countrys_form(raw: str | None, region: str | None, expected: str | None) -> None:
    assert postcode(raw, region) == expected
    assert postcode(expected, region) == expected
