"""What the channels say: one failure, or a route's digest of the failures over its rate limit; built from the
letters' places, keys and reasons, never from a field value."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from notify.failures import Failure, stamp
from notify.repeats import History

SMS_MAX_CHARS = 320
"""Two SMS segments: enough for what failed, why in short, and the command that shows it."""
_DIGEST_REASONS = 20


@dataclass(frozen=True)
class Notice:
    """One notification in the forms the channels send: a subject and text (e-mail, Slack), a short text (SMS),
    and fields (a webhook's JSON)."""

    subject: str
    text: str
    short: str
    fields: dict[str, Any]


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def failure_notice(failure: Failure, history: History) -> Notice:
    """The notice of one failed record."""
    what = failure.entity or failure.object or "record"
    place = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("stage", failure.stage),
            ("system", failure.system),
            ("object", failure.object),
            ("entity", failure.entity),
        )
        if value
    )
    record = ", ".join(
        f"{name} {value}"
        for name, value in (("key", failure.key), ("event", failure.event_id), ("original", failure.original))
        if value
    )
    commands = failure.commands()
    lines = [
        f"What failed: {place}",
        f"Record: {record or 'no key or position known'}",
        f"Why: {failure.reason} ({failure.error_class})",
        f"When: first {stamp(history.first)}, last {stamp(history.last)}, {history.attempts} attempt(s)",
        *(f"{name.capitalize()}: {command}" for name, command in commands.items()),
    ]
    if failure.letter is None:
        lines.append(f"Data-quality record: {failure.topic}[{failure.partition}]@{failure.offset}")
    subject = _cut(f"seamline: a {what} failed in {failure.stage} ({failure.error_class})", 200)
    short = f"seamline: {what} {failure.key or ''} failed in {failure.stage}: {failure.reason}"
    show = commands.get("show", "")
    short = _cut(short, SMS_MAX_CHARS - len(show) - 2) + (f". {show}" if show else "")
    fields = {
        "type": "failure",
        "stage": failure.stage,
        "system": failure.system,
        "object": failure.object,
        "entity": failure.entity,
        "key": failure.key,
        "event_id": failure.event_id,
        "original": failure.original,
        "error_class": failure.error_class,
        "reason": failure.reason,
        "first_failed_at": stamp(history.first),
        "last_failed_at": stamp(history.last),
        "attempts": history.attempts,
        "letter": failure.letter,
        "topic": failure.topic,
        "partition": failure.partition,
        "offset": failure.offset,
        "commands": commands,
    }
    return Notice(subject, "\n".join(lines), short, fields)


@dataclass
class Digest:
    """The failures of one route's rate window beyond its limit, counted by stage and reason."""

    route: str
    rate_limit: int
    window_s: float
    count: int = 0
    reasons: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    first: datetime | None = None
    last: datetime | None = None

    def add(self, failure: Failure) -> None:
        self.count += 1
        self.reasons[(failure.stage, failure.error_class, failure.reason)] += 1
        self.first = failure.failed_at if self.first is None else min(self.first, failure.failed_at)
        self.last = failure.failed_at if self.last is None else max(self.last, failure.failed_at)

    def notice(self) -> Notice:
        assert self.first is not None and self.last is not None
        since, until = stamp(self.first), stamp(self.last + timedelta(milliseconds=1))
        stages = Counter[str]()
        for (stage, _, _), count in self.reasons.items():
            stages[stage] += count
        top = self.reasons.most_common(_DIGEST_REASONS)
        lines = [
            f"{self.count} more record(s) failed on route {self.route} beyond its {self.rate_limit} message(s) per "
            f"{self.window_s:g} s, from {since} to {stamp(self.last)}:",
            *(f"- {count} × {stage}: {reason} ({error_class})" for (stage, error_class, reason), count in top),
            *([f"- and {len(self.reasons) - len(top)} more reason(s)"] if len(self.reasons) > len(top) else []),
            *(
                f"List them: seamline dlq list --stage {stage} --since {since} --until {until}"
                for stage in sorted(stages)
                if not stage.startswith("dq.")
            ),
        ]
        by_stage = ", ".join(f"{count} in {stage}" for stage, count in stages.most_common())
        short = _cut(f"seamline: {self.count} more failed records on route {self.route}: {by_stage}", SMS_MAX_CHARS)
        fields = {
            "type": "digest",
            "route": self.route,
            "count": self.count,
            "first_failed_at": since,
            "last_failed_at": stamp(self.last),
            "stages": dict(stages),
            "reasons": [
                {"stage": stage, "error_class": error_class, "reason": reason, "count": count}
                for (stage, error_class, reason), count in top
            ],
        }
        subject = f"seamline: {self.count} more failed records on route {self.route} ({by_stage})"
        return Notice(_cut(subject, 200), "\n".join(lines), short, fields)
