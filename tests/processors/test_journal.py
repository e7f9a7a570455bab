"""The journal: a crash after any changelog record of a batch's writes leaves, once replayed, all or none."""

from typing import Any

import pytest

from processors import journal

BATCHES: list[list[journal.Write]] = [
    [("a", {"n": 1}), ("b", [1, 2]), ("c", "x" * 40)],
    [("a", {"n": 2}), ("b", None), ("d", "y" * 90)],
    [("c", None), ("e", 5)],
    [("a", None), ("f", {"deep": {"list": [1, 2, 3]}}), ("g", "z" * 120), ("h", 1)],
]


class Changelog(dict[str, Any]):
    """A table that also logs each write, as a changelog topic would receive it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.records: list[tuple[str, Any]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.records.append((key, value))

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.records.append((key, None))


def restored(records: list[tuple[str, Any]]) -> Changelog:
    """The table a restart rebuilds from these changelog records."""
    table = Changelog()
    for key, value in records:
        if value is None:
            dict.pop(table, key, None)
        else:
            dict.__setitem__(table, key, value)
    return table


def data(table: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in table.items() if not key.startswith(journal.HEADER)}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journal, "CHUNK_BYTES", 60)  # several chunks a batch, their number varying


def test_a_crash_at_any_record_keeps_whole_batches_only() -> None:
    table = Changelog()
    states = [data(table)]
    for batch in BATCHES:
        journal.commit(table, batch)
        states.append(data(table))
    assert [len(state) for state in states] == [0, 3, 3, 3, 5]
    for cut in range(len(table.records) + 1):
        survivor = restored(table.records[:cut])
        journal.replay(survivor)
        assert data(survivor) in states, f"a crash after record {cut} left a state no batch boundary had"


def test_a_batch_is_written_through_its_chunks_and_stale_chunks_are_removed() -> None:
    table = Changelog()
    journal.commit(table, BATCHES[3])
    journal.commit(table, BATCHES[2])
    journal.commit(table, BATCHES[2])
    header = table[journal.HEADER]
    assert header["seq"] == 2 and header["chunks"][0] == 1
    assert not [key for key in table if key.startswith(f"{journal.HEADER}:0:") and key != f"{journal.HEADER}:0:0"]


def test_replay_of_an_empty_store_and_an_empty_batch_change_nothing() -> None:
    table = Changelog()
    assert journal.replay(table) == 0
    journal.commit(table, [])
    assert table == {} and table.records == []
