"""Row-by-row comparison of the sample ERP with the target database and the dead-letter topic."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from processors.cleanse import InvalidRecord, cleanse
from processors.field_policy import field_policy
from processors.identity import born_id, xref
from seamline.config import Config
from seamline.dead_letters.writer import read_headers
from seamline.events import format_key
from seamline.serde import AvroSerde, SerdeError
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic

_FIELDS = ("name", "email", "phone", "country")


@dataclass
class Comparison:
    """What matches and what does not, with one line per problem."""

    source_rows: int = 0
    matched: int = 0
    invalid_in_dlq: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _expected(row: dict[str, str | None], config: Config) -> dict[str, object] | str:
    """The canonical fields a source row should become, or the reason it is invalid."""
    assert config.processor is not None
    mapping = next(m for m in config.processor.mappings if m.source == "erp.customers")
    event = {
        "op": "r",
        "after": row,
        "source": {"system": "erp", "object": "customers", "connector": "postgres_cdc", "position": "0/0", "ts_ms": 0},
        "event_id": "",
    }
    policy = field_policy(mapping, config.processor.rules(mapping.entity))
    try:
        fields = cleanse(event, {"id": row["id"] or ""}, mapping, config.processor.lookups, policy).fields or {}
    except InvalidRecord as exc:
        return str(exc)
    return {name: fields.get(name) for name in _FIELDS}  # a field left out for its value is null in the target


def dead_letter_reasons(config: Config) -> dict[str, str]:
    """Source key -> reason of the newest dead letter of the cleanse stage."""
    topic = dlq_topic(config.kafka, "cleanse")
    serde = AvroSerde(config.kafka)
    reasons = {}
    for message in read_to_end(config.kafka, topic):
        headers = read_headers(message.headers())
        try:
            key = serde.decode(headers["original.topic"], message.key(), key=True)
        except SerdeError:
            continue  # not a change of a source row: nothing to compare it with
        reasons[format_key(key["columns"])] = headers["error.reason"]
    return reasons


def compare(config: Config, erp_dsn: str, target_dsn: str) -> Comparison:
    """Every valid ERP row must equal its target row; every invalid one must be a dead letter with its reason."""
    result = Comparison()
    with psycopg.connect(erp_dsn) as conn:
        cursor = conn.execute("SELECT id::text, full_name, email, phone, country_code FROM customers")
        columns = [c.name for c in cursor.description or []]
        source = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    with psycopg.connect(target_dsn) as conn:
        exists = conn.execute("SELECT to_regclass('customers') IS NOT NULL").fetchone()
        rows = (
            conn.execute("SELECT id, name, email, phone, country FROM customers").fetchall()
            if exists and exists[0]
            else []
        )
        target = {row[0]: dict(zip(_FIELDS, row[1:], strict=True)) for row in rows}
    reasons = dead_letter_reasons(config)
    result.source_rows = len(source)
    expected_ids = set()
    for row in source:
        key = row["id"] or ""
        expected = _expected(row, config)
        if isinstance(expected, str):
            if reasons.get(key) == expected:
                result.invalid_in_dlq += 1
            else:
                result.problems.append(f"erp customer {key} is invalid ({expected}) but has no such dead letter")
            continue
        gid = born_id(xref("erp", "customers", key))
        expected_ids.add(gid)
        actual = target.get(gid)
        if actual is None:
            result.problems.append(f"erp customer {key} is missing from the target")
        elif actual != expected:
            diff = ", ".join(f"{f}: {expected[f]!r} != {actual[f]!r}" for f in _FIELDS if expected[f] != actual[f])
            result.problems.append(f"erp customer {key} differs: {diff}")
        else:
            result.matched += 1
    result.problems += [f"target row {gid} has no source row" for gid in sorted(set(target) - expected_ids)]
    return result
