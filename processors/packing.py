"""The processor's msgpack codec: `pack` for all it writes in msgpack (the resolve state, the identity topic's
frames and changes), `unpack` for the resolve state it reads back. ormsgpack writes the same bytes as
msgpack-python (binary as bin, text as str, maps with keys of any type) in two thirds of the time and reads them
back in 60%. What another process may have written (frames, changes) is decoded by msgpack-python, which refuses
trailing bytes."""

from __future__ import annotations

from typing import Any

import ormsgpack

_OPTIONS = ormsgpack.OPT_NON_STR_KEYS


def pack(value: Any) -> bytes:
    """`value` in msgpack, as `msgpack.packb(value)` writes it; OverflowError for a whole number beyond 64 bits."""
    try:
        return ormsgpack.packb(value, option=_OPTIONS)
    except TypeError as exc:
        if "64-bit" in str(exc):  # ormsgpack's only sign of it ("Integer exceeds 64-bit range")
            raise OverflowError(str(exc)) from None
        raise


def unpack(data: bytes) -> Any:
    """The value `pack` wrote (bytes this process or its changelog holds; no check for trailing bytes)."""
    return ormsgpack.unpackb(data, option=_OPTIONS)
