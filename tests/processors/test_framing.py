"""Frames: encoded changes in few records, cut by size, read back item by item with their own bytes."""

import re

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors import framing


def test_groups_keep_order_and_stay_under_the_limit_unless_one_item_is_larger() -> None:
    assert framing.groups("abcde", [4, 4, 4, 12, 1], 8) == [["a", "b"], ["c"], ["d"], ["e"]]
    assert framing.groups([], [], 8) == [[]]


@given(st.lists(st.binary(max_size=300), max_size=40))
def test_frames_give_back_every_item_in_order_byte_for_byte(items: list[bytes]) -> None:
    assert [item for frame in framing.frames(items) for item in framing.items(frame)] == items


@pytest.mark.parametrize("size", [100, 5_000, 70_000])
def test_a_big_batch_takes_several_frames_each_under_the_limit(size: int) -> None:
    item = b"\n" * size  # any byte, a newline too, is only data inside an item
    framed = framing.frames([item] * (4 * framing.FRAME_BYTES // size))
    assert len(framed) > 1 and all(len(frame) <= framing.FRAME_BYTES for frame in framed)
    assert [len(framing.items(frame)) for frame in framed][0] > 1
    assert sum(len(framing.items(frame)) for frame in framed) == 4 * framing.FRAME_BYTES // size


def test_an_item_larger_than_a_frame_travels_alone() -> None:
    big = b"x" * (framing.FRAME_BYTES + 1)
    assert [framing.items(frame) for frame in framing.frames([b"a", big, b"b"])] == [[b"a"], [big], [b"b"]]


@pytest.mark.parametrize(
    "frame, reason",
    [
        (b"a\nb", "not a msgpack value: unpack(b) received extra data"),
        (b"", "not a msgpack value: Unpack failed: incomplete input"),
        (b"\xc1", "not a msgpack value: FormatError"),
        (msgpack.packb({"a": 1}), "a msgpack dict, not an array of binary items"),
        (msgpack.packb([b"a", "text"]), "a msgpack list, not an array of binary items"),
    ],
)
def test_bytes_that_are_not_a_frame_are_refused_with_what_they_are(frame: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(reason)}"):
        framing.items(frame)
