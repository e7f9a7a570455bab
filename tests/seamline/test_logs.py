"""Log lines are JSON objects carrying the context a call gives (event_id, stage, ...), or plain text on request."""

from __future__ import annotations

import json
import logging

import pytest

from seamline.logs import JsonFormatter, dict_config


def record(**extra: object) -> logging.LogRecord:
    made = logging.LogRecord(
        "sinks.runner", logging.WARNING, __file__, 1, "dead letter from %s: %s", ("t", "why"), None
    )
    made.__dict__.update(extra)
    return made


def test_a_line_is_one_json_object_with_the_context_given() -> None:
    line = JsonFormatter().format(record(event_id="e-1", stage="cleanse", offset=7, unrelated="x"))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "dead letter from t: why" and parsed["level"] == "WARNING"
    assert parsed["logger"] == "sinks.runner" and parsed["time"].endswith("+00:00")
    assert {key: parsed[key] for key in ("event_id", "stage", "offset")} == {
        "event_id": "e-1",
        "stage": "cleanse",
        "offset": 7,
    }
    assert "unrelated" not in parsed and "source" not in parsed, "only known context fields, and only when given"


def test_an_exception_is_one_field_of_the_same_line() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info())
    parsed = json.loads(JsonFormatter().format(failed))
    assert "ValueError: bad value" in parsed["error"]


def test_text_format_and_level_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEAMLINE_LOG_FORMAT", "text")
    monkeypatch.setenv("SEAMLINE_LOG_LEVEL", "debug")
    config = dict_config()
    assert "()" not in config["formatters"]["seamline"] and config["root"]["level"] == "DEBUG"
    monkeypatch.delenv("SEAMLINE_LOG_FORMAT")
    assert dict_config()["formatters"]["seamline"] == {"()": JsonFormatter}
