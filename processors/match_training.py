"""Estimating a probabilistic rule's weights from records (expectation maximisation, Fellegi–Sunter).

u, each level's share among different records, is counted on random pairs of the sample (nearly all of them are
different records). m, each level's share among the same records, and the share of matches among the pairs the
blocks make, are fitted by EM on those pairs: each pair's chance of being a match given the current m and u, then
m as the levels of pairs weighted by that chance, until m stops moving.

- A value more than `max_block` records share, and over 20 times as many as the field's median value, is too
  common to say anything (a switchboard's phone, unlike a country): it joins the comparison's `common` values,
  compared as no value.
- A comparison on which nearly every pair agrees (the country of pairs sharing a postcode) would pass for the mark
  of a match: it is left out of the iterations, and its m counted from the pairs' chances at the end.
- A comparison on which no pair agrees (a field the deterministic rules match on: records sharing it are one
  already) keeps the m and u it had.
- Levels never seen are smoothed, so no weight is infinite.
"""

from __future__ import annotations

import math
import random
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from processors.comparisons import Features, features, levels
from processors.matching import block_keys
from seamline.match_config import Comparison, ProbabilisticRule

Pattern = tuple[int | None, ...]
"""The agreement level of a pair on each comparison."""
_SMOOTHING = 0.005
_FLOOR = 1e-6
_CONSTANT = 0.9
_COMMON = 20


@dataclass(frozen=True)
class Fit:
    """Fitted weights: the rule with its new m and u, the comparisons that kept theirs, and what the fit saw."""

    rule: ProbabilisticRule
    kept: list[str]
    match_share: float
    records: int
    blocked_pairs: int
    iterations: int


def blocked_pairs(records: Sequence[Features], rule: ProbabilisticRule, max_block: int) -> Counter[Pattern]:
    """The patterns of every pair sharing a block of at most `max_block` records (each pair once), with counts."""
    blocks: dict[str, list[int]] = {}
    for position, compared in enumerate(records):
        for key in block_keys("", compared, rule):
            blocks.setdefault(key, []).append(position)
    pairs = {
        (members[j], members[i])
        for members in blocks.values()
        if len(members) <= max_block
        for i in range(len(members))
        for j in range(i)
    }
    return Counter(tuple(levels(rule.comparisons, records[a], records[b])) for a, b in pairs)


def random_patterns(records: Sequence[Features], rule: ProbabilisticRule, count: int, seed: int) -> Counter[Pattern]:
    """The patterns of `count` random pairs of different records."""
    rng, found = random.Random(seed), Counter[Pattern]()
    for _ in range(count):
        a, b = rng.sample(range(len(records)), 2)
        found[tuple(levels(rule.comparisons, records[a], records[b]))] += 1
    return found


def fit(
    fields: Sequence[Mapping[str, Any]],
    rule: ProbabilisticRule,
    *,
    random_pairs: int = 50_000,
    max_block: int = 50,
    iterations: int = 200,
    seed: int = 0,
) -> Fit:
    """Fit `rule`'s m and u on records (canonical fields), keeping its comparisons, levels, blocks and thresholds."""
    if len(fields) < 2:
        raise ValueError(f"fitting needs at least 2 records, got {len(fields)}")
    rule = _with_common(rule, [features(record, rule.comparisons) for record in fields], max_block)
    records = [features(record, rule.comparisons) for record in fields]
    blocked = blocked_pairs(records, rule, max_block)
    if not blocked:
        raise ValueError("no two records share a block: sample more records, or block on other fields")
    unrelated = random_patterns(records, rule, random_pairs, seed)
    u = [_shares(c, i, unrelated) for i, c in enumerate(rule.comparisons)]
    m, share, done = _em(rule, blocked, u, iterations)
    comparisons, kept = [], []
    for i, comparison in enumerate(rule.comparisons):
        if any(pattern[i] == 0 for pattern in blocked) and any(pattern[i] == 0 for pattern in unrelated):
            comparisons.append({**comparison.model_dump(), "m": _rounded(m[i]), "u": _rounded(u[i])})
        else:
            comparisons.append(comparison.model_dump())
            kept.append(comparison.field)
    fitted = ProbabilisticRule(**{**rule.model_dump(), "comparisons": comparisons})
    return Fit(fitted, kept, share, len(records), sum(blocked.values()), done)


def _with_common(rule: ProbabilisticRule, records: Sequence[Features], max_block: int) -> ProbabilisticRule:
    """The rule with each comparison's too common values added to its `common`."""
    comparisons = []
    for comparison in rule.comparisons:
        counts = Counter(record[comparison.field] for record in records if comparison.field in record)
        floor = max(max_block, _COMMON * statistics.median(counts.values() or [0]))
        common = sorted({*comparison.common, *(value for value, n in counts.items() if n > floor)})
        comparisons.append({**comparison.model_dump(), "common": common})
    return ProbabilisticRule(**{**rule.model_dump(), "comparisons": comparisons})


def _em(
    rule: ProbabilisticRule, blocked: Counter[Pattern], u: list[list[float]], iterations: int
) -> tuple[list[list[float]], float, int]:
    """m of every comparison, the share of matches among the blocked pairs, and the iterations it took."""
    used = [i for i in range(len(rule.comparisons)) if not _constant(blocked, i)]
    m = [list(c.m) for c in rule.comparisons]
    share, done = 0.5, 0
    matched: dict[Pattern, float] = {}
    while done < iterations:
        done += 1
        matched = {pattern: count * _chance(pattern, m, u, share, used) for pattern, count in blocked.items()}
        new_m = [_shares(c, i, matched) if i in used else m[i] for i, c in enumerate(rule.comparisons)]
        share = min(max(sum(matched.values()) / sum(blocked.values()), _FLOOR), 1 - _FLOOR)
        moved = max(abs(a - b) for old, new in zip(m, new_m, strict=True) for a, b in zip(old, new, strict=True))
        m = new_m
        if moved < 1e-6:
            break
    return [_shares(c, i, matched) for i, c in enumerate(rule.comparisons)], share, done


def _constant(found: Counter[Pattern], index: int) -> bool:
    """Whether nearly every pair with a value agrees on comparison `index`."""
    valued = sum(n for pattern, n in found.items() if pattern[index] is not None)
    agreeing = sum(n for pattern, n in found.items() if pattern[index] == 0)
    return agreeing >= _CONSTANT * valued


def _shares(comparison: Comparison, index: int, weighted: Mapping[Pattern, float]) -> list[float]:
    """Each level's share among the patterns' weights (None left out), smoothed and summing to 1."""
    counts = [_SMOOTHING] * len(comparison.m)
    for pattern, weight in weighted.items():
        level = pattern[index]
        if level is not None:
            counts[level] += weight
    total = sum(counts)
    return [count / total for count in counts]


def _chance(pattern: Pattern, m: list[list[float]], u: list[list[float]], share: float, used: list[int]) -> float:
    """The chance that a pair of this pattern is a match, by the comparisons `used`."""
    found = [(i, level) for i in used if (level := pattern[i]) is not None]
    log_ratio = sum(math.log(m[i][level] / u[i][level]) for i, level in found)
    log_odds = max(min(log_ratio + math.log(share / (1 - share)), 700.0), -700.0)
    return 1 / (1 + math.exp(-log_odds))


def _rounded(shares: list[float]) -> list[float]:
    """Shares with 4 significant digits, within (0, 1)."""
    return [min(max(float(f"{share:.4g}"), _FLOOR), 0.9999) for share in shares]
