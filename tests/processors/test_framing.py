"""Frames: cleansed changes as JSON lines in few records, cut by size, read back line by line."""

import json

from hypothesis import given
from hypothesis import strategies as st

from processors import framing


def test_groups_keep_order_and_stay_under_the_limit_unless_one_item_is_larger() -> None:
    assert framing.groups("abcde", [4, 4, 4, 12, 1], 8) == [["a", "b"], ["c"], ["d"], ["e"]]
    assert framing.groups([], [], 8) == [[]]


@given(st.lists(st.dictionaries(st.text(), st.text() | st.integers() | st.none(), max_size=4), max_size=40))
def test_frames_give_back_every_line_in_order(records: list[dict[str, object]]) -> None:
    encoded = [json.dumps(record, ensure_ascii=False).encode() for record in records]
    framed = framing.frames(encoded)
    assert [json.loads(line) for frame in framed for line in framing.lines(frame)] == records


def test_a_big_batch_takes_several_frames_each_under_the_limit() -> None:
    line = json.dumps({"name": "x\ny" * 5000}).encode()
    framed = framing.frames([line] * 100)
    assert len(framed) > 1 and all(len(frame) <= framing.FRAME_BYTES for frame in framed)
    assert sum(len(framing.lines(frame)) for frame in framed) == 100
