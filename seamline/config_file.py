"""Reading the configuration file: YAML with ${ENV} secrets, and errors that name the file, line, key and fix."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from seamline.sections import LOCATED, Problem, Section


class ConfigError(Exception):
    """The configuration file cannot be used; the message says where and how to fix it."""


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _StrictLoader(yaml.SafeLoader):
    """safe_load that refuses a key written twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is written twice (lines {seen[key]} and {line}): keep one",
                    key_node.start_mark,
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: Path) -> tuple[Any, str]:
    """The file's data, with ${NAME} in string values replaced from the environment, and its text."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration file: {exc.strerror}") from exc
    try:
        data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_yaml_problem(path, exc)) from exc
    return _interpolate(data, text, path), text


def _yaml_problem(path: Path, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = exc.problem or exc.context or "unreadable"
    if exc.problem and exc.context and exc.context_mark is not None:
        problem += f" ({exc.context} from line {exc.context_mark.line + 1})"
    hint = "; indent with spaces, YAML refuses tabs" if "'\\t'" in problem else ""
    return f"{where}: not valid YAML: {problem}{hint}"


def _interpolate(data: Any, text: str, path: Path) -> Any:
    """Environment values go into string values after parsing, so a secret with '#', ': ' or a newline stays
    one value and can never add keys."""
    if isinstance(data, dict):
        return {key: _interpolate(value, text, path) for key, value in data.items()}
    if isinstance(data, list):
        return [_interpolate(value, text, path) for value in data]
    if isinstance(data, str) and "${" in data:

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                line = text.count("\n", 0, max(0, text.find(match.group(0)))) + 1
                raise ConfigError(
                    f"{path}:{line}: environment variable {name} is not set; export it or remove ${{{name}}}"
                )
            return os.environ[name]

        return _ENV_REF.sub(replace, data)
    return data


def explain(error: ValidationError, text: str, path: Path) -> str:
    """One line per problem: `file:line: dotted.key: what is wrong and how to fix it`."""
    lines = _key_lines(text)
    problems = []
    for loc, kind, message in _located(error):
        parts = [str(part) for part in loc]
        problems.append(f"{_place(parts, lines, path)}: {_with_fix(kind, message, parts)}")
    return "\n".join(problems)


def explain_problems(problems: Sequence[Problem], text: str, path: Path) -> str:
    """The problems a check of the whole file found (`seamline validate`), one line each, located like `explain`'s."""
    lines = _key_lines(text)
    return "\n".join(f"{_place([str(part) for part in loc], lines, path)}: {message}" for loc, message in problems)


def _place(parts: list[str], lines: dict[str, int], path: Path) -> str:
    """`file:line: dotted.key` of a location: the deepest key written in the file, with its line."""
    dotted, line = "", None
    for index, part in enumerate(parts):
        candidate = f"{dotted}.{part}" if dotted else part
        if candidate in lines:
            dotted, line = candidate, lines[candidate]
        elif index == len(parts) - 1:
            dotted = candidate  # a missing key: name it; other unknown parts are union tags
    where = f"{path}:{line}" if line else str(path)
    return f"{where}: {dotted or '(top level)'}"


def _with_fix(kind: str, message: str, parts: list[str]) -> str:
    if kind == "extra_forbidden":
        known = _known_keys()
        if parts[-1] in known:
            return "not a key of this section (another kind of section has it): remove it, or check the `kind:`"
        close = difflib.get_close_matches(parts[-1], known, n=1)
        guess = f": did you mean {close[0]!r}?" if close else ": remove it, or check its spelling"
        return f"unknown key{guess}"
    if kind == "missing":
        return f"required key missing: add `{parts[-1]}:` here"
    return message


def _known_keys() -> list[str]:
    """Every key any configuration section has."""
    keys: set[str] = set()
    pending: list[type[BaseModel]] = [Section]
    while pending:
        model = pending.pop()
        keys.update(model.model_fields)
        pending.extend(model.__subclasses__())
    return sorted(keys)


def _located(error: ValidationError) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """(location, error type, message) of every error, a LOCATED error expanded into its deeper problems."""
    for item in error.errors():
        if item["type"] == LOCATED:
            yield from (((*item["loc"], *where), LOCATED, message) for where, message in item["ctx"]["problems"])
        else:
            yield tuple(item["loc"]), item["type"], item["msg"]


def _key_lines(text: str) -> dict[str, int]:
    """Line number of each mapping key's first appearance, by dotted path."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = f"{prefix}.{key.value}" if prefix else str(key.value)
                lines.setdefault(path, key.start_mark.line + 1)
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                path = f"{prefix}.{index}"
                lines.setdefault(path, item.start_mark.line + 1)
                walk(item, path)

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is not None:
        walk(root, "")
    return lines
