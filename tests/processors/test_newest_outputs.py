"""A resolve batch publishes each canonical record once, at its newest version; final records and suggestions stay."""

from processors.batch import _newest, _Pending
from processors.resolve import Output


def pending(*outputs: tuple[str, str, int | None]) -> list[_Pending]:
    return [
        _Pending(Output(topic, key, None if version is None else {"version": version}), f"e{n}", None, b"")  # type: ignore[arg-type]
        for n, (topic, key, version) in enumerate(outputs)
    ]


def kept(batch: list[_Pending]) -> list[tuple[str, str, int | None]]:
    return [
        (p.output.topic, p.output.key, None if p.output.value is None else p.output.value["version"])
        for p in _newest(batch)
    ]


def test_only_the_newest_version_of_a_record_is_published_in_its_place_in_the_batch() -> None:
    batch = pending(
        ("canonical.sales_order", "o1", 1),
        ("canonical.customer", "c1", 1),
        ("canonical.sales_order", "o1", 2),
        ("canonical.sales_order", "o1", 3),
    )
    assert kept(batch) == [("canonical.customer", "c1", 1), ("canonical.sales_order", "o1", 3)]
    assert [p.event_id for p in _newest(batch)] == ["e1", "e3"], "the newest version names the change that made it"


def test_a_final_version_before_its_tombstone_and_a_record_born_again_after_it_are_kept() -> None:
    batch = pending(
        ("canonical.customer", "c2", 4),
        ("canonical.customer", "c2", 5),  # the final record of a merge
        ("canonical.customer", "c2", None),
        ("canonical.customer", "c2", 6),
    )
    assert kept(batch) == [
        ("canonical.customer", "c2", 5),
        ("canonical.customer", "c2", None),
        ("canonical.customer", "c2", 6),
    ]


def test_suggestions_are_kept_whole() -> None:
    batch = pending(("seamline.suggestions", "c1", 1), ("seamline.suggestions", "c1", 1))
    assert len(kept(batch)) == 2
