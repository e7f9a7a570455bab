"""Phone numbers as people write them in each country, read in the record's own region, to E.164."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processors.normalise import InvalidField
from processors.phones import international_prefixes, phone


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("030 1234567", "DE", "+49301234567"),
        ("+1 (415) 555-2671", "DE", "+14155552671"),
        ("01712-345678", "BD", "+8801712345678"),
        ("01811223344", "BD", "+8801811223344"),
        ("347 1234567", "IT", "+393471234567"),
        ("02 1234 5678", "IT", "+390212345678"),
        ("13800138000", "CN", "+8613800138000"),
        ("010-6552 9988", "CN", "+861065529988"),
        ("612 34 56 78", "ES", "+34612345678"),
        ("(212) 555-0147", "US", "+12125550147"),
        ("0151 23456789", "DE", "+4915123456789"),
    ],
)
def test_a_number_without_code_is_read_in_its_region(raw: str, region: str, expected: str) -> None:
    assert phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw, region, expected",
    [
        ("0039 02 1234 5678", "US", "+390212345678"),  # Europe's 00 in an American record
        ("0039 02 1234 5678", "IT", "+390212345678"),  # the region's own prefix
        ("011 49 30 1234567", "IT", "+49301234567"),  # North America's 011 in an Italian record
        ("0086 138 0013 8000", "DE", "+8613800138000"),
        ("00880 1712 345678", "CN", "+8801712345678"),
        ("880-1712-345678", "US", "+8801712345678"),  # a country code without +
        ("8613800138000", "IT", "+8613800138000"),
        ("49 30 1234567", "BD", "+49301234567"),
        ("+34 612 34 56 78", "CN", "+34612345678"),
    ],
)
def test_an_international_prefix_or_a_bare_country_code_is_recognised(raw: str, region: str, expected: str) -> None:
    assert phone(raw, region) == expected


def test_a_number_that_reads_as_two_international_numbers_is_refused_not_guessed() -> None:
    assert phone("001 201 555 0123", "DE") == "+12015550123"  # Germany dials abroad with 00: the US, +1
    with pytest.raises(InvalidField, match=r"reads as 2 different international numbers") as error:
        phone("001 201 555 0123", "US")  # 00 + 1 201…, or 001 + 20 1555… (Egypt)
    assert error.value.reason == "ambiguous"


def test_the_international_prefixes_come_from_every_regions_metadata() -> None:
    prefixes = international_prefixes()
    assert {"00", "011", "0011", "810"} <= set(prefixes) and "0" not in prefixes
    assert list(prefixes) == sorted(prefixes, key=len, reverse=True)


def test_a_number_of_another_country_without_code_is_refused_without_quoting_it() -> None:
    with pytest.raises(InvalidField, match=r"^phone \(text of 11 chars: digits\) is not a valid number") as error:
        phone("13800138000", "US")  # a Chinese mobile in an American record: +1 380 … is no number
    assert error.value.reason == "invalid" and "13800138000" not in str(error.value)
    with pytest.raises(InvalidField, match=r"^phone \(text of 2 chars: digits\) is not a valid number") as error:
        phone("12", "DE")
    assert "write it with +<country code>" in str(error.value)


def test_what_is_no_number_is_malformed() -> None:
    with pytest.raises(InvalidField, match=r"^phone \(text of 5 chars: letters\) is not a phone number") as error:
        phone("hello", "DE")
    assert error.value.reason == "malformed"


def test_a_region_without_phone_metadata_reads_international_numbers_only() -> None:
    assert phone("+49 30 1234567", "AQ") == "+49301234567"
    assert phone("0049 30 1234567", "AQ") == "+49301234567"
    with pytest.raises(InvalidField):
        phone("1234", "AQ")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    value=st.from_regex(r"\+?[0-9 ()/-]{2,20}", fullmatch=True),
    region=st.sampled_from(["DE", "US", "BD", "IN", "CN", "IT", "ES"]),
)
def test_phone_is_total_and_idempotent_on_number_like_text(value: str, region: str) -> None:
    try:
        once = phone(value, region)
    except InvalidField as error:
        assert str(error)
        return
    assert phone(once, region) == once
    assert once is None or phone(once, "US") == once  # E.164 reads the same in any region
