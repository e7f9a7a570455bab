"""Comparisons of two records' fields for probabilistic matching: the compared form of a value, and the agreement
level of two of them.

A value is compared in its match form (`processors.normalise.match_key`): case, accents and scripts folded, so
"Müller" and "MULLER", "王小明" and "Wang Xiao Ming" compare alike. An `exact` comparison has two levels (0: equal,
1: different); a `similar` one has a level per similarity threshold (0-100, highest first) and one below them all,
which is also the level of two values with different numbers in them ("Via Roma 12" and "Via Roma 45" are two
addresses however alike they read).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rapidfuzz import fuzz

from processors.normalise import match_key
from seamline.match_config import Comparison

Features = dict[str, str]
"""field -> its compared form; a field without a value is absent."""
_NUMBERS = re.compile(r"\d+")
_CASE_KEPT = frozenset({"email"})
"""Fields whose accents and script tell two values apart, as in the deterministic match keys."""


def features(fields: Mapping[str, Any], comparisons: Sequence[Comparison]) -> Features:
    """The compared form of each compared field that has a value, but one of the comparison's `common` values."""
    found: Features = {}
    for comparison in comparisons:
        value = fields.get(comparison.field)
        if value is None or value == "":
            continue
        key = match_key(str(value), exact=comparison.field in _CASE_KEPT)
        compared = key if key is None or comparison.kind == "similar" else "".join(key.split())
        if compared is not None and compared not in comparison.common:
            found[comparison.field] = compared
    return found


def similarity(left: str, right: str) -> float:
    """0-100: the better of rapidfuzz's token-sort ratio and the ratio of the two without spaces (a transliteration
    joins or splits words: "wangxiaomingkeji" and "wang xiao ming keji")."""
    joined = fuzz.ratio(left.replace(" ", ""), right.replace(" ", ""))
    return max(float(fuzz.token_sort_ratio(left, right)), joined)


def level(comparison: Comparison, left: Features, right: Features) -> int | None:
    """The agreement level of two records on one comparison (0 agrees most); None when either has no value."""
    a, b = left.get(comparison.field), right.get(comparison.field)
    if a is None or b is None:
        return None
    if comparison.kind == "exact":
        return 0 if a == b else 1
    if a == b:
        return 0
    numbers_a, numbers_b = _NUMBERS.findall(a), _NUMBERS.findall(b)
    if numbers_a and numbers_b and numbers_a != numbers_b:
        return len(comparison.levels)
    score = similarity(a, b)
    return next((index for index, floor in enumerate(comparison.levels) if score >= floor), len(comparison.levels))


def levels(comparisons: Sequence[Comparison], left: Features, right: Features) -> list[int | None]:
    """The agreement level of each comparison."""
    return [level(comparison, left, right) for comparison in comparisons]
