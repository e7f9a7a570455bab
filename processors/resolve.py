"""Resolve and merge: link each cleansed change to its golden record and decide what to publish.

All identity state of an entity that links records lives in one identity partition (processors/routing.py), so
two records of the same person arriving at once through two cleanse workers are resolved one after the other:
race-free by construction. The state of a partition is four tables:

- `golden`: golden id -> {id, e: entity, f: founder [first ts, xref], v: version, r: last published record,
  m: {xref: member}}; a member is {s: system, o: source, f: fields, t: ts, c: cleared fields, k: match keys,
  l: {line xref: line fields}}.
- `links`: xref -> {g: golden id or None once deleted, o: position order applied, ft: first ts}.
- `index`: match key -> golden id; 'd:<id>|<referencing id>' -> 1 for each record referencing <id>; 'v:<id>' ->
  last version of a deleted id; 'b:<block>' -> [[id, fuzzy text]] for fuzzy suggestions; 'p:<xref>' and
  'b:<entity>|<field>=<value>' for probabilistic matching (processors/matching.py); 's:...' -> stewards'
  decisions in force (processors/constraints.py); with several partitions, 'k:<key>|<id>' -> 1 for each record
  holding referenced key <key> ('k:<key>|' once any did) and 'a:keys', the keys-topic offset acted on
  (processors/reference_keys.py).
- `held`: 'r:<key>' -> changes (each as `Cleansed.values`) waiting for the record a key names; 'w:<xref>' -> the
  key a record waits on; 'n' -> how many changes wait.

Golden ids are born from the founder: the member with the earliest first change (then the smallest xref).
When a change links several golden records, the one with the earliest founder survives and the others are
absorbed; so the surviving id depends on the records, not on the order they arrived in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from rapidfuzz import fuzz, process

from processors.checkpoint import Announced
from processors.cleanse import Cleansed
from processors.constraints import Constraints
from processors.identity import born_id, match_keys, xref_key
from processors.matching import Matcher, Probable
from processors.normalise import match_key
from processors.reference_keys import announcement, golden_id
from processors.survivorship import cleared_fields, survive
from seamline.connectors.registry import change_order
from seamline.mapping_check import canonical_fields
from seamline.processor_config import EntityMapping, ProcessorConfig

State = dict[str, Any]
BLOCK_LIMIT = 1000
"""The most records of one fuzzy block a new record is compared with (the newest); choose selective blocks."""


class Table(Protocol):
    """A key-value table: a batch's staged view of the state store, or a `MemoryTable`."""

    def get(self, key: str) -> Any: ...

    def scan(self, prefix: str) -> list[str]: ...

    def __setitem__(self, key: str, value: Any) -> None: ...

    def __delitem__(self, key: str) -> None: ...


class MemoryTable(dict[str, Any]):
    """A table in a dict: for resolving without a store (tests, benchmarks)."""

    def get_many(self, keys: list[str]) -> list[Any]:
        """The values of keys, None for each one absent."""
        return [self.get(key) for key in keys]

    def scan(self, prefix: str) -> list[str]:
        """The keys that start with `prefix`, sorted."""
        return sorted(key for key in self if key.startswith(prefix))


@dataclass(frozen=True)
class Output:
    """A record to publish: `topic` is 'canonical.<entity>' or 'seamline.suggestions'; value None is a tombstone."""

    topic: str
    key: str
    value: dict[str, Any] | None


@dataclass
class Tables:
    """The four tables of the identity partition."""

    golden: Table
    links: Table
    index: Table
    held: Table

    @classmethod
    def in_memory(cls) -> Tables:
        """Four empty `MemoryTable`s."""
        return cls(MemoryTable(), MemoryTable(), MemoryTable(), MemoryTable())


@dataclass
class Reads:
    """Keys of the links and index tables that resolving some changes reads first (the state reads them at once)."""

    links: list[str] = field(default_factory=list)
    index: list[str] = field(default_factory=list)


@dataclass
class _Step:
    """What applying one change produced: outputs, and keys that became known (they may release held changes)."""

    outputs: list[Output] = field(default_factory=list)
    announced: list[str] = field(default_factory=list)
    republish: list[str] = field(default_factory=list)


class Elsewhere(Protocol):
    """Referenced keys resolved in other identity partitions: this worker's copy of them (processors/reference_keys)."""

    def get(self, key: str) -> list[Any] | None: ...


class Resolver:
    """Applies cleansed changes to the golden state; `apply` returns what to publish, in order.

    With `elsewhere`, the identity partition is one of several: a referenced key this partition does not hold is
    looked up there; the referenced keys it writes are collected in `announced` for the other partitions, and records
    remember the referenced keys they hold (`k:<key>|<id>`), so `announce` republishes them when one changes.
    """

    def __init__(
        self,
        processor: ProcessorConfig,
        tables: Tables,
        elsewhere: Elsewhere | None = None,
        referenced: tuple[str, ...] = (),
    ) -> None:
        self.mappings: dict[str, EntityMapping] = {mapping.source: mapping for mapping in processor.mappings}
        self.line_sources = {m.line_of.source: m.source for m in processor.mappings if m.line_of}
        """Header source -> the source of its lines, for orders whose lines have a table of their own."""
        self.references: dict[str, set[str]] = {}  # entity -> fields (or 'lines.<field>') holding golden ids
        for mapping in processor.mappings:
            prefix = "lines." if mapping.line_of else ""
            self.references.setdefault(mapping.entity, set()).update(prefix + path for path in mapping.references)
        self.processor = processor
        self.elsewhere = elsewhere
        self.announced: dict[str, Announced] = {}
        """Referenced key -> the record for the keys topic, of each such key this partition wrote."""
        self.cause: Cleansed | None = None
        """The change being applied (or a decision's): the origin and time of the referenced keys it writes."""
        if elsewhere is not None:
            tables = replace(tables, index=_Announcing(tables.index, referenced, self))
        self.tables = tables
        self.matcher = Matcher(tables.index, tables.links)
        self.constraints = Constraints(tables.index)

    def reads(self, changes: list[Cleansed]) -> Reads:
        """The keys applying `changes` reads whatever the state holds: each record's link (and its order header's)
        and the cross-reference keys it claims."""
        reads = Reads()
        for change in changes:
            reads.links.append(change.xref)
            if change.parent is not None:
                reads.links.append(change.parent)
            reads.index.append(xref_key(change.xref))
            reads.index += map(xref_key, change.same_as)
        return reads

    def apply(self, change: Cleansed) -> list[Output]:
        """Apply one change, then every held change it released."""
        outputs: list[Output] = []
        queue = deque([change])
        while queue:
            step, change = _Step(), queue.popleft()
            waiting = self._waiting_on(change)
            if waiting is not None and self._known(waiting):  # released before, but not durably: release again
                queue.extendleft(reversed([*self._release(waiting), change]))
                continue
            self._apply(change, step)
            for gid in dict.fromkeys(step.republish):
                state = self.tables.golden.get(gid)
                if state is not None:
                    self._publish(state, change, step)
            outputs += step.outputs
            for key in step.announced:
                queue.extend(self._release(key))
        return outputs

    def _apply(self, change: Cleansed, step: _Step) -> None:
        self.cause = change
        links = self.tables.links
        link = links.get(change.xref)
        order = list(change_order(change.connector, change.position, change.source_ts_ms))
        if link is not None and order <= link["o"]:
            return  # a re-delivery: applied already
        if link is None and (truncated := links.get(_truncate_ref(change.source))) and order <= truncated["o"]:
            return  # a change of a row the object's truncate removed, read after it (another partition, a hold)
        if change.op == "t":
            self._truncate(change, order, step)
            return
        waiting = self._waiting_on(change)
        if waiting is not None:
            self._hold(change, waiting)
            return
        missing = self._missing(change)
        if missing is not None:
            self._hold(change, missing)
            return
        if change.parent is not None:
            self._apply_line(change, order, step)
        elif change.fields is None:
            self._delete(change, link, order, step)
        else:
            self._upsert(change, link, order, step)

    def names(self, key: str) -> str | None:
        """The golden id an index key names now: in this partition's index, else in the other partitions'."""
        gid = self.tables.index.get(key)
        if gid is None and self.elsewhere is not None:
            gid = golden_id(self.elsewhere.get(key))
        return gid

    def _known(self, key: str) -> bool:
        """Whether a key a change waits on names a record now."""
        if self.names(key) is not None:
            return True
        return key.startswith("x:") and self.tables.links.get(key.removeprefix("x:")) is not None

    def _missing(self, change: Cleansed) -> str | None:
        """The first key this change needs that names no record yet: its order header or a referenced record."""
        if change.fields is None:
            return None
        if change.parent is not None and self.tables.links.get(change.parent) is None:
            return xref_key(change.parent)
        return next(
            (key for key in self._reference_keys(change.source, change.fields) if self.names(key) is None), None
        )

    def _reference_keys(self, source: str, fields: dict[str, Any]) -> Iterator[str]:
        mapping = self.mappings[source]
        for path in mapping.references:
            head, _, line_field = path.partition(".")
            if line_field and mapping.line_of is None:
                yield from (line[line_field] for line in fields.get("lines") or [] if line.get(line_field))
            elif fields.get(path):
                yield fields[path]

    def _hold(self, change: Cleansed, key: str) -> None:
        held = self.tables.held
        held[f"r:{key}"] = [*(held.get(f"r:{key}") or []), change.values()]
        held[f"w:{change.xref}"] = key
        held["n"] = self.held_count() + 1

    def _waiting_on(self, change: Cleansed) -> str | None:
        """The key an earlier change of the same record waits on, if one does."""
        return self.tables.held.get(f"w:{change.xref}") if self.held_count() else None

    def _release(self, key: str) -> list[Cleansed]:
        held = self.tables.held
        if not self.held_count():  # nothing waits: spares looking up every key a change announces
            return []
        waiting = held.get(f"r:{key}")
        if not waiting:
            return []
        del held[f"r:{key}"]
        released = [Cleansed.from_values(values) for values in waiting]
        for change in released:
            if held.get(f"w:{change.xref}") == key:
                del held[f"w:{change.xref}"]
        held["n"] = self.held_count() - len(released)
        return released

    def held_count(self) -> int:
        """How many changes wait for a record they reference."""
        return int(self.tables.held.get("n") or 0)

    # --- upserts, merges and deletes ---------------------------------------------------------------------

    def _upsert(self, change: Cleansed, link: dict[str, Any] | None, order: list[Any], step: _Step) -> None:
        index = self.tables.index
        rules = self.processor.rules(change.entity)
        assert change.fields is not None
        own = xref_key(change.xref)
        keys = [own, *(xref_key(ref) for ref in change.same_as)]
        resolved = self._resolved(change.source, change.fields)
        keys += match_keys(change.entity, resolved, rules)
        first_ts = link["ft"] if link is not None else change.source_ts_ms
        probable = self._probable(change, link, resolved)
        found = [link["g"] if link else None, *(index.get(key) for key in keys), *sorted(probable.merge)]
        candidates = {gid for gid in found if gid}
        states = self._steered(change.xref, link["g"] if link else None, candidates)
        founder = [first_ts, change.xref]
        survivor = min(states, key=lambda state: state["f"], default=None)
        if survivor is None or (link is None or link["g"] is None) and founder < survivor["f"]:
            gid = born_id(change.xref)
            # An id goes on from its last version if it was born before; a record never linked (links are never
            # deleted) has founded none, so its id has no last version to look up
            survivor = {
                "id": gid,
                "e": change.entity,
                "f": founder,
                "v": (index.get(f"v:{gid}") or 0) if link is not None else 0,
                "r": None,
                "m": {},
            }
        for state in states:
            if state["id"] != survivor["id"]:
                self._absorb(state, survivor, change, step)
        previous = survivor["m"].get(change.xref)
        member = {
            "s": change.system,
            "o": change.source,
            "f": change.fields,
            "t": change.source_ts_ms,
            "ft": first_ts,
            "c": cleared_fields(previous, change.fields),
            "k": keys,
            "l": previous["l"] if previous else {},
        }
        survivor["m"][change.xref] = member
        self._track_keys(survivor["id"], change.source, change.fields, previous["f"] if previous else None)
        self._reindex(survivor, previous["k"] if previous else [], keys)
        step.announced += keys  # every time, not only when new: a release a crash undid happens again
        self.tables.links[change.xref] = {"g": survivor["id"], "o": order, "ft": first_ts}
        self._publish(survivor, change, step)
        step.outputs += self._probable_suggestions(survivor, probable)

    def _steered(self, ref: str, own: str | None, candidates: set[str]) -> list[State]:
        """The candidate golden records of record `ref` (in golden record `own`), sorted by id, as stewards'
        decisions leave them: with those of records accepted as one with it, without those kept apart from it or
        from each other (processors/constraints.py)."""
        golden, constraints = self.tables.golden, self.constraints
        if not constraints.active():
            return [state for gid in sorted(candidates) if (state := golden.get(gid)) is not None]
        links = [self.tables.links.get(partner) for partner in constraints.partners(ref)]
        candidates = candidates | {link["g"] for link in links if link is not None and link["g"]}
        states = [state for gid in sorted(candidates) if (state := golden.get(gid)) is not None]
        return constraints.compatible(states, ref, own)

    def _absorb(self, absorbed: State, survivor: State, change: Cleansed, step: _Step) -> None:
        """Move every member of `absorbed` into `survivor`; its final record points at the survivor."""
        golden, index = self.tables.golden, self.tables.index
        for ref, member in absorbed["m"].items():
            survivor["m"][ref] = member
            self._relink(ref, survivor["id"])
            self._track_keys(survivor["id"], member["o"], member["f"], None)
            for line_ref, line in member["l"].items():
                self._relink(line_ref, survivor["id"])
                self._track_keys(survivor["id"], self.line_sources[member["o"]], line, None)
            for key in member["k"]:
                index[key] = survivor["id"]
        if absorbed["r"] is not None:
            final = {**absorbed["r"], "version": absorbed["v"] + 1, "deleted": True, "merged_into": survivor["id"]}
            self._finish(absorbed, {**final, "origin": change.system, "updated_at": change.source_ts_ms}, step)
        dependents = self._dependents(absorbed["id"], forget=True)
        for dependent in dependents:
            index[_dependent_key(survivor["id"], dependent)] = 1
        step.republish.extend(dependents)
        del golden[absorbed["id"]]

    def _delete(self, change: Cleansed, link: dict[str, Any] | None, order: list[Any], step: _Step) -> None:
        links = self.tables.links
        gid = link["g"] if link else None
        links[change.xref] = {"g": None, "o": order, "ft": link["ft"] if link else change.source_ts_ms}
        state = self.tables.golden.get(gid) if gid else None
        if state is None or change.xref not in state["m"]:
            return
        member = state["m"].pop(change.xref)
        self._reindex(state, member["k"], [])
        self.matcher.forget(change.xref)
        for line_ref in member["l"]:
            self._relink(line_ref, None)
        rules = self.processor.rules(change.entity)
        if state["m"] and change.system != rules.authoritative:
            self._publish(state, change, step)
            return
        index = self.tables.index
        for ref, other in state["m"].items():
            self._relink(ref, None)
            for key in other["k"]:
                if index.get(key) == state["id"]:
                    del index[key]
        if state["r"] is not None:
            final = {**state["r"], "version": state["v"] + 1, "deleted": True}
            self._finish(state, {**final, "origin": change.system, "updated_at": change.source_ts_ms}, step)
            self.tables.index[f"v:{state['id']}"] = state["v"] + 1
            step.republish.extend(self._dependents(state["id"]))
        del self.tables.golden[state["id"]]

    def _truncate(self, change: Cleansed, order: list[Any], step: _Step) -> None:
        """A truncate of a source object: every row of it linked before the truncate is deleted, as its own delete
        would (unlinked, or deleted with its golden record when the system is authoritative or alone)."""
        links, golden = self.tables.links, self.tables.golden
        prefix = _truncate_ref(change.source)
        links[prefix] = {"g": None, "o": order, "ft": change.source_ts_ms}
        for ref in links.scan(prefix):
            link = links.get(ref)
            if ref == prefix or link is None or link["g"] is None or order <= link["o"]:
                continue  # the marker itself, gone already, or changed after the truncate
            deleted = replace(change, source_key=ref.removeprefix(prefix), op="d")
            if self.mappings[change.source].line_of is None:
                self._delete(deleted, link, order, step)
                continue
            state = golden.get(link["g"])
            header = next((ref_ for ref_, member in (state or {"m": {}})["m"].items() if ref in member["l"]), None)
            if header is None:
                links[ref] = {**link, "g": None, "o": order}
            else:
                self._apply_line(replace(deleted, parent=header), order, step)

    def _apply_line(self, change: Cleansed, order: list[Any], step: _Step) -> None:
        """An order line from its own table: stored under its header's member, then the order is republished."""
        assert change.parent is not None
        links = self.tables.links
        parent = links.get(change.parent)
        state = self.tables.golden.get(parent["g"]) if parent and parent["g"] else None
        if state is None:
            # The header was deleted. Lines come on a topic of their own, so a change the source made to a
            # line before deleting its order may arrive after that delete: there is nothing left to change.
            links[change.xref] = {"g": None, "o": order, "ft": change.source_ts_ms}
            return
        lines = state["m"][change.parent]["l"]
        if change.fields is None:
            lines.pop(change.xref, None)
        else:
            self._track_keys(state["id"], change.source, change.fields, lines.get(change.xref))
            lines[change.xref] = change.fields
        links[change.xref] = {"g": state["id"] if change.fields else None, "o": order, "ft": change.source_ts_ms}
        self._publish(state, change, step)

    def _relink(self, ref: str, gid: str | None) -> None:
        """Point a cross-reference at another golden id (None: at none), keeping the position applied.

        A member whose change reached `golden` but not `links` before a crash has no link yet: it gets one
        with no position, so that change is applied again when it is read again.
        """
        link = self.tables.links.get(ref) or {"o": [], "ft": 0}
        self.tables.links[ref] = {**link, "g": gid}

    def _reindex(self, state: State, old: list[str], new: list[str]) -> None:
        """Point the member's new keys at the golden record; drop old keys no other member holds."""
        index = self.tables.index
        for key in new:
            if index.get(key) != state["id"]:
                index[key] = state["id"]
        kept = {key for member in state["m"].values() for key in member["k"]}
        for key in set(old) - set(new) - kept:
            if index.get(key) == state["id"]:
                del index[key]

    # --- records -----------------------------------------------------------------------------------------

    def _resolved(self, source: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Fields with each reference key replaced by the golden id it names now (None if it names none)."""
        mapping = self.mappings[source]
        if not mapping.references:
            return fields
        names = self.names
        resolved = dict(fields)
        for path in mapping.references:
            head, _, line_field = path.partition(".")
            if line_field and mapping.line_of is None:
                resolved["lines"] = [
                    {**line, line_field: names(line[line_field]) if line.get(line_field) else None}
                    for line in fields.get("lines") or []
                ]
            elif fields.get(path):
                resolved[path] = names(fields[path])
        return resolved

    def _effective(self, member: dict[str, Any]) -> dict[str, Any]:
        """A member's fields as the golden record sees them: references resolved, separate lines gathered."""
        fields = self._resolved(member["o"], member["f"])
        if member["l"]:
            lines = [self._resolved(self.line_sources[member["o"]], line) for line in member["l"].values()]
            fields = {**fields, "lines": sorted(lines, key=lambda line: line["line_number"])}
        return fields

    def _publish(self, state: State, change: Cleansed, step: _Step) -> None:
        """Publish a new version if the record's fields or xrefs changed; store the state."""
        entity = state["e"]
        rules = self.processor.rules(entity)
        members = {ref: {**member, "f": self._effective(member)} for ref, member in state["m"].items()}
        fields = survive(canonical_fields(entity), members, rules)
        firsts: dict[str, tuple[int, str]] = {}
        for ref, member in state["m"].items():
            firsts[member["s"]] = min(firsts.get(member["s"], (member["ft"], ref)), (member["ft"], ref))
        xrefs = {system: ref.split(":", 1)[1] for system, (_, ref) in sorted(firsts.items())}
        previous = state["r"]
        self._track_references(entity, state["id"], fields, previous)
        links = sorted(state["m"])
        unchanged = previous is not None and previous["xrefs"] == xrefs and previous["links"] == links
        if unchanged and all(previous.get(k) == v for k, v in fields.items()):
            self.tables.golden[state["id"]] = state
            return
        state["v"] += 1
        record = {
            **fields,
            "id": state["id"],
            "version": state["v"],
            "deleted": False,
            "xrefs": xrefs,
            "links": links,
            "origin": change.system,
            "updated_at": change.source_ts_ms,
            "merged_into": None,
        }
        state["r"] = record
        self.tables.golden[state["id"]] = state
        step.outputs.append(Output(f"canonical.{entity}", state["id"], record))
        if rules.fuzzy is not None:
            step.outputs += self._suggest(state, record)

    def _finish(self, state: State, final: dict[str, Any], step: _Step) -> None:
        """The final record of a golden id, then its tombstone."""
        topic = f"canonical.{state['e']}"
        step.outputs += [Output(topic, state["id"], final), Output(topic, state["id"], None)]
        self._unblock(state)

    def _track_references(
        self, state_entity: str, gid: str, fields: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        """Remember which golden records this one references, so a merge of those republishes it. Those its
        previous record referenced are remembered already (a merge that forgets them republishes this one); a new
        one is written without looking it up: most are misses, and writing one again changes nothing."""
        if self.elsewhere is not None:
            return  # one of several partitions: records remember the referenced keys they hold instead (`announce`)
        index = self.tables.index
        known = self._targets(state_entity, previous) if previous is not None else set()
        for target in self._targets(state_entity, fields) - known:
            index[_dependent_key(target, gid)] = 1

    def _targets(self, state_entity: str, fields: dict[str, Any]) -> set[str]:
        """The golden ids a record's fields reference."""
        targets: set[str] = set()
        for path in self.references.get(state_entity, ()):
            head, _, line_field = path.partition(".")
            values = [line.get(line_field) for line in fields.get("lines") or []] if line_field else [fields.get(path)]
            targets.update(value for value in values if value)
        return targets

    def _dependents(self, target: str, forget: bool = False) -> list[str]:
        """The golden ids of the records that referenced `target` (some may no longer do); `forget` drops them."""
        index = self.tables.index
        keys = index.scan(_dependent_key(target, ""))
        legacy = index.get(f"d:{target}") or []  # one list per target, as states written before 2026-12-04 hold
        if forget:
            for key in keys:
                del index[key]
            if legacy:
                del index[f"d:{target}"]
        return sorted({*(key.partition("|")[2] for key in keys), *legacy})

    # --- referenced keys of other partitions -------------------------------------------------------------

    def announce(self, key: str, value: list[Any], event_id: str) -> list[Output]:
        """Act on a referenced key that a partition's change made name `value` ([golden id or None, system, time];
        processors/reference_keys.py): republish the records here that reference it, then apply the changes held
        on it."""
        step = _Step()
        for gid in self._keyed_dependents(key):
            if (state := self.tables.golden.get(gid)) is not None:
                _, system, ts = value
                self.cause = Cleansed("", system, "", key, "u", {}, "", "", ts, event_id)
                self._publish(state, self.cause, step)
        outputs = step.outputs
        for change in self._release(key):
            outputs += self.apply(change)
        return outputs

    def announce_reads(self, keys: list[str]) -> Reads:
        """What `announce` of these keys reads first: whether any record here held each."""
        return Reads(index=[_keyed_dependent(key, "") for key in keys])

    def _track_keys(self, gid: str, source: str, fields: dict[str, Any], previous: dict[str, Any] | None) -> None:
        """In one of several partitions: remember the referenced keys a member's fields hold that its previous
        fields did not, so that `announce` of one republishes golden record `gid` (writing one again changes
        nothing; one the member no longer holds republishes it in vain)."""
        if self.elsewhere is None or not self.mappings[source].references:
            return
        index = self.tables.index
        known = set(self._reference_keys(source, previous)) if previous is not None else set()
        for key in set(self._reference_keys(source, fields)) - known:
            index[_keyed_dependent(key, gid)] = 1
            marker = _keyed_dependent(key, "")  # some record did: a key no record held is not looked up further
            if index.get(marker) is None:  # written once, not again with each record that holds the key
                index[marker] = 1

    def _keyed_dependents(self, key: str) -> list[str]:
        """The golden ids of the records here that held referenced key `key`."""
        index, prefix = self.tables.index, _keyed_dependent(key, "")
        if index.get(prefix) is None:
            return []
        return [dependent.rpartition("|")[2] for dependent in index.scan(prefix) if dependent != prefix]

    # --- probabilistic matches ---------------------------------------------------------------------------

    def _probable(self, change: Cleansed, link: dict[str, Any] | None, fields: dict[str, Any]) -> Probable:
        """The golden records the change's record probably belongs to, or resembles (processors/matching.py)."""
        rule = self.processor.rules(change.entity).probabilistic
        if rule is None:
            return Probable()
        return self.matcher.place(change.entity, change.xref, link["g"] if link else None, fields, rule)

    def _probable_suggestions(self, state: State, probable: Probable) -> list[Output]:
        """A suggestion for each golden record the record resembles that is neither merged with it nor gone."""
        outputs = []
        for gid, (weight, agreements) in sorted(probable.suggest.items()):
            if gid != state["id"] and self.tables.golden.get(gid) is not None and not self._kept_apart(state, gid):
                value = {
                    "entity": state["e"],
                    "id": state["id"],
                    "candidate_id": gid,
                    "score": round(weight, 2),
                    "rule": f"probabilistic:{agreements or 'none'}",
                }
                outputs.append(Output("seamline.suggestions", state["id"], value))
        return outputs

    # --- fuzzy suggestions -------------------------------------------------------------------------------

    def _suggest(self, state: State, record: dict[str, Any]) -> list[Output]:
        """Merge suggestions for records in the same block whose fuzzy text is alike; each pair once.

        Compared only when the record's block or text changed, against at most BLOCK_LIMIT records of the block.
        """
        fuzzy = self.processor.rules(state["e"]).fuzzy
        assert fuzzy is not None
        block = match_key(record.get(fuzzy.block))
        text = match_key(" ".join(str(record[name]) for name in fuzzy.fields if record.get(name)))
        bucket_key = f"b:{state['e']}|{block}" if block is not None and text is not None else None
        if bucket_key == state.get("b") and text == state.get("ft"):
            return []
        self._unblock(state)
        if bucket_key is None:
            return []
        index = self.tables.index
        bucket = index.get(bucket_key) or []
        index[bucket_key] = [*bucket[-BLOCK_LIMIT + 1 :], [state["id"], text]]
        state["b"], state["ft"] = bucket_key, text
        suggested = set(state.get("sg", []))
        matches = process.extract(
            text,
            [other_text for _, other_text in bucket],
            scorer=fuzz.token_sort_ratio,
            score_cutoff=fuzzy.threshold,
            limit=None,
        )
        outputs = []
        for _, score, position in matches:
            other = bucket[position][0]
            if other not in suggested and not self._kept_apart(state, other):
                suggested.add(other)
                value = {
                    "entity": state["e"],
                    "id": state["id"],
                    "candidate_id": other,
                    "score": score,
                    "rule": f"fuzzy:{'+'.join(fuzzy.fields)}@{fuzzy.block}",
                }
                outputs.append(Output("seamline.suggestions", state["id"], value))
        state["sg"] = sorted(suggested)
        self.tables.golden[state["id"]] = state
        return outputs

    def _kept_apart(self, state: State, other: str) -> bool:
        """Whether a steward decided golden record `other` is not the same as `state` (so it is not suggested)."""
        constraints = self.constraints
        if not constraints.active():
            return False
        other_state = self.tables.golden.get(other)
        return other_state is not None and constraints.separated(state, other_state)

    def _unblock(self, state: State) -> None:
        """Take a golden record out of its fuzzy block."""
        bucket_key = state.pop("b", None)
        state.pop("ft", None)
        if bucket_key is None:
            return
        index = self.tables.index
        index[bucket_key] = [entry for entry in index.get(bucket_key) or [] if entry[0] != state["id"]]


def _truncate_ref(source: str) -> str:
    """The links key where a truncate of source object `source` ('<system>.<object>') keeps its position: the
    prefix of the object's cross-references, which no row's has (keys are never empty)."""
    return f"{source}:"


def _keyed_dependent(key: str, dependent: str) -> str:
    """The index key that says golden record `dependent` holds referenced key `key` (an identity partition of
    several)."""
    return f"k:{key}|{dependent}"


class _Announcing:
    """An index table that collects the writes of referenced keys, for the keys topic, with the change that made
    each (`Resolver.cause`)."""

    get: Callable[[str], Any]
    scan: Callable[[str], list[str]]

    def __init__(self, index: Table, referenced: tuple[str, ...], resolver: Resolver) -> None:
        self.index = index
        self.referenced = referenced
        self.resolver = resolver
        self.get, self.scan = index.get, index.scan  # reads go straight to the table

    def __setitem__(self, key: str, value: Any) -> None:
        self.index[key] = value
        if key.startswith(self.referenced):
            self._announce(key, value)

    def __delitem__(self, key: str) -> None:
        del self.index[key]
        if key.startswith(self.referenced):
            self._announce(key, None)

    def _announce(self, key: str, gid: str | None) -> None:
        cause = self.resolver.cause
        assert cause is not None, "a referenced key written outside a change"
        self.resolver.announced[key] = announcement(key, gid, cause.system, cause.source_ts_ms)


def _dependent_key(target: str, dependent: str) -> str:
    """The index key that says golden record `dependent` references `target`: one key each, so a record that many
    others reference is not rewritten whole for each new one."""
    return f"d:{target}|{dependent}"
