"""The base of every configuration section, shared by seamline.config and seamline.processor_config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A frozen configuration section that refuses unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


LOCATED = "located"
"""Error type of a validator's error that carries problems at deeper locations in ctx['problems']."""
