"""msgpack encoding through one reused Packer per thread: `msgpack.packb` builds a Packer on every call, which
cost about a microsecond a value, several times per change."""

from __future__ import annotations

import threading
from typing import Any

import msgpack

_local = threading.local()


def pack(value: Any) -> bytes:
    """`value` in msgpack (binary as bin, text as str), as `msgpack.packb(value)` writes it."""
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True)
    return packer.pack(value)
