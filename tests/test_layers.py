"""The dependency rule of docs/ARCHITECTURE.md, checked on every import statement of the project's packages.

core (seamline/, but for its command line, operations and local stack) <- producers / processors / sinks / notify
(never each other) <- seamline/cli and seamline/operations. sandbox/ serves the demo, the benchmarks and the tests only.
Lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOP = ("seamline.__main__", "seamline.cli", "seamline.operations")
STAGES = ("producers", "processors", "sinks", "notify")
"""The three stages, and the notify process that reads what they dead-letter."""

FORBIDDEN: dict[str, tuple[str, ...]] = {
    "seamline": (*STAGES, "sandbox", *TOP, "seamline.stack"),
    "seamline.stack": (*STAGES, "sandbox", *TOP),
    **{stage: (*(other for other in STAGES if other != stage), "sandbox", *TOP, "seamline.stack") for stage in STAGES},
    "sandbox": (*STAGES, *TOP),
}
"""Package -> what no module in it may import (the most specific package listed applies)."""
SANDBOX_USERS = ("seamline.operations.demo", "seamline.operations.local_pipeline")
"""The only modules of the packages that may use sandbox/: the demo and the local pipeline it runs."""


def modules() -> list[tuple[str, Path]]:
    """Every module of the installed packages, as (dotted name, file)."""
    found = []
    for package in ("seamline", *STAGES, "sandbox"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found.append((".".join(parts[:-1] if parts[-1] == "__init__" else parts), path))
    return found


def imported(path: Path) -> set[str]:
    """Every module an import statement of the file names (absolute imports; the project uses no other)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def rule_for(module: str) -> tuple[str, ...]:
    """What `module` may not import: the rule of the most specific package it is in (none for the top layer)."""
    if any(within(module, top) for top in TOP):
        return ()
    owner = max((package for package in FORBIDDEN if within(module, package)), key=len)
    return FORBIDDEN[owner]


def violations(module: str, path: Path) -> list[str]:
    """`module imports X` for every forbidden import of the file."""
    refused = rule_for(module)
    bad = {
        name
        for name in imported(path)
        if any(within(name, forbidden) for forbidden in refused)
        or (within(name, "sandbox") and not within(module, "sandbox") and module not in SANDBOX_USERS)
    }
    return [f"{module} imports {name}" for name in sorted(bad)]


def test_no_module_imports_across_the_layers() -> None:
    found = [line for module, path in modules() for line in violations(module, path)]
    assert found == []


@pytest.mark.parametrize(
    ("module", "source", "refused"),
    [
        ("seamline.topics", "from producers.sql_poll.config import SqlPollSource\n", True),
        ("seamline.retry", "def f():\n    import sinks.postgres.target\n", True),
        ("sinks.runner", "from producers.runner import SourceRunner\n", True),
        ("processors.resolve", "from sandbox import erp\n", True),
        ("seamline.cli.main", "from producers.runner import SourceRunner\n", False),
        ("seamline.operations.demo", "from sandbox.erp import SampleData\n", False),
        ("seamline.operations.status", "from sandbox.erp import SampleData\n", True),
        ("producers.sql_poll.source", "from seamline.connectors.source import Source\n", False),
        ("notify.runner", "from sinks.runner import SinkRunner\n", True),
        ("sinks.runner", "from notify.outbox import Outbox\n", True),
        ("notify.runner", "from seamline.dead_letters.writer import read_headers\n", False),
    ],
)
def test_the_rule_refuses_what_it_should(tmp_path: Path, module: str, source: str, refused: bool) -> None:
    path = tmp_path / "module.py"
    path.write_text(source)
    assert bool(violations(module, path)) is refused
