"""Logging set-up shared by every process: one JSON object per line on stderr, so a log pipeline can index it
and one change can be followed across stages by its `event_id`. SEAMLINE_LOG_FORMAT=text gives plain lines."""

from __future__ import annotations

import json
import logging
import logging.config
import os
from datetime import UTC, datetime
from typing import Any

CONTEXT = ("event_id", "stage", "source", "sink", "topic", "partition", "offset")
"""Fields a log call may pass in `extra`; each one given (and not None) becomes a key of the JSON line."""


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", <context>, "error"}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def dict_config(level: str | None = None) -> dict[str, Any]:
    """The logging configuration (logging.config.dictConfig) of every process, the Faust worker's included:
    SEAMLINE_LOG_LEVEL overrides the default INFO, SEAMLINE_LOG_FORMAT (json or text) the default json."""
    text = os.environ.get("SEAMLINE_LOG_FORMAT", "json") == "text"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "seamline": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"} if text else {"()": JsonFormatter}
        },
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "seamline"}},
        "root": {"level": (level or os.environ.get("SEAMLINE_LOG_LEVEL", "INFO")).upper(), "handlers": ["default"]},
        "loggers": {chatty: {"level": "WARNING"} for chatty in ("httpx", "httpx2")},  # a line per registry request
    }


def configure(level: str | None = None) -> None:
    """Configure logging for a seamline process (see dict_config)."""
    logging.config.dictConfig(dict_config(level))
