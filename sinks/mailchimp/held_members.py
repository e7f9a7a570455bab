"""Which member of the audience each golden id was last written to, kept current from Mailchimp's own list.

A member is addressed by the hash of its e-mail address, so once a customer's address changed, the sink can no
longer find its member from the new record alone. Every member the sink writes carries the golden id in a merge
field; this index reads them all once, then, before each batch, only the members changed since the last read
(`since_last_changed`, a few seconds back to cover the clock's whole seconds), so writes by other instances of
the sink (after a rebalance) are seen too.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from seamline.sync_marks import marked_version, value_at
from sinks.mailchimp.api import MailchimpApi, Record

OVERLAP = timedelta(seconds=5)


class HeldMembers:
    """Golden id -> the member holding it: the one with the newest sync mark, a live one before an archived one."""

    def __init__(self, api: MailchimpApi, id_field: str, sync_field: str) -> None:
        self.api = api
        self.id_path = f"merge_fields.{id_field}"
        self.mark_path = f"merge_fields.{sync_field}"
        self._held: dict[str, Record] = {}
        self._since: datetime | None = None

    def refresh(self) -> None:
        """Read the members changed since the last read (all of them the first time)."""
        started = datetime.now(UTC)
        since = None if self._since is None else (self._since - OVERLAP).isoformat(timespec="seconds")
        for member in self.api.members(since):
            self.written(member)
        self._since = started

    def get(self, golden_id: str) -> Record | None:
        return self._held.get(golden_id)

    def written(self, member: Record) -> None:
        """Take in a member as Mailchimp answered or listed it."""
        golden_id = value_at(member, self.id_path)
        if not golden_id:
            return
        held = self._held.get(str(golden_id))
        if held is None or held.get("id") == member.get("id") or self._rank(member) >= self._rank(held):
            self._held[str(golden_id)] = member

    def archived(self, golden_id: str) -> None:
        held = self._held.get(golden_id)
        if held is not None:
            self._held[golden_id] = held | {"status": "archived"}

    def version(self, member: Record | None) -> int | None:
        return None if member is None else marked_version(value_at(member, self.mark_path))

    def _rank(self, member: Record) -> tuple[int, bool]:
        return self.version(member) or 0, member.get("status") != "archived"
