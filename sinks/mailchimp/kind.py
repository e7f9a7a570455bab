"""The mailchimp sink kind: its section and its target."""

from __future__ import annotations

from typing import Any

from seamline.connectors.registry import SinkKind
from seamline.connectors.sink import Sink
from seamline.metrics import Metrics
from sinks.mailchimp.config import MailchimpSink


def _open(name: str, section: Any, _metrics: Metrics) -> Sink:
    from sinks.mailchimp.target import MailchimpTarget  # imported when run, not whenever a config is read

    return MailchimpTarget(name, section)


KIND = SinkKind("mailchimp", MailchimpSink, _open)
