"""The zendesk sink: canonical customers upserted into Zendesk as users (persons) and organizations (companies)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from seamline.connectors.sink import Outcome, Rejected, Sink, SinkRecord, TargetFailing, without_values
from seamline.mapping import MappingError, map_row
from seamline.retry import ServerUnavailable
from seamline.sync_marks import marked_version, sync_mark, value_at
from sinks.newest_versions import newest_per_key
from sinks.reverse_mapping import ReverseMapping, unmappable
from sinks.zendesk.api import BULK, Record, Resource, ZendeskApi
from sinks.zendesk.config import ZendeskSink

_CUSTOM = {"users": "user_fields", "organizations": "organization_fields"}
_KIND: dict[Resource, Literal["user", "organization"]] = {"users": "user", "organizations": "organization"}
_LIVE: dict[Resource, Record] = {"users": {"active": True}, "organizations": {"deleted_at": None}}
"""What a live record holds, in the fields that mark a deleted one."""


@dataclass
class _Plan:
    """What to do for one chunk of up to 100 records: items to upsert per resource, then removals
    (record, resource, Zendesk id, the user to merge into or None to delete)."""

    upserts: dict[Resource, list[tuple[SinkRecord, Record]]] = field(
        default_factory=lambda: {"users": [], "organizations": []}
    )
    removals: list[tuple[SinkRecord, Resource, int, int | None]] = field(default_factory=list)


class ZendeskTarget(Sink):
    """Writes canonical customers into a Zendesk account: a customer with a value in `organizations.when` as an
    organization, the others as users, identified by `external_id` = golden id.

    Delivery: at-least-once from the runner, exactly-once in effect. Per 100 records: one show_many read per
    resource, then one create_or_update_many job per resource, polled to completion; a job's failed items are
    rejected with Zendesk's reason, the others are written. The version guard lives in Zendesk: every item
    carries a sync mark in the `sync_field` custom field (seamline/sync_marks.py) with the version written, and a
    version no newer than the held one is not sent. The mark's digest also lets the http_poll source leave out
    the sink's own writes when it exports them (loop prevention); an echo of this system's own values is not
    written back either. A deleted version deletes the user or organization (Zendesk keeps a deleted user, with
    its tickets, as inactive); one merged into another customer merges its user into that customer's user, so
    its tickets follow. The runner remembers deleted versions (sinks/deleted_versions.py), as Zendesk's
    show_many does not return deleted records.
    """

    def __init__(self, name: str, config: ZendeskSink) -> None:
        self.name = name
        self.config = config
        self.customers = config.entities["customer"]
        self.mapping = ReverseMapping(config)
        self._api: ZendeskApi | None = None

    @property
    def api(self) -> ZendeskApi:
        assert self._api is not None, "setup() first"
        return self._api

    def setup(self) -> None:
        """Check the custom fields the sink writes exist; PermissionError (one line) if not, or if refused."""
        self._api = ZendeskApi(self.config)
        try:
            self._check_fields("user", self.customers.fields)
            if self.customers.organizations is not None:
                self._check_fields("organization", self.customers.organizations.fields)
        except TargetFailing as exc:
            raise PermissionError(f"sink {self.name}: {exc}") from exc

    def _check_fields(self, kind: Literal["user", "organization"], fields: dict[str, Any]) -> None:
        keys = self.api.field_keys(kind)
        custom = [name.partition(".")[2] for name in fields if name.startswith(f"{kind}_fields.")]
        for key in (self.config.sync_field, *custom):
            if key not in keys:
                raise PermissionError(
                    f"sink {self.name}: Zendesk has no {kind} field with key {key!r}: create it in Admin Center "
                    f"(a text field; key {key}) or fix the sink's {kind} fields"
                )

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        outcome = Outcome()
        latest = newest_per_key(records, outcome)
        plans = [self._plan(latest[start : start + BULK], outcome) for start in range(0, len(latest), BULK)]
        jobs = [
            (upserts, resource, self.api.upsert(resource, [item for _, item in upserts]))
            for plan in plans
            for resource, upserts in plan.upserts.items()
            if upserts
        ]
        refused: set[int] = set()
        for upserts, resource, job in jobs:
            results = {result.get("index", n): result for n, result in enumerate(self.api.results(job))}
            if any(index not in results for index in range(len(upserts))):  # the guard makes a repeat harmless
                raise ServerUnavailable(f"a Zendesk {resource} job completed without a result for every item")
            for index, (record, item) in enumerate(upserts):
                result = results[index]
                if result.get("status") == "Failed" or result.get("error"):
                    outcome.rejected.append(_refused(record, resource, result, item))
                    refused.add(id(record))
        for plan in plans:
            self._remove(plan, refused, outcome)
        return outcome

    def _plan(self, chunk: list[SinkRecord], outcome: Outcome) -> _Plan:
        """What to write for these records, from what Zendesk holds; the records left alone go to `outcome`."""
        survivors = [r.value["merged_into"] for r in chunk if r.value and r.value.get("merged_into")]
        held: dict[Resource, dict[str, Record]] = {"users": self.api.held("users", [r.id for r in chunk] + survivors)}
        held["organizations"] = (
            {} if self.customers.organizations is None else self.api.held("organizations", [r.id for r in chunk])
        )
        plan = _Plan()
        for record in chunk:
            if record.value is None or record.value["deleted"]:
                self._plan_removal(record, held, plan, outcome)
                continue
            resource: Resource = "organizations" if self._is_company(record.value) else "users"
            found = held[resource].get(record.id.lower())
            held_version = None if found is None else marked_version(value_at(found, self._mark_path(resource)))
            if held_version is not None and held_version >= record.value["version"]:
                outcome.unchanged.append(record)
                continue
            try:
                values = self._values(resource, record)
            except MappingError as exc:
                outcome.rejected.append(unmappable(record, exc))
                continue
            holds = None if found is None else {name: value_at(found, name) for name in values}
            if self.mapping.is_echo(record, values, holds):
                outcome.unchanged.append(record)
                continue
            plan.upserts[resource].append((record, self._item(resource, record, values, found)))
            other: Resource = "users" if resource == "organizations" else "organizations"
            moved = held[other].get(record.id.lower())  # a person who became a company, or the other way round
            if moved is not None:
                plan.removals.append((record, other, int(moved["id"]), None))
        return plan

    def _plan_removal(
        self, record: SinkRecord, held: dict[Resource, dict[str, Record]], plan: _Plan, outcome: Outcome
    ) -> None:
        """Delete the record's user or organization, or merge its user into the user of the customer it was
        merged into; a Zendesk record marked with a newer version (a new life) stays."""
        version = None if record.value is None else record.value["version"]
        survivor = None if record.value is None else record.value.get("merged_into")
        planned = False
        for resource in ("users", "organizations"):
            found = held[resource].get(record.id.lower())
            if found is None:
                continue
            held_version = marked_version(value_at(found, self._mark_path(resource)))
            if version is not None and held_version is not None and held_version > version:
                continue
            into = held["users"].get(survivor.lower()) if resource == "users" and survivor else None
            plan.removals.append((record, resource, int(found["id"]), None if into is None else int(into["id"])))
            planned = True
        if not planned:
            outcome.unchanged.append(record)

    def _remove(self, plan: _Plan, refused: set[int], outcome: Outcome) -> None:
        for record, resource, key, into in plan.removals:
            if id(record) in refused:
                continue
            action = "merge" if into is not None else "delete"
            status, text = self.api.merge(key, into) if into is not None else self.api.delete(resource, key)
            if status == 404 and into is not None:  # the survivor's user is gone: delete instead
                action, (status, text) = "delete", self.api.delete(resource, key)
            if status >= 300 and status != 404:  # 404: already gone
                refusal = without_values(text, record.value)
                reason = f"Zendesk refused the {action} of the {_KIND[resource]}: HTTP {status}: {refusal}"
                outcome.rejected.append(Rejected(record, reason, f"HTTP{status}"))

    def _is_company(self, value: dict[str, Any]) -> bool:
        companies = self.customers.organizations
        return companies is not None and value.get(companies.when) not in (None, "")

    def _values(self, resource: Resource, record: SinkRecord) -> dict[str, Any]:
        """Zendesk property (or '<kind>_fields.<key>') -> value, from the user or organization mapping."""
        if resource == "users":
            return self.mapping.target_values(record)
        assert self.customers.organizations is not None and record.value is not None
        return map_row(self.customers.organizations.fields, record.value, self.config.lookups)

    def _mark_path(self, resource: Resource) -> str:
        return f"{_CUSTOM[resource]}.{self.config.sync_field}"

    def _item(self, resource: Resource, record: SinkRecord, values: dict[str, Any], found: Record | None) -> Record:
        """The item sent for a record, its values as Zendesk's JSON, with the sync mark of what Zendesk will hold."""
        assert record.value is not None
        item: Record = {"external_id": record.id}
        for name, value in values.items():
            head, dot, key = name.partition(".")
            if dot:
                item.setdefault(head, {})[key] = value
            elif not (name == "email" and value is None):  # Zendesk's e-mail is set, never removed, by a write
                item[name] = value
        item = json.loads(json.dumps(item, default=_json_value))
        shown = {
            f"{name}.{key}" if isinstance(value, dict) else name: inner
            for name, value in item.items()
            for key, inner in (value.items() if isinstance(value, dict) else [(None, value)])
        }
        if resource == "users" and found is not None and found.get("email") and "email" in shown:
            shown["email"] = found["email"]  # email is writable on create only: an update adds an identity
        shown |= _LIVE[resource]  # a delete made in Zendesk later is a change, not an echo
        item.setdefault(_CUSTOM[resource], {})[self.config.sync_field] = sync_mark(record.value["version"], shown)
        return item


def _refused(record: SinkRecord, resource: Resource, result: Record, item: Record) -> Rejected:
    """An item a job refused, for the DLQ: Zendesk's error and details, the item's values masked."""
    error = str(result.get("error") or "Failed")
    details = without_values(str(result.get("details") or ""), item)
    return Rejected(record, f"Zendesk refused the {_KIND[resource]}: {error}: {details}", error)


def _json_value(value: Any) -> Any:
    """JSON for the mapping's Python values: numbers as numbers, times in ISO 8601 (UTC), dates as YYYY-MM-DD."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"no JSON form for {type(value).__name__}")
