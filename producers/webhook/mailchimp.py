"""Mailchimp audience webhooks: form-encoded events read into member changes, the sink's own writes left out.

Mailchimp posts `type` (subscribe, unsubscribe, profile, upemail, cleaned, campaign), `fired_at` and the member as
`data[...]` fields, merge fields as `data[merges][TAG]`. Each member change is keyed by the member's subscriber hash
(the MD5 of its lower-cased address, Mailchimp's member id, as the members API shows it) and shaped like a member
of that API: id, email_address, status, list_id, unique_email_id, merge_fields (JSON), reason, last_changed.
An e-mail change (upemail) is the old member's delete and the new member's upsert. Campaign events change no
member: none is published.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl

from producers.webhook.config import WebhookEndpoint
from producers.webhook.payloads import CONNECTOR, PayloadError, text_row
from seamline.events import Change
from seamline.sync_marks import holds_its_mark

MEMBER_TYPES = {"subscribe": "subscribed", "unsubscribe": "unsubscribed", "profile": None, "cleaned": "cleaned"}
"""Event type -> the status the member has after it; a profile event does not say (any member's profile changes)."""
STATUSES = ("subscribed", "unsubscribed", "pending", "transactional", "cleaned")
_FIELD = re.compile(r"data(?:\[(\w+)\])(?:\[(\w+)\])?")
MAX_FIELDS = 1000


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased e-mail address."""
    return hashlib.md5(email.lower().encode()).hexdigest()  # noqa: S324 - Mailchimp's id, not a secret


def _form(body: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    """The top-level fields and the `data` fields (merges nested) of a form-encoded body."""
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError("the body is not a UTF-8 form (application/x-www-form-urlencoded)") from exc
    top: dict[str, str] = {}
    data: dict[str, Any] = {}
    for name, value in pairs:
        match = _FIELD.fullmatch(name)
        if match is None:
            top[name] = value
        elif match[2] is None:
            data[match[1]] = value
        else:
            data.setdefault(match[1], {})[match[2]] = value
    return top, data


def _required(fields: dict[str, Any], name: str, what: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"{what} is missing")
    return value


def mailchimp_changes(system: str, endpoint: WebhookEndpoint, body: bytes, source_ts_ms: int) -> list[Change]:
    """The member changes of one delivery (none for a campaign event or the sink's echo); PayloadError if malformed."""
    top, data = _form(body)
    kind = _required(top, "type", "field type")
    fired = _required(top, "fired_at", "field fired_at")
    try:
        moment = datetime.fromisoformat(fired).replace(tzinfo=UTC)
    except ValueError as exc:
        raise PayloadError("field fired_at is not a time (YYYY-MM-DD HH:MM:SS)") from exc
    if kind == "campaign":
        return []
    merges = data.get("merges") if isinstance(data.get("merges"), dict) else {}
    member = {
        "list_id": data.get("list_id"),
        "unique_email_id": data.get("id") if kind != "upemail" else data.get("new_id"),
        "merge_fields": merges,
        "reason": data.get("reason"),
        "last_changed": moment.isoformat(),
    }
    position = f"{moment.isoformat()}|{kind}"
    obj = endpoint.object or "members"

    def change(op: Literal["u", "d"], email: str, status: str | None) -> Change:
        row = text_row({"id": subscriber_hash(email), "email_address": email, "status": status} | member)
        return Change(
            system=system,
            object=obj,
            connector=CONNECTOR,
            op=op,
            key={"id": row["id"]},
            before=row if op == "d" else None,
            after=None if op == "d" else row,
            position=f"{position}|{row['id']}",
            source_ts_ms=int(moment.timestamp() * 1000) or source_ts_ms,
        )

    if kind == "upemail":
        old = _required(data, "old_email", "field data[old_email]")
        new = _required(data, "new_email", "field data[new_email]")
        return [change("d", old, "archived"), change("u", new, "subscribed")]
    if kind not in MEMBER_TYPES:
        raise PayloadError(f"field type is not one of {', '.join([*MEMBER_TYPES, 'upemail', 'campaign'])}")
    email = _required(data, "email", "field data[email]")
    status = MEMBER_TYPES[kind]
    if endpoint.sync_field and _sink_wrote(email, status, merges, endpoint.sync_field):
        return []  # the mailchimp sink's own write, sent back by Mailchimp
    return [change("u", email, status)]


def _sink_wrote(email: str, status: str | None, merges: Any, sync_field: str) -> bool:
    """Whether the member still holds what the mailchimp sink marked in it. The mark covers the member's status too;
    a profile event does not carry it, so its member is the sink's write if it holds the mark with any status."""
    return any(
        holds_its_mark({"email_address": email, "status": held, "merge_fields": merges}, f"merge_fields.{sync_field}")
        for held in ([status] if status else STATUSES)
    )
