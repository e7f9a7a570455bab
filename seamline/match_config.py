"""The probabilistic match rule of an entity: what is compared, how much each agreement weighs, the thresholds and
the blocks (Fellegi–Sunter; processors/matching.py applies it, `seamline match train` fits its weights)."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from seamline.sections import Section

_SUM_TOLERANCE = 0.02


class Comparison(Section):
    """One compared field: its agreement levels, and the chance of each level among true matches (m) and among
    non-matches (u). A level weighs log2(m/u); a pair missing the value on either side adds 0."""

    field: str = Field(min_length=1, description="The canonical field compared.")
    kind: Literal["exact", "similar"] = Field(
        "exact",
        description="exact: two levels, equal (0) or not (1). similar: rapidfuzz similarity (0-100) of the "
        "transliterated, folded values, one level per entry of `levels` and a last one below them all.",
    )
    levels: list[float] = Field(
        default_factory=list,
        description="similar only: the lowest similarity of each agreement level, highest first, e.g. [95, 85, 70].",
    )
    m: list[float] = Field(description="Per level: its share among pairs that are the same record (sums to 1).")
    u: list[float] = Field(description="Per level: its share among pairs that are different records (sums to 1).")
    common: list[str] = Field(
        default_factory=list,
        description="Values shared by too many records to tell one from another (a switchboard's phone, a "
        "placeholder), in their compared form: a record holding one is compared as if it had none, and blocked "
        "on it with nobody. `seamline match train` lists those of its sample.",
    )

    @model_validator(mode="after")
    def _shape(self) -> Comparison:
        count = 2 if self.kind == "exact" else len(self.levels) + 1
        if self.kind == "exact" and self.levels:
            raise ValueError(f"{self.field}: levels are for kind similar; an exact comparison has two (equal, not)")
        if self.kind == "similar" and not self.levels:
            raise ValueError(f"{self.field}: a similar comparison needs levels, e.g. [95, 85, 70]")
        if any(not 0 < floor <= 100 for floor in self.levels) or self.levels != sorted(set(self.levels), reverse=True):
            raise ValueError(f"{self.field}: levels are similarities in (0, 100], each lower than the one before")
        for name, shares in (("m", self.m), ("u", self.u)):
            if len(shares) != count:
                raise ValueError(f"{self.field}: {name} has {len(shares)} values, one per level is {count}")
            if any(not 0 < share < 1 for share in shares):
                raise ValueError(f"{self.field}: every {name} value is a share between 0 and 1 (exclusive)")
            if abs(sum(shares) - 1) > _SUM_TOLERANCE:
                raise ValueError(f"{self.field}: the {name} values add up to {sum(shares):.3f}, not 1")
        return self

    @property
    def weights(self) -> list[float]:
        """log2(m/u) of each level."""
        return [math.log2(m / u) for m, u in zip(self.m, self.u, strict=True)]


def _compare(field: str, m: list[float], u: list[float], levels: list[float] | None = None) -> Comparison:
    return Comparison(field=field, kind="similar" if levels else "exact", levels=levels or [], m=m, u=u)


DEFAULT_COMPARISONS: tuple[Comparison, ...] = (
    _compare("email", [0.4, 0.6], [0.001, 0.999]),
    _compare("phone", [0.8698, 0.1302], [0.0003774, 0.9996]),
    _compare("tax_id", [0.7, 0.3], [0.005, 0.995]),
    _compare("name", [0.9308, 0.01201, 0.01677, 0.0404], [0.0008601, 0.0025, 0.01512, 0.9815], [95, 85, 70]),
    _compare("street", [0.7816, 0.08296, 0.1355], [0.0004801, 0.0001401, 0.9994], [95, 80]),
    _compare("postcode", [0.9999, 6.481e-06], [0.0005001, 0.9995]),
    _compare("country", [0.9997, 0.0003207], [0.1115, 0.8885]),
)
"""The customer's comparisons, fitted by `seamline match train` on tests/processors/companies.py (seed 2026); e-mail
and tax id keep set weights, as the deterministic rules had merged every pair agreeing on them."""


class ProbabilisticRule(Section):
    """A Fellegi–Sunter match: each pair of records in a common block is compared field by field, and the weights
    of their agreement levels are summed. At `upper` or above the two merge, from `lower` up they are suggested
    for review; a pair agreeing on nothing but name and place (city, country, postcode) is never merged, only
    suggested."""

    comparisons: list[Comparison] = Field(
        default_factory=lambda: list(DEFAULT_COMPARISONS),
        min_length=1,
        description="The compared fields; the default is the customer's (docs/processors.md).",
    )
    upper: float = Field(20.0, description="Match weight (sum of log2 m/u) from which two records merge.")
    lower: float = Field(8.0, description="Match weight from which two records are suggested for review.")
    blocking: list[str | list[str]] = Field(
        default_factory=lambda: list[str | list[str]](["phone", "email", "tax_id", "postcode"]),
        min_length=1,
        description="A record is compared only with records sharing a block: the compared form of a field, or of "
        "a list of fields together; every field named must be compared.",
    )
    block_limit: int = Field(
        200,
        ge=2,
        description="The most records a block holds (the newest); a fuller block compares a record with the newest "
        "only, and arrival order then matters: choose selective blocks.",
    )

    @model_validator(mode="after")
    def _thresholds(self) -> ProbabilisticRule:
        if self.lower > self.upper:
            raise ValueError(f"lower ({self.lower}) is above upper ({self.upper}): suggestions start below merges")
        return self

    def blocks(self) -> list[tuple[str, ...]]:
        """Each blocking rule as a tuple of fields."""
        return [(rule,) if isinstance(rule, str) else tuple(rule) for rule in self.blocking]
