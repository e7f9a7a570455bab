"""Staged table writes: a batch sees its own writes, the table changes only on commit, the cache spares reads."""

from typing import Any

from processors.staged import Cache, Staged


class CountingTable(dict[str, Any]):
    reads = 0

    def get(self, key: str, default: Any = None) -> Any:
        self.reads += 1
        return super().get(key, default)


def test_writes_reach_the_table_only_on_commit_and_reads_see_them_before() -> None:
    table = CountingTable(a=1, b=2)
    staged = Staged(table)
    staged["a"] = 10
    del staged["b"]
    staged["c"] = 3
    assert (staged.get("a"), staged.get("b"), staged.get("c"), staged.get("d")) == (10, None, 3, None)
    assert table == {"a": 1, "b": 2}
    contexts = []
    staged.commit(lambda: contexts.append("set"))
    assert table == {"a": 10, "c": 3} and contexts == ["set"]


def test_the_cache_serves_committed_and_absent_keys_without_reading_the_table() -> None:
    table, cache = CountingTable(a=1), Cache()
    first = Staged(table, cache)
    assert first.get("a") == 1 and first.get("missing") is None
    first["b"] = 2
    first.commit()
    reads = table.reads
    second = Staged(table, cache)
    assert (second.get("a"), second.get("b"), second.get("missing")) == (1, 2, None)
    assert table.reads == reads


def test_a_full_cache_starts_over() -> None:
    table, cache = CountingTable(), Cache(limit=2)
    staged = Staged(table, cache)
    for key in "abc":
        staged[key] = key
    staged.commit()
    assert len(cache) <= 3 and table == {"a": "a", "b": "b", "c": "c"}
    staged["d"] = "d"
    staged.commit()
    assert "a" not in cache and cache["d"] == "d"
