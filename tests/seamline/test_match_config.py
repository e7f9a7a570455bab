"""The probabilistic match rule in the configuration: its defaults, and a clear error for each mistake."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from seamline.match_config import DEFAULT_COMPARISONS, Comparison, ProbabilisticRule
from seamline.processor_config import ProcessorConfig

MAPPING = {"source": "erp.customers", "entity": "customer", "fields": {"name": "name", "email": "email"}}


def processor(entity: str, rule: dict[str, Any]) -> ProcessorConfig:
    return ProcessorConfig(mappings=[MAPPING], identity={entity: {"probabilistic": rule}})


def test_the_defaults_are_the_customer_comparisons_with_their_weights() -> None:
    rule = processor("customer", {}).rules("customer").probabilistic
    assert rule is not None and rule.comparisons == list(DEFAULT_COMPARISONS)
    assert (rule.upper, rule.lower) == (20.0, 8.0)
    assert rule.blocks() == [("phone",), ("email",), ("tax_id",), ("postcode",)]
    name = next(c for c in rule.comparisons if c.field == "name")
    assert name.weights[0] > 10 > 0 > name.weights[-1]  # log2(m/u): agreement for, disagreement against


@pytest.mark.parametrize(
    ("comparison", "message"),
    [
        ({"field": "phone", "m": [0.9, 0.1], "u": [0.01]}, "phone: u has 1 values, one per level is 2"),
        ({"field": "phone", "m": [0.9, 0.2], "u": [0.01, 0.99]}, "phone: the m values add up to 1.100, not 1"),
        ({"field": "phone", "m": [1.0, 0.0], "u": [0.01, 0.99]}, "every m value is a share between 0 and 1"),
        ({"field": "name", "kind": "similar", "m": [0.9, 0.1], "u": [0.1, 0.9]}, "needs levels, e.g. [95, 85, 70]"),
        ({"field": "phone", "levels": [90], "m": [0.9, 0.1], "u": [0.1, 0.9]}, "levels are for kind similar"),
        (
            {"field": "name", "kind": "similar", "levels": [80, 90], "m": [0.8, 0.1, 0.1], "u": [0.1, 0.1, 0.8]},
            "each lower than the one before",
        ),
    ],
)
def test_a_malformed_comparison_is_refused_saying_what_to_fix(comparison: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Comparison(**comparison)


def test_thresholds_out_of_order_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"lower \(9.0\) is above upper \(5.0\)"):
        ProbabilisticRule(upper=5, lower=9)


def test_fields_the_entity_lacks_blocks_on_uncompared_fields_and_repeats_are_located() -> None:
    email = {"field": "email", "m": [0.9, 0.1], "u": [0.01, 0.99]}
    rule = {"comparisons": [email, {**email, "field": "colour"}, email], "blocking": ["email", ["email", "phone"]]}
    with pytest.raises(ValidationError) as error:
        processor("customer", rule)
    text = str(error.value)
    assert "identity.customer.probabilistic.comparisons.1.field: customer has no field 'colour'" in text
    assert "identity.customer.probabilistic.comparisons.2.field: email is compared twice: keep one" in text
    assert "identity.customer.probabilistic.blocking.1: block field 'phone' is not compared" in text


def test_the_customer_defaults_on_another_entity_say_to_list_its_own() -> None:
    with pytest.raises(ValidationError, match="the default comparisons are the customer's: list this entity's own"):
        ProcessorConfig(
            mappings=[MAPPING, {"source": "erp.materials", "entity": "product", "fields": {"sku": "sku"}}],
            identity={"product": {"probabilistic": {}}},
        )
