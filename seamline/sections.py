"""The base of every configuration section, shared by seamline.config and seamline.processor_config."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict
from pydantic_core import PydanticCustomError


class Section(BaseModel):
    """A frozen configuration section that refuses unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


LOCATED = "located"
"""Error type of a validator's error that carries problems at deeper locations in ctx['problems']."""

Problem = tuple[tuple[str | int, ...], str]
"""(location below the validated section, message)."""


def raise_problems(problems: Sequence[Problem]) -> None:
    """Raise one LOCATED validation error carrying every problem, if there is any."""
    if problems:
        summary = "; ".join(f"{'.'.join(map(str, where))}: {message}" for where, message in problems)
        raise PydanticCustomError(LOCATED, "{summary}", {"summary": summary, "problems": list(problems)})
