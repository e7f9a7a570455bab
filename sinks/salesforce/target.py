"""The salesforce sink: canonical records upserted into sObjects by external id, guarded by a version field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from seamline.connectors.sink import Outcome, Rejected, Sink, SinkRecord, TargetFailing, without_values
from seamline.connectors.source import SourceSetupError
from seamline.mapping import MappingError
from seamline.salesforce_api import SalesforceError
from sinks.newest_versions import newest_per_key
from sinks.reverse_mapping import ReverseMapping, unmappable
from sinks.salesforce.config import SalesforceObjectTarget, SalesforceSink
from sinks.salesforce.sobject_collections import SalesforceCollections

CHUNK = 200
"""Records per sObject Collections call, Salesforce's maximum."""
WHERE_LIMIT = 4000
"""Characters a SOQL WHERE clause may have (Salesforce's limit): longer key lists are read in several queries."""


class SalesforceTarget(Sink):
    """Writes each canonical entity into its sObject: one SOQL read and one sObject Collections upsert per
    sObject and 200 records, and one collections delete for the deletes among them.

    Delivery: at-least-once from the runner, exactly-once in effect. The version guard lives in the org: the
    sink sets `version_field` on every record it writes and reads it (with queryAll, so recycle-bin records
    count too) before writing; a version no newer than the held one is not sent. Keeping it in Salesforce
    rather than in a local store means a restarted or moved sink, and a record re-created by hand, are
    judged by what the org really holds. A deleted version stamps its version on the record before the
    delete, so an older version delivered later does not bring the record back. The read-then-write is safe
    because one sink process owns each key (one consumer group, keys partitioned).
    """

    def __init__(self, name: str, config: SalesforceSink) -> None:
        self.name = name
        self.config = config
        self.mapping = ReverseMapping(config)
        self._api: SalesforceCollections | None = None

    @property
    def api(self) -> SalesforceCollections:
        assert self._api is not None, "setup() first"
        return self._api

    def setup(self) -> None:
        """Sign in and check every sObject and field the sink writes; PermissionError (one line) if not there."""
        self._api = SalesforceCollections(self.name, self.config)
        self._api.sign_in()
        for entity, target in self.config.entities.items():
            self._check(entity, target)

    def _check(self, entity: str, target: SalesforceObjectTarget) -> None:
        try:
            described = self.api.describe(target.sobject)
        except SourceSetupError as exc:
            raise PermissionError(
                f"sink {self.name}: entities.{entity}.sobject {target.sobject!r} is not an sObject visible to this "
                "client: fix the name or give the run-as user access to it"
            ) from exc
        fields = {field["name"]: field for field in described["fields"]}
        for name in (target.external_id_field, target.version_field, *target.fields):
            if name not in fields:
                raise PermissionError(
                    f"sink {self.name}: {target.sobject} has no field {name!r} visible to this client: fix "
                    f"entities.{entity}, create the field or grant the run-as user access to it"
                )
        if not fields[target.external_id_field].get("externalId"):
            raise PermissionError(
                f"sink {self.name}: {target.sobject}.{target.external_id_field} is not an External ID field: mark it "
                "External ID (and Unique) in Salesforce"
            )

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        """Write the batch; a whole call Salesforce refuses (not one record of it) raises TargetFailing."""
        outcome = Outcome()
        latest = newest_per_key(records, outcome)
        try:
            for entity, target in self.config.entities.items():
                group = [record for record in latest if record.entity == entity]
                for start in range(0, len(group), CHUNK):
                    self._write_chunk(target, group[start : start + CHUNK], outcome)
        except SalesforceError as exc:
            raise TargetFailing(
                f"Salesforce refuses whole calls: HTTP {exc.status} {exc.code}: {exc.message}",
                "fix what the message names, in the org (an object, a field, the run-as user's access) or in the "
                "sink's entities",
            ) from exc
        except SourceSetupError as exc:  # a new token refused
            raise TargetFailing(
                f"Salesforce at {self.config.login_url} refused the client credentials of sink {self.name}",
                "check client_id and client_secret, and that the connected app enables the client credentials flow",
            ) from exc
        return outcome

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def _write_chunk(self, target: SalesforceObjectTarget, chunk: list[SinkRecord], outcome: Outcome) -> None:
        upserts, deletes = self._plan(target, chunk, outcome)
        deleting = {id(record) for record, _ in deletes}
        if upserts:
            results = self.api.upsert(target.sobject, target.external_id_field, [row for _, row in upserts])
            for (record, row), result in zip(upserts, results, strict=True):
                if not result["success"] and id(record) not in deleting:
                    outcome.rejected.append(_refused(record, target.sobject, "upsert", result, row))
        if deletes:
            results = self.api.delete([key for _, key in deletes])
            for (record, _), result in zip(deletes, results, strict=True):
                if not result["success"] and _code(result) not in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"):
                    outcome.rejected.append(_refused(record, target.sobject, "delete", result, {}))

    def _plan(
        self, target: SalesforceObjectTarget, chunk: list[SinkRecord], outcome: Outcome
    ) -> tuple[list[tuple[SinkRecord, dict[str, Any]]], list[tuple[SinkRecord, str]]]:
        """What to upsert (record, row) and delete (record, Id), from what the org holds; the records left
        alone go to `outcome` (unchanged, or rejected when they cannot be mapped)."""
        held = self._held(target, [record.id for record in chunk])
        upserts: list[tuple[SinkRecord, dict[str, Any]]] = []
        deletes: list[tuple[SinkRecord, str]] = []
        for record in chunk:
            found = held.get(record.id)
            live = found if found is not None and not found["IsDeleted"] else None
            held_version = None if found is None else found[target.version_field]
            if record.value is None or record.value["deleted"]:
                version = None if record.value is None else record.value["version"]
                if live is None or (version is not None and held_version is not None and held_version > version):
                    outcome.unchanged.append(record)
                    continue
                if version is not None:
                    upserts.append((record, {target.external_id_field: record.id, target.version_field: version}))
                deletes.append((record, live["Id"]))
                continue
            if held_version is not None and held_version >= record.value["version"]:
                outcome.unchanged.append(record)
                continue
            try:
                values = self.mapping.target_values(record)
            except MappingError as exc:
                outcome.rejected.append(unmappable(record, exc))
                continue
            if self.mapping.is_echo(record, values, live):
                outcome.unchanged.append(record)
                continue
            row = values | {target.external_id_field: record.id, target.version_field: record.value["version"]}
            upserts.append((record, row))
        return upserts, deletes

    def _held(self, target: SalesforceObjectTarget, keys: list[str]) -> dict[str, dict[str, Any]]:
        """The org's record per golden id: the live one, else the recycle-bin one with the highest version."""
        names = dict.fromkeys(["Id", "IsDeleted", target.external_id_field, target.version_field, *target.fields])
        rows: list[dict[str, Any]] = []
        for where in _where_clauses(target.external_id_field, keys):
            page = self.api.query(
                f"SELECT {', '.join(names)} FROM {target.sobject} WHERE {where}", include_deleted=True
            )
            rows += page.records
            while page.next_url:
                page = self.api.more(page.next_url)
                rows += page.records
        held: dict[str, dict[str, Any]] = {}
        for row in rows:
            key, other = row[target.external_id_field], held.get(row[target.external_id_field])
            if other is None or _rank(row, target) > _rank(other, target):
                held[key] = row
        return held


def _rank(row: dict[str, Any], target: SalesforceObjectTarget) -> tuple[bool, float]:
    return (not row["IsDeleted"], row[target.version_field] or 0)


def _where_clauses(field: str, keys: list[str]) -> list[str]:
    """`field = 'a' OR field = 'b' ...` over all keys, cut into clauses within WHERE_LIMIT characters."""
    clauses: list[str] = []
    current = ""
    for key in keys:
        term = f"{field} = '{_quoted(key)}'"
        if current and len(current) + len(term) + 4 > WHERE_LIMIT:
            clauses.append(current)
            current = ""
        current = f"{current} OR {term}" if current else term
    return [*clauses, current] if current else clauses


def _quoted(text: str) -> str:
    """A SOQL string literal's content: backslashes and quotes escaped."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _code(result: dict[str, Any]) -> str:
    errors = result.get("errors") or [{}]
    return str(errors[0].get("statusCode", "UNKNOWN"))


def _refused(record: SinkRecord, sobject: str, action: str, result: dict[str, Any], row: dict[str, Any]) -> Rejected:
    """A record Salesforce refused, for the DLQ: status codes, messages and field names, the values masked."""
    parts = []
    for error in result.get("errors") or []:
        message = without_values(str(error.get("message", "")), row)
        fields = ", ".join(error.get("fields") or [])
        parts.append(f"{error.get('statusCode', 'UNKNOWN')}: {message}" + (f" [{fields}]" if fields else ""))
    return Rejected(record, f"Salesforce refused the {action} of {sobject}: {'; '.join(parts)}", _code(result))
