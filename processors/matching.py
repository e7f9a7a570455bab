"""Probabilistic matching (Fellegi–Sunter): which golden records a source record probably belongs to.

A record is compared with the records sharing one of its blocks (the compared form of a blocking field: the same
phone, the same postcode, ...), each block holding at most `block_limit` records. Per comparison the pair gets an
agreement level, worth log2(m/u); their sum is the pair's match weight. From `upper` the record joins the other's
golden record; from `lower` the two golden records are suggested for review. A pair agreeing on nothing but name
and place (city, country, postcode) never merges, whatever the weights.

Every pair is compared when the later of its records arrives (or changes a compared value), against the other as
stored, and the comparison is symmetric; so the records that end in one golden record (the components of the pairs
that merge) do not depend on the arrival order, and the founder rule (processors/resolve.py) gives them the same id.

Index keys (in the resolver's `index` table): 'p:<xref>' -> {f: compared forms, b: block keys, s: golden ids
suggested with it}; 'b:<entity>|<fields>=<value>' -> [xref, ...], oldest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from processors.comparisons import Features, features, levels
from seamline.match_config import ProbabilisticRule

WEAK = frozenset({"name", "city", "country", "postcode"})
"""Fields whose agreement never merges two records on its own: many different companies share a name, or a place."""


class Index(Protocol):
    """The resolver's index table."""

    def get(self, key: str) -> Any: ...

    def __setitem__(self, key: str, value: Any) -> None: ...

    def __delitem__(self, key: str) -> None: ...


@dataclass
class Probable:
    """What comparing a record found: golden ids to merge with, and golden ids to suggest -> (weight, agreements)."""

    merge: set[str] = field(default_factory=set)
    suggest: dict[str, tuple[float, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Judge:
    """A rule's weights, worked out once: what a pair's agreement levels weigh, and whether the pair merges."""

    rule: ProbabilisticRule
    weights: list[list[float]]
    fields: list[str]

    @classmethod
    def of(cls, rule: ProbabilisticRule) -> Judge:
        return cls(rule, [c.weights for c in rule.comparisons], [c.field for c in rule.comparisons])

    def weigh(self, found: list[int | None]) -> tuple[float, list[str]]:
        """The match weight of a pair's agreement levels, and the fields on which it agrees fully (level 0)."""
        weight = sum(weights[level] for weights, level in zip(self.weights, found, strict=True) if level is not None)
        return weight, [name for name, level in zip(self.fields, found, strict=True) if level == 0]

    def merges(self, weight: float, agreements: list[str]) -> bool:
        """Whether a pair merges: weight from `upper`, and agreement on a field that is not WEAK."""
        return weight >= self.rule.upper and any(name not in WEAK for name in agreements)


def block_keys(entity: str, compared: Features, rule: ProbabilisticRule) -> list[str]:
    """The blocks of a record: one per blocking rule whose fields all have a value."""
    keys = []
    for block in rule.blocks():
        if all(name in compared for name in block):
            keys.append(f"b:{entity}|{'+'.join(block)}=" + "|".join(compared[name] for name in block))
    return keys


class Matcher:
    """Compares records with their blocks' records and keeps the blocks; state in the resolver's index and links."""

    def __init__(self, index: Index, links: Index) -> None:
        self.index = index
        self.links = links
        self.judges: dict[int, Judge] = {}  # id of a rule (the configuration's, alive as long as the processor)

    def place(
        self, entity: str, ref: str, own: str | None, fields: Mapping[str, Any], rule: ProbabilisticRule
    ) -> Probable:
        """Compare record `ref` (of golden record `own`, if any) with its blocks' records, then file it in them."""
        index = self.index
        compared = features(fields, rule.comparisons)
        blocks = block_keys(entity, compared, rule)
        entry = index.get(f"p:{ref}") or {"f": {}, "b": [], "s": []}
        found = Probable()
        judge = self.judges.get(id(rule))
        if judge is None or judge.rule is not rule:
            judge = self.judges[id(rule)] = Judge.of(rule)
        if entry["f"] == compared and entry["b"] == blocks:
            return found  # compared as it is with every record of its blocks already (they compared themselves since)
        suggested = set(entry["s"])
        for other in dict.fromkeys(other for key in blocks for other in index.get(key) or [] if other != ref):
            link, stored = self.links.get(other), index.get(f"p:{other}")
            gid = link["g"] if link else None
            if gid is None or gid == own or stored is None or gid in found.merge:
                continue
            weight, agreements = judge.weigh(levels(rule.comparisons, compared, stored["f"]))
            if judge.merges(weight, agreements):
                found.merge.add(gid)
                found.suggest.pop(gid, None)
            elif weight >= rule.lower and gid not in suggested and weight > found.suggest.get(gid, (-1e9, ""))[0]:
                found.suggest[gid] = (weight, "+".join(agreements))
        self._refile(ref, entry["b"], blocks, rule.block_limit)
        index[f"p:{ref}"] = {"f": compared, "b": blocks, "s": sorted(suggested | set(found.suggest))}
        return found

    def forget(self, ref: str) -> None:
        """Take a deleted record out of its blocks."""
        entry = self.index.get(f"p:{ref}")
        if entry is not None:
            self._refile(ref, entry["b"], [], 0)
            del self.index[f"p:{ref}"]

    def _refile(self, ref: str, old: list[str], new: list[str], limit: int) -> None:
        index = self.index
        for key in set(old) - set(new):
            kept = [other for other in index.get(key) or [] if other != ref]
            if kept:
                index[key] = kept
            else:
                del index[key]
        for key in new:
            if key not in old:
                index[key] = [*(index.get(key) or [])[-limit + 1 :], ref]
