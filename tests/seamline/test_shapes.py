"""A value's shape describes it in messages without revealing it."""

from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seamline.shapes import shape


@pytest.mark.parametrize(
    "value, described",
    [
        ("ada@example.com", "text of 15 chars: letters, '.', '@'"),
        ("030 1234567", "text of 11 chars: digits, spaces"),
        ("", "empty text"),
        (42, "int of 6 bits"),
        (datetime(2024, 1, 1), "naive datetime"),
    ],
)
def test_shape_describes_without_revealing(value: object, described: str) -> None:
    assert shape(value) == described


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text() | st.integers() | st.floats() | st.datetimes() | st.none())
def test_shape_never_reveals_letters_or_digits(value: Any) -> None:
    described = shape(value)
    if isinstance(value, str):
        assert not any(char.isalnum() and char in described[described.find(":") :] for char in value if ord(char) > 127)
