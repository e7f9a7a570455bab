"""A connector kind is one folder and one registry line: a toy kind registered here is validated, named in
topics, ordered and opened by the core, which knows no kind by name."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from seamline.config import ConfigError, KafkaConfig, load_config
from seamline.connectors import registry
from seamline.connectors.registry import SourceKind, change_order, register, source_kind, source_kinds
from seamline.connectors.sections import SourceSection
from seamline.connectors.source import Checkpoint, Source
from seamline.events import Change
from seamline.metrics import Metrics
from seamline.topics import config_topics


class ToySection(SourceSection):
    """A toy source: `count` numbered rows of one object."""

    kind: Literal["toy"]
    system: str = Field("toyland")
    count: int = Field(3, ge=1)

    def topic_objects(self) -> list[str]:
        return ["bricks"]


class ToySource(Source):
    def __init__(self, name: str, config: ToySection) -> None:
        self.name, self.config = name, config

    def setup(self, resume: Checkpoint | None) -> None:
        pass

    def changes(self) -> Generator[Change | Checkpoint | None, None, None]:
        for n in range(self.config.count):
            yield Change(self.config.system, "bricks", "toy", "c", {"id": str(n)}, None, {"id": str(n)}, str(n), 0)
        yield Checkpoint(str(self.config.count), snapshot_done=True)

    def commit(self, checkpoint: Checkpoint) -> None:
        pass

    def close(self) -> None:
        pass

    def observe_lag(self) -> None:
        pass


def toy_order(position: str, _ts_ms: int) -> tuple[int | str, ...]:
    return (int(position),)


TOY = SourceKind("toy", ToySection, lambda name, section, _kafka, _metrics: ToySource(name, section), toy_order)


@pytest.fixture
def toy_registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The toy kind registered for this test only."""
    monkeypatch.setattr(registry._sources, "_kinds", dict(source_kinds()))
    register(TOY)
    yield


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "seamline.yaml"
    path.write_text("sources:\n  play:\n    kind: toy\n" + body)
    return path


def test_the_shipped_kinds_come_from_the_entry_points() -> None:
    assert list(source_kinds()) == ["http_poll", "postgres_cdc", "salesforce", "sql_poll", "webhook"]
    assert sorted(registry.sink_kinds()) == ["http", "mailchimp", "postgres", "salesforce", "zendesk"]


def test_a_registered_kind_is_validated_named_in_topics_ordered_and_opened(
    toy_registered: None, tmp_path: Path
) -> None:
    config = load_config(write(tmp_path, "    count: 2\n"))
    section = config.sources["play"]
    assert isinstance(section, ToySection) and section.count == 2
    assert "src.toyland.bricks" in config_topics(config)
    assert change_order("toy", "10", 0) > change_order("toy", "9", 0)
    source = source_kind("toy").open("play", section, KafkaConfig(), Metrics.create())
    assert isinstance(source, ToySource)
    assert [c.key for c in source.changes() if isinstance(c, Change)] == [{"id": "0"}, {"id": "1"}]


def test_its_section_errors_are_located_like_every_other(toy_registered: None, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"seamline.yaml:4: sources.play.count: Input should be greater than"):
        load_config(write(tmp_path, "    count: 0\n"))


def test_an_unknown_kind_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'toy' .* expected tags: 'http_poll', 'postgres_cdc'"):
        load_config(write(tmp_path, ""))
    with pytest.raises(KeyError, match="no seamline.sources kind 'toy': known kinds are http_poll, postgres_cdc"):
        source_kind("toy")


def test_a_second_kind_of_the_same_name_is_refused(toy_registered: None) -> None:
    with pytest.raises(ValueError, match="two seamline.sources kinds are named 'toy'"):
        register(SourceKind("toy", ToySection, TOY.open, toy_order))
    with pytest.raises(TypeError, match="must be a SinkKind"):
        registry._sinks.register(TOY)  # type: ignore[arg-type]
