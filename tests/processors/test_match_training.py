"""EM fit of a probabilistic rule: u from random pairs, m from the blocked pairs, common values found, fields no
pair agrees on kept as configured."""

from __future__ import annotations

import random
from typing import Any

import pytest

from processors.match_training import fit
from seamline.match_config import ProbabilisticRule


def records(companies: int = 400, seed: int = 5) -> list[dict[str, Any]]:
    """Companies, a third of them twice (same phone, same or nearly the same name); a fifth of the rest share one
    switchboard number."""
    rng, found = random.Random(seed), []
    for number in range(companies):
        phone = "+4930000000" if number % 5 == 0 else f"+49301{number:06d}"
        company = {"name": f"firma {number} {rng.choice(['nord', 'sud', 'ost'])} gmbh", "phone": phone}
        company |= {"postcode": f"{10_000 + number % 40}", "email": f"info@firma{number}.de"}
        found.append(company)
        if number % 3 == 0:
            found.append({**company, "email": f"sales@firma{number}.de", "name": company["name"].upper()})
    return found


def test_agreement_weighs_for_a_match_disagreement_against_and_a_switchboard_number_says_nothing() -> None:
    fitted = fit(records(), ProbabilisticRule())
    rule = {c.field: c for c in fitted.rule.comparisons}
    assert rule["phone"].common == ["+4930000000"]
    assert rule["name"].weights[0] > 5 and rule["name"].weights[-1] < 0
    assert rule["phone"].weights[0] > 5
    # no two records share an e-mail, tax id, street or country: those keep the weights they had
    assert set(fitted.kept) == {"email", "tax_id", "street", "country"}
    assert rule["email"] == ProbabilisticRule().comparisons[0]
    assert 0 < fitted.match_share < 1 and fitted.blocked_pairs > 0 and fitted.records == len(records())


def test_too_few_records_or_no_shared_block_is_refused_saying_what_to_do() -> None:
    with pytest.raises(ValueError, match="at least 2 records, got 1"):
        fit(records()[:1], ProbabilisticRule())
    with pytest.raises(ValueError, match="no two records share a block: sample more records"):
        fit([{"name": "a", "phone": "+491"}, {"name": "b", "phone": "+492"}], ProbabilisticRule())
