"""A batch's table writes made atomic over a changelog that a crash can cut after any record.

The writes reach the table twice: first as a journal (chunks, then a header naming them), then in place.
The header is the commit point. A crash before it leaves none of the batch's writes in place and the batch is
resolved again; a crash after it leaves the header, and `replay` applies its writes again at the next start.
Chunks alternate between two slots, so writing a batch's chunks never touches those the current header names.
"""

from __future__ import annotations

import json
from typing import Any

from processors.framing import groups
from processors.resolve import Table

HEADER = "journal"
CHUNK_BYTES = 256 * 1024
"""About the most JSON one chunk holds: well under Kafka's default 1 MB record limit."""

Write = tuple[str, Any]
"""A key and its new value; None deletes the key."""


def commit(table: Table, writes: list[Write]) -> None:
    """Write a batch's writes to `table` so that a crash keeps all of them or, after `replay`, none."""
    if not writes:
        return
    header = table.get(HEADER) or {"seq": -1, "chunks": [0, 0]}
    seq = header["seq"] + 1
    slot = seq % 2
    chunks = groups(
        writes, [len(key) + len(json.dumps(value, separators=(",", ":"))) for key, value in writes], CHUNK_BYTES
    )
    for number, chunk in enumerate(chunks):
        table[_chunk_key(slot, number)] = chunk
    counts = list(header["chunks"])
    # The slot's chunks beyond this batch's belong to the batch before last, which no header names any more.
    _apply(table, [(_chunk_key(slot, number), None) for number in range(len(chunks), counts[slot])])
    counts[slot] = len(chunks)
    table[HEADER] = {"seq": seq, "chunks": counts}
    _apply(table, writes)


def replay(table: Table) -> int:
    """Apply the last committed batch's writes again (a crash may have cut them short); how many there were."""
    header = table.get(HEADER)
    if header is None:
        return 0
    slot = header["seq"] % 2
    writes = [
        (key, value) for number in range(header["chunks"][slot]) for key, value in table.get(_chunk_key(slot, number))
    ]
    _apply(table, writes)
    return len(writes)


def _chunk_key(slot: int, number: int) -> str:
    return f"{HEADER}:{slot}:{number}"


def _apply(table: Table, writes: list[Write]) -> None:
    for key, value in writes:
        if value is not None:
            table[key] = value
        elif table.get(key) is not None:
            del table[key]
