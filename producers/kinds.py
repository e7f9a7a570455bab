"""Builds the source for a configured source kind."""

from __future__ import annotations

from producers.postgres_cdc import PostgresCdc
from producers.source import Source
from seamline.config import PostgresCdcSource


def build_source(name: str, config: PostgresCdcSource) -> Source:
    """The Source object for one `sources.<name>` entry."""
    return PostgresCdc(name, config)
