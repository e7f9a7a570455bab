"""A steward's decision applied to the golden state: recorded as a constraint, then acted on at once.

- accept: the golden records of the two sets merge through the resolver's absorb path (the earliest founder
  survives; the others end with a final record naming it in `merged_into`, then a tombstone);
- reject: nothing changes now; the two sets are never merged nor suggested again;
- split: every member of the golden records involved is placed again, founder first, as a replay would place them
  under the new constraint: the side with the founder keeps the golden id, the others join by their match keys
  (but never the side they left) or get golden records of their own.

Records a steward's decision publishes have origin 'steward' and the decision's time.
"""

from __future__ import annotations

from typing import Any

from processors.cleanse import Cleansed
from processors.identity import xref_key
from processors.resolve import Output, Resolver, State, _Step
from seamline.decisions import Decision

ORIGIN = "steward"


def apply_decision(resolver: Resolver, offset: int, decision: Decision) -> list[Output]:
    """Put the decision at `offset` in force and act on it; what to publish, in order."""
    known = {mapping.entity for mapping in resolver.processor.mappings if mapping.line_of is None}
    if decision.entity not in known:
        raise ValueError(
            f"a {decision.kind} decision about entity {decision.entity!r}, which no mapping of this processor makes "
            f"(entities: {', '.join(sorted(known))}): publish decisions about the pipeline's own records"
        )
    resolver.constraints.record(decision.key, offset, decision.kind, decision.records, decision.others)
    change = Cleansed(
        decision.entity, ORIGIN, "decision", decision.key, "u", {}, "", "", decision.time, f"decision:{offset}"
    )
    resolver.cause = change
    step = _Step()
    states = _holding(resolver, decision)
    if decision.kind == "accept" and len(states) > 1:
        _merge(resolver, states, change, step)
    elif decision.kind == "split" and states:
        _place_again(resolver, states, change, step)
    for gid in dict.fromkeys(step.republish):
        if (state := resolver.tables.golden.get(gid)) is not None:
            resolver._publish(state, change, step)
    return step.outputs


def _holding(resolver: Resolver, decision: Decision) -> list[State]:
    """The golden records of the entity that hold any record the decision names, sorted by id."""
    golden, links = resolver.tables.golden, resolver.tables.links
    gids = {link["g"] for ref in (*decision.records, *decision.others) if (link := links.get(ref)) and link["g"]}
    states = [state for gid in sorted(gids) if (state := golden.get(gid)) is not None]
    return [state for state in states if state["e"] == decision.entity]


def _merge(resolver: Resolver, states: list[State], change: Cleansed, step: _Step) -> None:
    """Merge the golden records into the one with the earliest founder, but those a decision keeps apart."""
    survivor = min(states, key=lambda state: state["f"])
    merged = resolver.constraints.compatible(states, survivor["f"][1], survivor["id"])
    for state in merged:
        if state["id"] != survivor["id"]:
            resolver._absorb(state, survivor, change, step)
    resolver._publish(survivor, change, step)


def _place_again(resolver: Resolver, states: list[State], change: Cleansed, step: _Step) -> None:
    """Empty the golden records, then place each of their members again, founder first."""
    golden, links, index = resolver.tables.golden, resolver.tables.links, resolver.tables.index
    members: dict[str, dict[str, Any]] = {}
    dependents: list[str] = []
    for state in states:
        members.update(state["m"])
        index[f"v:{state['id']}"] = state["v"]  # an id born again goes on from its last version
        resolver._unblock(state)
        old_keys = [key for member in state["m"].values() for key in member["k"]]
        state["m"] = {}
        resolver._reindex(state, old_keys, [])
        dependents += resolver._dependents(state["id"])
        del golden[state["id"]]
    for ref in members:
        resolver._relink(ref, None)
    placed: set[str] = set()
    for ref, member in sorted(members.items(), key=lambda item: (item[1]["ft"], item[0])):
        link = links.get(ref)
        resolver._upsert(_member_change(ref, member, change), link, link["o"], step)
        gid = links.get(ref)["g"]
        state = golden.get(gid)
        state["m"][ref] = {**state["m"][ref], "c": member["c"], "l": member["l"]}  # as its changes left them
        for line_ref in member["l"]:
            resolver._relink(line_ref, gid)
        golden[gid] = state
        placed.add(gid)
    for state in states:
        if state["id"] not in placed and state["r"] is not None:  # its founder had gone: no side took its id
            final = {**state["r"], "version": state["v"] + 1, "deleted": True, "origin": ORIGIN}
            resolver._finish(state, {**final, "updated_at": change.source_ts_ms}, step)
            index[f"v:{state['id']}"] = state["v"] + 1
    step.republish += [*sorted(placed), *dependents]


def _member_change(ref: str, member: dict[str, Any], decision: Cleansed) -> Cleansed:
    """The member's last change again, as the resolver saw it (its fields, time and external ids)."""
    source = member["o"]
    system, obj = source.split(".", 1)
    same_as = [key.removeprefix("x:") for key in member["k"] if key.startswith("x:") and key != xref_key(ref)]
    key, fields, ts = ref[len(source) + 1 :], member["f"], member["t"]
    return Cleansed(decision.entity, system, obj, key, "u", fields, "", "", ts, decision.event_id, same_as)
