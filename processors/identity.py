"""Resolve: which golden entity a source record belongs to (cross-reference; deterministic ids)."""

from __future__ import annotations

import uuid

_NAMESPACE = uuid.UUID("6f1c3b0e-5a2d-4f4e-9a53-2b1c7d9e0a11")


def xref(system: str, obj: str, source_key: str) -> str:
    """The cross-reference of a source record: '<system>.<object>:<key>'."""
    return f"{system}.{obj}:{source_key}"


def golden_id(system: str, obj: str, source_key: str) -> str:
    """The golden id born from a source record: the same on every replay from the beginning."""
    return str(uuid.uuid5(_NAMESPACE, xref(system, obj, source_key)))
