"""The processor's configuration: mappings from source objects to canonical entities, and identity rules."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from seamline.field_rules import EachRule, FieldRule, LookupTables, Scalar
from seamline.mapping_check import canonical_fields, line_fields, reference_problems, rule_problems, string_typed
from seamline.match_config import ProbabilisticRule
from seamline.sections import Problem, Section, raise_problems

Entity = Literal["customer", "product", "sales_order", "inventory_level"]
ENTITIES: tuple[Entity, ...] = ("customer", "product", "sales_order", "inventory_level")
OnInvalid = Literal["reject", "drop", "keep"]
"""What a field whose value cannot be normalised does to its record: refuse it (to dlq.cleanse), leave the field
out of it, or keep the value as written (text, not normalised); the last two report it on dq.<entity>."""


STATE_CACHE_ENTRIES = 20_000
"""The default of `processor.state_cache_entries`: 500,000 held ~500 MB per table at most; 20,000 cost no
measurable CPU (50,000 events in process: 94 µs of CPU per event against 103), the rest is one RocksDB read away."""


class Reference(Section):
    """How a mapped field that names another entity becomes that entity's golden id.

    `{source: erp.customers}`: the value is the key of a record of that source object.
    `{match: customer.email}`: the value is a match field of the entity (normalised like that field).
    A record whose reference is not known yet is held until it is, never published with a dangling id.
    """

    source: str | None = Field(None, pattern=r"^[^.]+\..+$", description="'<system>.<object>' the value is a key of.")
    match: str | None = Field(None, pattern=r"^[a-z_]+\.[a-z_]+$", description="'<entity>.<field>' the value matches.")

    @model_validator(mode="after")
    def _one_kind(self) -> Reference:
        if (self.source is None) == (self.match is None):
            raise ValueError("a reference is either {source: '<system>.<object>'} or {match: '<entity>.<field>'}")
        return self


class LineOf(Section):
    """Marks a mapping of a separate order-line table: each row is one line of a header record."""

    source: str = Field(pattern=r"^[^.]+\..+$", description="'<system>.<object>' of the order headers.")
    column: str = Field(min_length=1, description="Column of the line row holding its header's key.")


class EntityMapping(Section):
    """Maps one source object onto a canonical entity."""

    source: str = Field(pattern=r"^[^.]+\..+$", description="'<system>.<object>', e.g. 'erp.customers'.")
    entity: Entity = Field(description="Canonical entity the object maps to.")
    fields: dict[str, FieldRule] = Field(
        min_length=1,
        description="canonical field -> rule: a source column name (rename), or one of {column}, {constant}, "
        "{concat, separator}, {split, separator, index}, {lookup, column, default}, {cast, column}, "
        "{convert, from_unit, to_unit, rates}, {each, fields} (seamline/field_rules.py). For a `line_of` "
        "mapping, the fields of one order line.",
    )
    references: dict[str, Reference] = Field(
        default_factory=dict,
        description="mapped field -> how its value finds the golden id it stands for; 'lines.product_id' for "
        "a field of the order lines.",
    )
    same_as: dict[str, FieldRule] = Field(
        default_factory=dict,
        description="'<system>.<object>' -> rule giving the key another system keeps for this record (an "
        "external id): records so linked are one golden record.",
    )
    line_of: LineOf | None = Field(None, description="Set when each row is one line of a sales order header.")
    default_region: str = Field(
        "US",
        pattern=r"^[A-Z]{2}$",
        description="ISO country whose conventions read phone numbers, postcodes and tax numbers of a record that "
        "has no country of its own (see region_from).",
    )
    region_from: FieldRule | None = Field(
        None,
        description="Rule giving the record's country (a name or code, read like `country`), in which its phone "
        "numbers, postcodes and tax numbers are read; by default the record's mapped `country` field. A record "
        "without one is read in default_region.",
    )
    on_invalid: dict[str, OnInvalid] = Field(
        default_factory=dict,
        description="mapped field ('lines.<field>' for a field of the order lines) -> what a value that cannot be "
        "normalised does: reject (the record goes to dlq.cleanse), drop (the record goes on without the field) or "
        "keep (the value as written, text fields only); drop and keep are reported on dq.<entity>. Defaults: "
        "reject for the entity's required fields, the fields of its identity match rules and references, drop for "
        "the rest. Required fields always reject.",
    )
    decimal_separator: Literal[".", ","] = Field(
        ".", description="The source's decimal mark, deciding ambiguous numbers such as '1,234' ('.' or ',')."
    )
    time_zone: str = Field("UTC", description="IANA zone of source times written without an offset.")
    day_first: bool = Field(False, description="Read 01/02/2024 as 1 February (the source writes dd/mm/yyyy).")

    @property
    def system(self) -> str:
        """The source system."""
        return self.source.split(".", 1)[0]


class FuzzyRule(Section):
    """An opt-in fuzzy match whose hits are published as merge suggestions, never applied."""

    fields: list[str] = Field(["name"], min_length=1, description="Fields compared with rapidfuzz (joined).")
    block: str = Field("postcode", description="Only records with the same value of this field are compared.")
    threshold: float = Field(90.0, ge=0, le=100, description="Lowest token-sort ratio (0-100) reported.")


class IdentityRules(Section):
    """How records of one entity are recognised as the same thing, and which values survive."""

    match: list[str | list[str]] = Field(
        default_factory=list,
        description="Deterministic match rules: a field (e-mail, tax id, SKU) or a list of fields that together "
        "identify the entity; equal normalised values make one golden record.",
    )
    fuzzy: FuzzyRule | None = Field(None, description="Opt-in fuzzy rule; its matches are suggestions only.")
    probabilistic: ProbabilisticRule | None = Field(
        None,
        description="Opt-in probabilistic (Fellegi–Sunter) rule: pairs scoring above its upper threshold merge, "
        "those between its thresholds are suggestions.",
    )
    priority: list[str] = Field(
        default_factory=list,
        description="Systems, most trusted first: a field takes the value of the most trusted system that has "
        "one, then the most recent; systems not listed rank after the listed ones.",
    )
    field_priority: dict[str, list[str]] = Field(
        default_factory=dict, description="field -> its own priority list, overriding `priority`."
    )
    authoritative: str | None = Field(
        None,
        description="The system of record: its delete deletes the golden record and its cleared field clears "
        "it; a delete from another system only unlinks that system's record.",
    )


DEFAULT_APP_ID = "seamline-processor"
DATA_ROOT = Path("/var/tmp/seamline/processor")


class ProcessorConfig(Section):
    """The Faust stream processor."""

    app_id: str = Field(
        DEFAULT_APP_ID,
        description="Faust app id: the consumer group, and the prefix of the state changelog and transactional ids; "
        "defaults to '<topic_prefix>seamline-processor'.",
    )
    data_dir: Path = Field(
        DATA_ROOT / DEFAULT_APP_ID,
        description="Where the resolve state's RocksDB store lives; kept across restarts, so a start replays only the "
        "changelog records the store misses (a missing or damaged store is rebuilt from the changelog). Defaults "
        "to /var/tmp/seamline/processor/<app_id>.",
    )
    mappings: list[EntityMapping] = Field(min_length=1, description="Source object to canonical entity mappings.")
    identity: dict[Entity, IdentityRules] = Field(
        default_factory=dict,
        description="entity -> match and survivorship rules; an entity not listed is matched by cross-reference "
        "only and its fields take the most recent value.",
    )
    lookups: LookupTables = Field(
        default_factory=dict,
        description="Lookup tables used by {lookup} and {convert, rates} rules: name -> {source value: result}.",
    )
    batch_size: int = Field(500, ge=1, description="Events processed per batch.")
    resolve_partitions: int = Field(
        1,
        ge=1,
        description="Partitions of the identity topic, each resolved by one worker at a time: each entity with "
        "match rules or external ids in one of its own, the others spread over the rest by cross-reference "
        "(docs/ARCHITECTURE.md, 'Resolution scaled out'). Fixed once the topic exists: to change it, start "
        "a new app_id and replay the source topics.",
    )
    state_cache_entries: int = Field(
        STATE_CACHE_ENTRIES,
        ge=0,
        description="Identity-state values kept decoded in memory, per table (RocksDB's block cache holds the rest "
        "encoded): more is faster, fewer uses less memory; ~1 KB each.",
    )
    metrics_port: int = Field(9102, description="Port of this process's /metrics endpoint on 127.0.0.1.")

    @model_validator(mode="after")
    def _rules_resolve(self) -> ProcessorConfig:
        sources = {mapping.source for mapping in self.mappings}
        problems = [
            (("mappings", index, *where), message)
            for index, mapping in enumerate(self.mappings)
            for where, message in _mapping_problems(mapping, sources, self.lookups)
        ]
        problems += [
            (("identity", entity, *where), message)
            for entity, rules in self.identity.items()
            for where, message in _identity_problems(entity, rules)
        ]
        raise_problems(problems)
        return self

    def rules(self, entity: str) -> IdentityRules:
        """The identity rules of an entity (the defaults when it has none)."""
        return self.identity.get(entity) or _DEFAULT_RULES  # type: ignore[call-overload]


_DEFAULT_RULES = IdentityRules()


def _mapping_problems(
    mapping: EntityMapping, sources: set[str], lookups: dict[str, dict[str, Scalar]]
) -> list[Problem]:
    """Rules naming unknown fields or tables, and references or line headers no mapping provides."""
    targets = canonical_fields(mapping.entity)
    problems: list[Problem] = []
    if mapping.line_of is not None:
        lines = line_fields(mapping.entity)
        if lines is None:
            problems.append((("line_of",), f"{mapping.entity} has no order lines: line_of is for sales_order"))
        targets = lines or targets
        if mapping.line_of.source not in sources:
            problems.append((("line_of", "source"), f"no mapping reads {mapping.line_of.source}: add one"))
    problems += [
        (("fields", *where), message)
        for where, message in rule_problems(mapping.entity, mapping.fields, lookups, targets)
    ]
    problems += [
        (("references", *where), message)
        for where, message in reference_problems(mapping.entity, mapping.references, targets, ENTITIES)
    ]
    problems += [
        (("references", path, "source"), f"no mapping reads {ref.source}: add one, or the reference can never resolve")
        for path, ref in mapping.references.items()
        if ref.source is not None and ref.source not in sources
    ]
    if mapping.region_from is not None:
        checked = rule_problems(mapping.entity, {"country": mapping.region_from}, lookups, {"country": "string"})
        problems += [(("region_from", *where[1:]), message) for where, message in checked]
    return problems + _on_invalid_problems(mapping, targets)


def _on_invalid_problems(mapping: EntityMapping, targets: Mapping[str, Any]) -> list[Problem]:
    """on_invalid naming a field the mapping does not map, or keeping a value that is no text or a reference."""
    found = ((path, _on_invalid_problem(mapping, targets, path, action)) for path, action in mapping.on_invalid.items())
    return [(("on_invalid", path), message) for path, message in found if message]


def _on_invalid_problem(mapping: EntityMapping, targets: Mapping[str, Any], path: str, action: OnInvalid) -> str | None:
    head, _, line_field = path.partition(".")
    rule = mapping.fields.get(head)
    kinds: Mapping[str, Any]
    if line_field and isinstance(rule, EachRule):
        kinds, mapped = line_fields(mapping.entity) or {}, line_field in rule.fields
    else:
        kinds, mapped = targets, rule is not None and not line_field and not isinstance(rule, EachRule)
    name = line_field or head
    if not mapped:
        return f"{path!r} is not a mapped field: use one of {', '.join(mapping.fields)}"
    if action == "keep" and path in mapping.references:
        return f"{path} is a reference: a value kept as written would name no record, so use drop or reject"
    if action == "keep" and name in kinds and not string_typed(kinds[name]):
        return f"{path} is not a text field, so its value cannot be kept as written: use drop or reject"
    return None


def _identity_problems(entity: str, rules: IdentityRules) -> list[Problem]:
    """Identity rules naming fields the entity does not have."""
    fields = canonical_fields(entity)
    named: list[tuple[tuple[str | int, ...], str]] = [
        (("match", index), name)
        for index, rule in enumerate(rules.match)
        for name in ([rule] if isinstance(rule, str) else rule)
    ]
    named += [(("field_priority", name), name) for name in rules.field_priority]
    if rules.fuzzy is not None:
        named += [(("fuzzy", "fields"), name) for name in rules.fuzzy.fields] + [
            (("fuzzy", "block"), rules.fuzzy.block)
        ]
    problems: list[Problem] = [
        (where, f"{entity} has no field {name!r}: use one of {', '.join(fields)}")
        for where, name in named
        if name not in fields
    ]
    if rules.probabilistic is not None:
        problems += [(("probabilistic", *where), message) for where, message in _probabilistic_problems(entity, rules)]
    return problems


def _probabilistic_problems(entity: str, rules: IdentityRules) -> list[Problem]:
    """Comparisons of fields the entity lacks or compared twice, and blocks on fields not compared."""
    assert rules.probabilistic is not None
    fields, problems = canonical_fields(entity), list[Problem]()
    compared: set[str] = set()
    for index, comparison in enumerate(rules.probabilistic.comparisons):
        if comparison.field not in fields:
            hint = (
                "" if entity == "customer" else " (the default comparisons are the customer's: list this entity's own)"
            )
            message = f"{entity} has no field {comparison.field!r}{hint}: use one of {', '.join(fields)}"
            problems.append((("comparisons", index, "field"), message))
        elif comparison.field in compared:
            problems.append((("comparisons", index, "field"), f"{comparison.field} is compared twice: keep one"))
        compared.add(comparison.field)
    problems += [
        (("blocking", index), f"block field {name!r} is not compared: add a comparison for it or block on another")
        for index, block in enumerate(rules.probabilistic.blocks())
        for name in block
        if name not in compared
    ]
    return problems
