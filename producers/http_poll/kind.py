"""The http_poll kind: its section and the order of its (updated_at, key) watermarks."""

from __future__ import annotations

from typing import Any

from producers.http_poll.config import HttpPollSource
from seamline.config import KafkaConfig
from seamline.connectors.registry import SourceKind
from seamline.connectors.source import Source
from seamline.events import watermark_order
from seamline.metrics import Metrics


def _open(name: str, section: Any, _kafka: KafkaConfig, metrics: Metrics) -> Source:
    from producers.http_poll.source import HttpPoll  # imported when run, not whenever a config is read

    return HttpPoll(name, section, metrics)


KIND = SourceKind("http_poll", HttpPollSource, _open, watermark_order)
