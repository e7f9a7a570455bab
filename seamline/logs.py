"""Logging set-up shared by every process: one line per event, to stderr."""

from __future__ import annotations

import logging
import os


def configure(level: str | None = None) -> None:
    """Configure the root logger once; SEAMLINE_LOG_LEVEL overrides the default INFO."""
    logging.basicConfig(
        level=(level or os.environ.get("SEAMLINE_LOG_LEVEL", "INFO")).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for chatty in ("httpx", "httpx2"):  # one line per registry request
        logging.getLogger(chatty).setLevel(logging.WARNING)
