"""The Zendesk simulation's write API: bulk upserts as background jobs, reads by external id, deletes, merges.

What it follows from Zendesk's public documentation (Users, Organizations, Job Statuses, User Fields):
- `POST /api/v2/{users,organizations}/create_or_update_many` takes up to 100 items and answers
  `{"job_status": {"id", "url", "status": "queued", ...}}`; the job runs later (`job_s`), in order of submission.
  A user is found by `external_id` (case-insensitive), else by primary e-mail; an organization by `external_id`;
  the others are created. `email` is writable on create only: on update a different address becomes a secondary
  identity and the primary stays. Unknown custom field keys are ignored.
- `GET /api/v2/job_statuses/{id}`: `queued` until the job ran, then `completed` with one result per item, in
  order: `{"index", "id", "action", "status": "Created" | "Updated", "success": true}`, or for an item the
  account refuses `{"index", "id": <index>, "status": "Failed", "error", "details"}` (an invalid e-mail, an
  organization name already taken, a missing name), quoting the refused value as Zendesk does.
- `GET /api/v2/{users,organizations}/show_many?external_ids=a,b` (or `ids=`, up to 100; `include_deleted=true`
  for deleted users too), `DELETE /api/v2/users/{id}` (the user stays, `active: false`, and shows as deleted in
  the incremental export), `DELETE /api/v2/organizations/{id}` (204), `PUT /api/v2/users/{id}/merge` with
  `{"user": {"id": <target>}}` (end users only: the user is deleted, its e-mail becomes the target's secondary
  identity and its tickets the target's), `GET /api/v2/{user,organization}_fields`.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.zendesk import Zendesk

Record = dict[str, Any]
MAX_ITEMS = 100
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_NOT_FOUND = {"error": "RecordNotFound", "description": "Not found"}


class Refused(Exception):
    """An answer other than 200: its status, JSON body and, for a 429, its Retry-After seconds."""

    def __init__(self, status: int, body: Record, retry_after: int | None = None) -> None:
        self.status, self.body, self.retry_after = status, body, retry_after


@dataclass
class Job:
    """A background job of one create_or_update_many call."""

    id: str
    resource: str
    items: list[Record]
    due: float
    url: str
    status: str = "queued"
    results: list[Record] | None = None

    def answer(self) -> Record:
        done = self.results is not None
        return {
            "job_status": {
                "id": self.id,
                "url": self.url,
                "job_type": f"Bulk Create or Update {self.resource.capitalize()}",
                "status": self.status,
                "total": len(self.items),
                "progress": len(self.items) if done else 0,
                "message": "Completed" if done else None,
                "results": self.results,
            }
        }


class ZendeskWrites:
    """The write API over one simulated account's data; every method runs under the account's lock."""

    def __init__(self, account: Zendesk) -> None:
        self.account = account
        self.jobs: dict[str, Job] = {}
        self.identities: dict[int, list[str]] = {}
        """Secondary e-mail addresses per user id (not part of the user's JSON, as in Zendesk)."""

    def submit(self, resource: str, body: Record) -> Record:
        items = body.get(resource) if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
            raise Refused(400, {"error": "InvalidValue", "description": f"{resource} must be a list of objects"})
        if len(items) > MAX_ITEMS:
            raise Refused(400, {"error": "InvalidValue", "description": f"{resource}: at most {MAX_ITEMS} items"})
        key = uuid.uuid4().hex
        url = f"{self.account.subdomain_url}/api/v2/job_statuses/{key}.json"
        self.jobs[key] = Job(key, resource, items, time.monotonic() + self.account.job_s, url)
        return self.jobs[key].answer()

    def job_status(self, key: str) -> Record:
        if key not in self.jobs:
            raise Refused(404, _NOT_FOUND)
        return self.jobs[key].answer()

    def run_due_jobs(self) -> None:
        """Run, in order of submission, every queued job whose time has come."""
        for job in self.jobs.values():
            if job.results is None and job.due <= time.monotonic():
                upsert = self._upsert_user if job.resource == "users" else self._upsert_organization
                job.results = [upsert(index, item) for index, item in enumerate(job.items)]
                job.status = "completed"

    def show_many(self, resource: str, query: Mapping[str, str]) -> Record:
        by_external = "external_ids" in query
        wanted = [value for value in (query.get("external_ids") or query.get("ids") or "").split(",") if value]
        if len(wanted) > MAX_ITEMS:
            raise Refused(400, {"error": "InvalidValue", "description": f"at most {MAX_ITEMS} ids"})
        keys = {value.lower() for value in wanted}
        deleted_too = query.get("include_deleted") == "true"
        found = [
            dict(record)
            for record in self._records(resource).values()
            if (str(record.get("external_id") or "").lower() if by_external else str(record["id"])) in keys
            and (deleted_too or _live(record))
        ]
        return {resource: found}

    def delete(self, resource: str, key: int) -> Record | None:
        record = self._records(resource).get(key)
        if record is None or not _live(record):
            raise Refused(404, _NOT_FOUND)
        if resource == "users":
            return {"user": self.account.delete_user(key)}
        self.account.delete_organization(key)
        return None

    def merge(self, key: int, body: Record) -> Record:
        target = (body.get("user") or {}).get("id") if isinstance(body, dict) else None
        source = self.account.users.get(key)
        into = self.account.users.get(target) if isinstance(target, int) else None
        if source is None or into is None or not _live(source) or not _live(into):
            raise Refused(404, _NOT_FOUND)
        if source["role"] != "end-user" or into["role"] != "end-user" or key == target:
            raise Refused(422, {"error": "RecordInvalid", "description": "Only two different end users can merge"})
        for ticket in self.account.tickets.values():
            if ticket.get("requester_id") == key:
                ticket["requester_id"] = target
        if source.get("email"):
            self.identities.setdefault(into["id"], []).append(source["email"])
        self.account.delete_user(key)
        return {"user": dict(into)}

    def field_list(self, kind: str) -> Record:
        fields = [
            {"id": number, "key": key, "type": field_type, "title": key, "active": True}
            for number, (key, field_type) in enumerate(self.account.custom_fields[kind].items(), start=1)
        ]
        return {f"{kind}_fields": fields, "next_page": None, "previous_page": None, "count": len(fields)}

    def _upsert_user(self, index: int, item: Record) -> Record:
        email = item.get("email")
        if email is not None and not (isinstance(email, str) and _EMAIL.fullmatch(email)):
            return _failed(index, "UserUpdateError", f"Email: {email} is not properly formatted")
        user = self._live_by("users", "external_id", item.get("external_id")) or self._live_by("users", "email", email)
        fields = self._writable(item, "user", user)
        if user is None:
            if not item.get("name"):
                return _failed(index, "UserUpdateError", "Name: is too short (minimum is 1 character)")
            made = self.account.create_user(fields.pop("name"), fields.pop("email", None), **fields)
            return _done(index, made["id"], "create")
        if email is None:
            fields.pop("email", None)  # an update sets an address, never removes one
        elif user.get("email") and email.lower() != user["email"].lower():
            fields.pop("email")  # the primary stays; the new address becomes a secondary identity
            self.identities.setdefault(user["id"], []).append(email)
        self.account.update_user(user["id"], **fields)
        return _done(index, user["id"], "update")

    def _upsert_organization(self, index: int, item: Record) -> Record:
        held = self._live_by("organizations", "external_id", item.get("external_id"))
        name = item.get("name", None if held is None else held["name"])
        if not name:
            return _failed(index, "OrganizationUpdateError", "Name: is too short (minimum is 1 character)")
        taken = self._live_by("organizations", "name", name)
        if taken is not None and taken is not held:
            return _failed(index, "OrganizationUpdateError", "Name: has already been taken")
        fields = self._writable(item, "organization", held) | {"name": name}
        if held is None:
            return _done(index, self.account.create_organization(fields.pop("name"), **fields)["id"], "create")
        self.account.update_organization(held["id"], **fields)
        return _done(index, held["id"], "update")

    def _writable(self, item: Record, kind: str, held: Record | None) -> Record:
        """The item's fields as the account stores them: its custom fields merged into the held ones, keys no
        custom field has ignored."""
        custom = f"{kind}_fields"
        fields = {name: value for name, value in item.items() if name not in ("id", "url", custom)}
        defined = self.account.custom_fields[kind]
        sent = item.get(custom) or {}
        kept = {key: value for key, value in sent.items() if key in defined} if isinstance(sent, dict) else {}
        fields[custom] = {**(held or {}).get(custom, {}), **kept}
        return fields

    def _live_by(self, resource: str, name: str, value: Any) -> Record | None:
        if not isinstance(value, str) or not value:
            return None
        for record in self._records(resource).values():
            held = record.get(name)
            if _live(record) and isinstance(held, str) and held.lower() == value.lower():
                return record
        return None

    def _records(self, resource: str) -> dict[int, Record]:
        return self.account.users if resource == "users" else self.account.organizations


def _live(record: Record) -> bool:
    return record.get("active", True) is not False and record.get("deleted_at") is None


def _done(index: int, key: int, action: str) -> Record:
    status = "Created" if action == "create" else "Updated"
    return {"index": index, "id": key, "action": action, "status": status, "success": True}


def _failed(index: int, error: str, details: str) -> Record:
    return {"index": index, "id": index, "status": "Failed", "error": error, "details": details}


@dataclass
class RateWindow:
    """Zendesk's per-minute request limit: `limit` requests in each minute of the clock, then 429 with the seconds
    left in the minute as Retry-After."""

    limit: int
    minute: int = -1
    used: int = field(default=0)

    def take(self, now: float) -> tuple[int, int | None]:
        """One request at `now`: (requests left this minute, Retry-After seconds if refused)."""
        minute = int(now // 60)
        if minute != self.minute:
            self.minute, self.used = minute, 0
        self.used += 1
        left = max(0, self.limit - self.used)
        return left, None if self.used <= self.limit else max(1, 60 - int(now % 60))
