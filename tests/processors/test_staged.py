"""Staged state: a batch sees its own writes, the store never changes under it, the cache spares reads."""

from pathlib import Path
from typing import Any

from processors.resolve import MemoryTable, Reads
from processors.staged import Cache, Staged, StagedState
from processors.state_store import StateStore, encode


class CountingTable(MemoryTable):
    reads = 0
    many = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)

    def get_many(self, keys: list[str]) -> list[Any]:
        self.many += 1
        return [super(CountingTable, self).get(key) for key in keys]


def test_a_batch_reads_its_own_writes_and_hands_them_over_without_touching_the_store() -> None:
    store = CountingTable({"golden:a": 1, "golden:b": 2, "links:a": 5})
    state = StagedState(store)
    golden = state.tables.golden
    golden["a"] = 10
    del golden["b"]
    golden["c"] = 3
    assert (golden.get("a"), golden.get("b"), golden.get("c"), golden.get("d")) == (10, None, 3, None)
    assert state.tables.links.get("a") == 5 and state.tables.index.get("a") is None
    assert store == {"golden:a": 1, "golden:b": 2, "links:a": 5}
    assert state.writes() == [("golden:a", 10), ("golden:b", None), ("golden:c", 3)]
    assert store == {"golden:a": 1, "golden:b": 2, "links:a": 5}


def test_writes_are_listed_in_the_order_first_made() -> None:
    staged = Staged(MemoryTable(), "p:")
    for key in "zay":
        staged[key] = key
    del staged["z"]
    assert staged.writes() == [("p:z", None), ("p:a", "a"), ("p:y", "y")]


def test_the_cache_serves_committed_and_absent_keys_without_reading_the_store() -> None:
    store, cache = CountingTable({"p:a": 1}), Cache()
    first = Staged(store, "p:", cache)
    assert first.get("a") == 1 and first.get("missing") is None
    first["b"] = 2
    first.settle()
    reads = store.reads
    second = Staged(store, "p:", cache)
    assert (second.get("a"), second.get("b"), second.get("missing")) == (1, 2, None)
    assert store.reads == reads


def test_a_full_cache_keeps_the_keys_in_use_and_forgets_the_others() -> None:
    store = CountingTable({"a": "a"})
    cache = Cache(limit=4)
    staged = Staged(store, "", cache)
    for batch in ("bc", "de", "fg"):  # each batch fills a generation of 2
        staged.get("a")  # read in every batch: it stays cached
        for key in batch:
            staged[key] = key
        staged.settle()
    reads = store.reads
    assert Staged(store, "", cache).get("a") == "a" and store.reads == reads
    assert Staged(store, "", cache).get("b") is None and store.reads == reads + 1


def test_a_scan_sees_committed_keys_and_the_batch_s_writes_and_deletes() -> None:
    store = MemoryTable({"p:d:a|1": 1, "p:d:a|2": 1, "p:d:ab|3": 1, "p:d:b|4": 1})
    staged = Staged(store, "p:")
    staged["d:a|5"] = 1
    del staged["d:a|1"]
    staged["d:c|6"] = 1
    staged["d:a|7|x"] = 1
    del staged["d:a|7|x"]
    staged["d:a|8|y"] = 1
    assert staged.scan("d:a|") == ["d:a|2", "d:a|5", "d:a|8|y"]
    assert staged.scan("d:a|8|") == ["d:a|8|y"]
    assert staged.scan("d:") == sorted(["d:a|2", "d:a|5", "d:a|8|y", "d:ab|3", "d:b|4", "d:c|6"])
    staged.settle()
    # the next batch scans only the store (this one took none of the writes): the settled batch's groups are gone
    assert staged.scan("d:a|8|") == [] and staged.scan("d:c|") == []


def test_a_prefetch_reads_the_uncached_keys_in_one_call_and_the_batch_then_reads_none() -> None:
    store = CountingTable({"links:a": 1, "links:b": 2, "index:x:a": "g"})
    state = StagedState(store)
    links = state.tables.links
    assert links.get("b") == 2 and store.reads == 1  # read before: not read again
    state.prefetch(Reads(links=["a", "b", "new", "a"], index=["x:a"]))
    assert store.many == 2 and store.reads == 1  # one call per table, "b" left out
    values = (links.get("a"), links.get("b"), links.get("new"), state.tables.index.get("x:a"))
    assert values == (1, 2, None, "g") and store.reads == 1


def test_the_store_reads_many_keys_at_once_as_it_reads_each(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "store")
    try:
        store.apply([(b"links:a", encode({"g": "1"})), (b"index:x:a", encode("1"))], 2)
        keys = ["links:a", "links:missing", "index:x:a"]
        assert store.get_many(keys) == [store.get(key) for key in keys] == [{"g": "1"}, None, "1"]
    finally:
        store.close()
