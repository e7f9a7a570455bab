"""Stewards' decisions as constraints in the resolve state: records that must be one, records that never are.

A decision (seamline/decisions.py) names two sets of cross-references. In the `index` table:

- 's:n' -> how many decisions are in force (absent: none, and resolving checks nothing);
- 's:d:<decision key>' -> {o: its offset on the decisions topic, k: kind, a: [xrefs], b: [xrefs]};
- 's:x:<xref>' -> the keys of the decisions that name the record;
- 's:at' -> the next offset of the decisions topic to apply (written in the batch's transaction, so each decision
  takes effect once).

For a pair of records, the decision with the highest offset that names them both holds: an accept (both in it)
says together, a reject or a split (one on each side) says apart. A later decision about the same two sets
replaces the earlier one, as compaction does on the topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from processors.resolve import State, Table

POSITION = "s:at"
_COUNT = "s:n"


class Constraints:
    """The decisions in force, over the resolve state's `index` table."""

    def __init__(self, index: Table) -> None:
        self.index = index

    @property
    def position(self) -> int:
        """The next offset of the decisions topic to apply."""
        return int(self.index.get(POSITION) or 0)

    def advance(self, offset: int) -> None:
        """The decision at `offset` is applied (or dead-lettered)."""
        self.index[POSITION] = offset + 1

    def active(self) -> bool:
        """Whether any decision is in force."""
        return bool(self.index.get(_COUNT))

    def record(self, key: str, offset: int, kind: str, records: Sequence[str], others: Sequence[str]) -> None:
        """Put a decision in force, in place of an earlier one with the same key."""
        index = self.index
        earlier = index.get(f"s:d:{key}")
        if earlier is None:
            index[_COUNT] = int(index.get(_COUNT) or 0) + 1
        else:
            for ref in {*earlier["a"], *earlier["b"]} - {*records, *others}:
                named = [each for each in index.get(f"s:x:{ref}") or [] if each != key]
                if named:
                    index[f"s:x:{ref}"] = named
                else:
                    del index[f"s:x:{ref}"]
        index[f"s:d:{key}"] = {"o": offset, "k": kind, "a": sorted(records), "b": sorted(others)}
        for ref in {*records, *others}:
            named = index.get(f"s:x:{ref}") or []
            if key not in named:
                index[f"s:x:{ref}"] = sorted([*named, key])

    def _naming(self, ref: str) -> list[dict[str, Any]]:
        return [decision for key in self.index.get(f"s:x:{ref}") or [] if (decision := self.index.get(f"s:d:{key}"))]

    def partners(self, ref: str) -> set[str]:
        """The records an accepted decision says are one with `ref` (a later decision may keep some apart)."""
        return {other for d in self._naming(ref) if d["k"] == "accept" for other in (*d["a"], *d["b"])} - {ref}

    def apart(self, refs: Iterable[str]) -> set[str]:
        """The records that must never be in one golden record with any of `refs`."""
        forbidden: set[str] = set()
        for ref in refs:
            together: dict[str, int] = {}
            apart: dict[str, int] = {}
            for decision in self._naming(ref):
                if decision["k"] == "accept":
                    for other in (*decision["a"], *decision["b"]):
                        together[other] = max(together.get(other, -1), decision["o"])
                else:
                    for other in decision["b"] if ref in decision["a"] else decision["a"]:
                        apart[other] = max(apart.get(other, -1), decision["o"])
            forbidden.update(other for other, offset in apart.items() if offset > together.get(other, -1))
        return forbidden

    def compatible(self, states: list[State], ref: str, own: str | None) -> list[State]:
        """The golden records of `states` that record `ref` (in golden record `own`, if any) may be one with.

        `own` always stays; the others are taken in founder order, each only if none of its members must be apart
        from a record taken before it; the result is sorted by id, as `states` is.
        """
        kept = [state for state in states if state["id"] == own]
        others = sorted((state for state in states if state["id"] != own), key=lambda state: state["f"])
        if not others:
            return states
        forbidden = self.apart([ref, *(member for state in kept for member in state["m"])])
        for state in others:
            if forbidden.isdisjoint(state["m"]):
                kept.append(state)
                forbidden |= self.apart(state["m"])
        return sorted(kept, key=lambda state: state["id"])

    def separated(self, state: State, other: State) -> bool:
        """Whether some member of `other` must be apart from some member of `state`."""
        return not self.apart(state["m"]).isdisjoint(other["m"])
