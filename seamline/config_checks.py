"""Checks of a whole configuration file that no section can make alone (`seamline validate`): a port two of its
processes would listen on, and, reading the sources' databases, a table or a mapped column they do not have."""

from __future__ import annotations

from pydantic import BaseModel

from seamline.config import Config
from seamline.connectors.registry import source_kind
from seamline.connectors.source import SourceSetupError
from seamline.field_rules import FieldRule
from seamline.mapping_check import Location, columns_read
from seamline.processor_config import EntityMapping
from seamline.sections import Problem


def listening_ports(config: Config) -> dict[Location, int]:
    """Where in the file (its key's location) -> the port a process of the configuration listens on through it."""
    ports: dict[Location, int] = {}
    for name, source in config.sources.items():
        ports |= {("sources", name, key): port for key, port in source.listening_ports().items()}
    if config.processor is not None:
        ports[("processor", "metrics_port")] = config.processor.metrics_port
    for name, sink in config.sinks.items():
        ports |= {("sinks", name, key): port for key, port in sink.listening_ports().items()}
    if config.notify is not None:
        ports[("notify", "metrics_port")] = config.notify.metrics_port
    return ports


def port_clashes(config: Config) -> list[Problem]:
    """A problem at each key whose port an earlier key already takes: two processes on one machine cannot listen
    on one port (the second one would fail to start)."""
    ports = listening_ports(config)
    first: dict[int, Location] = {}
    spare = max(ports.values(), default=0)
    problems: list[Problem] = []
    for where, port in ports.items():
        taken = first.setdefault(port, where)
        if taken == where:
            continue
        spare = next(candidate for candidate in range(spare + 1, 65536) if candidate not in ports.values())
        sections = [_dotted(taken[:-1]), _dotted(where[:-1])]
        both = " and ".join(sections) if sections[0] != sections[1] else f"two endpoints of {sections[0]}"
        problems.append(
            (
                where,
                f"port {port} is also {_dotted(taken)}{_default(taken, config)}: {both} cannot both listen on it; "
                f"give {_dotted(where)} a port of its own, e.g. {spare}",
            )
        )
    return problems


def _dotted(where: Location) -> str:
    return ".".join(map(str, where))


def _default(where: Location, config: Config) -> str:
    """' (its default)' for a port the file does not write, which the user may not know was taken."""
    if where[0] == "processor":
        assert config.processor is not None
        section: BaseModel = config.processor
    elif where[0] == "notify":
        assert config.notify is not None
        section = config.notify
    else:
        section = (config.sources if where[0] == "sources" else config.sinks)[str(where[1])]
    return "" if where[-1] in section.model_fields_set else " (its default)"


def source_problems(config: Config) -> list[Problem]:
    """Reading each source's system (the kinds that can list their tables): the configured tables it does not
    have, and every column a processor mapping reads from a table that lacks it."""
    problems: list[Problem] = []
    tables: dict[str, tuple[str, str, frozenset[str]]] = {}
    """'<system>.<object>' -> the source, the object and its columns."""
    for name, section in config.sources.items():
        read = source_kind(section.kind).tables
        if read is None:
            continue
        try:
            found = read(name, section)
        except SourceSetupError as exc:
            problems.append((("sources", name, "dsn"), str(exc)))
            continue
        problems += [(("sources", name, *where), message) for where, message in found.problems]
        tables |= {f"{section.system}.{obj}": (name, obj, columns) for obj, columns in found.columns.items()}
    if config.processor is not None:
        for index, mapping in enumerate(config.processor.mappings):
            if mapping.source in tables:
                problems += [
                    (("processor", "mappings", index, *where), message)
                    for where, message in _missing_columns(mapping, *tables[mapping.source])
                ]
    return problems


def _missing_columns(mapping: EntityMapping, source: str, obj: str, columns: frozenset[str]) -> list[Problem]:
    """Each rule of the mapping that reads a column the source's table lacks (a dotted path: its first part)."""
    rules: dict[Location, FieldRule] = {("fields", name): rule for name, rule in mapping.fields.items()}
    rules |= {("same_as", name): rule for name, rule in mapping.same_as.items()}
    if mapping.line_of is not None:
        rules[("line_of", "column")] = mapping.line_of.column
    if mapping.region_from is not None:
        rules[("region_from",)] = mapping.region_from
    problems: list[Problem] = []
    for where, rule in rules.items():
        for column in columns_read(rule):
            if column not in columns and column.partition(".")[0] not in columns:
                problems.append(
                    (
                        where,
                        f"mapping {mapping.source} reads column {column!r}, which table {obj} of source {source} does "
                        f"not have (its columns: {', '.join(sorted(columns))}): fix the rule, or add the column to "
                        "the table",
                    )
                )
    return problems
