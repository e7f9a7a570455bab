"""The connector kinds by name: each kind's section, how it orders its changes, how it is opened.

A kind is one folder (producers/<kind>/, sinks/<kind>/) with a `kind.py` holding a SourceKind or SinkKind,
registered by one line under the entry-point group `seamline.sources` or `seamline.sinks` in pyproject.toml.
The core looks kinds up here and never names one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from seamline.connectors.sections import SinkSection, SourceSection
from seamline.connectors.sink import Sink
from seamline.connectors.source import Source, SourceTables

if TYPE_CHECKING:  # seamline.config builds its sections from this registry
    from seamline.config import KafkaConfig
    from seamline.metrics import Metrics

SOURCE_GROUP = "seamline.sources"
SINK_GROUP = "seamline.sinks"

Order = tuple[int | str, ...]


class PushSource(Protocol):
    """A source that receives its changes (a webhook receiver) and runs its own loop until SIGTERM."""

    def run(self) -> None: ...


def _never(_exc: BaseException) -> bool:
    return False


@dataclass(frozen=True)
class SourceKind:
    """A source kind: `open(name, section, kafka, metrics)` gives a Source (pulled by the shared runner) or a
    PushSource; `change_order(position, ts_ms)` orders a record's changes, so a stale re-delivery is known."""

    name: str
    section: type[SourceSection]
    open: Callable[[str, Any, KafkaConfig, Metrics], Source | PushSource]
    change_order: Callable[[str, int], Order]
    is_transient: Callable[[BaseException], bool] = _never
    """Errors of this kind's own drivers that a restart cures (the core knows Kafka's, HTTP's and psycopg's)."""
    tables: Callable[[str, Any], SourceTables] | None = None
    """`tables(name, section)` reads the objects and columns the source system has, for `seamline validate
    --connect` (SourceSetupError if it cannot connect); None for kinds whose objects are known only on arrival."""


@dataclass(frozen=True)
class SinkKind:
    """A sink kind: `open(name, section, metrics)` gives the Sink the shared runner writes through."""

    name: str
    section: type[SinkSection]
    open: Callable[[str, Any, Metrics], Sink]
    is_transient: Callable[[BaseException], bool] = _never


K = TypeVar("K", SourceKind, SinkKind)


class _Kinds(Generic[K]):
    """The kinds of one entry-point group, loaded on first use; `register` adds one at run time."""

    def __init__(self, group: str, expected: type[K]) -> None:
        self.group = group
        self.expected: type[K] = expected
        self._kinds: dict[str, K] | None = None

    def all(self) -> Mapping[str, K]:
        if self._kinds is None:
            loaded: dict[str, K] = {}
            for point in entry_points(group=self.group):
                loaded[point.name] = self._checked(loaded, point.load(), point.name)
            self._kinds = loaded
        return self._kinds

    def register(self, kind: K) -> None:
        kinds = dict(self.all())
        kinds[kind.name] = self._checked(kinds, kind, kind.name)
        self._kinds = kinds

    def _checked(self, kinds: Mapping[str, K], kind: object, name: str) -> K:
        """`kind`, once it is a kind of this group named `name` that no other kind's name takes."""
        if not isinstance(kind, self.expected) or kind.name != name:
            raise TypeError(f"{self.group} {name!r} must be a {self.expected.__name__} named {name!r}")
        if name in kinds and kinds[name] is not kind:
            raise ValueError(f"two {self.group} kinds are named {name!r}")
        return kind

    def get(self, name: str) -> K:
        kinds = self.all()
        if name not in kinds:
            raise KeyError(f"no {self.group} kind {name!r}: known kinds are {', '.join(kinds) or 'none'}")
        return kinds[name]


_sources = _Kinds(SOURCE_GROUP, SourceKind)
_sinks = _Kinds(SINK_GROUP, SinkKind)


def source_kinds() -> Mapping[str, SourceKind]:
    """Every registered source kind by name, in registration order."""
    return _sources.all()


def sink_kinds() -> Mapping[str, SinkKind]:
    """Every registered sink kind by name, in registration order."""
    return _sinks.all()


def register(kind: SourceKind | SinkKind) -> None:
    """Add a kind at run time (a plugin outside this package, a test's toy kind); the name must be new."""
    if isinstance(kind, SourceKind):
        _sources.register(kind)
    else:
        _sinks.register(kind)


def source_kind(name: str) -> SourceKind:
    """The source kind `name`; KeyError naming the known kinds if there is none."""
    return _sources.get(name)


def sink_kind(name: str) -> SinkKind:
    """The sink kind `name`; KeyError naming the known kinds if there is none."""
    return _sinks.get(name)


def change_order(connector: str, position: str, ts_ms: int) -> Order:
    """The order of a change among its record's changes, by the kind of connector that captured it."""
    return _sources.get(connector).change_order(position, ts_ms)


def transient_for_a_kind(exc: BaseException) -> bool:
    """Whether a registered kind classes `exc` as transient."""
    return any(kind.is_transient(exc) for kinds in (_sources, _sinks) for kind in kinds.all().values())
