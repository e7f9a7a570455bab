"""A target's error message goes into a dead letter without the values of the record it refused."""

from seamline.connectors.sink import without_values


def test_every_value_written_is_masked_longest_first_nested_lines_and_numbers_included() -> None:
    sent = {"name": "Ada", "email": "ada@example.com", "lines": [{"sku": "A-100", "qty": 12}], "limit": 2500}
    message = "ada@example.com (Ada) refused: sku A-100 over limit 2500, qty 12"
    assert without_values(message, sent) == "<value> (<value>) refused: sku <value> over limit <value>, qty 12"


def test_short_values_and_nulls_are_left_as_they_are() -> None:
    assert without_values("field x is 1 of None", {"x": "x", "n": 1, "m": None}) == "field x is 1 of None"
