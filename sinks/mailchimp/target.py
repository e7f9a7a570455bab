"""The mailchimp sink: canonical customers upserted into a Mailchimp audience as members, archived when deleted."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from seamline.connectors.sink import Outcome, Rejected, Sink, SinkRecord, TargetFailing, without_values
from seamline.mapping import MappingError
from seamline.sync_marks import sync_mark, value_at
from sinks.mailchimp.api import Answer, Call, MailchimpApi, Record
from sinks.mailchimp.config import MailchimpSink
from sinks.mailchimp.held_members import HeldMembers
from sinks.newest_versions import newest_per_key
from sinks.reverse_mapping import ReverseMapping, unmappable
from sinks.target_errors import Operation

Step = Literal["upsert", "tags", "move", "archive"]
_OPERATION: dict[str, Operation] = {"PUT": "create", "POST": "update", "DELETE": "delete"}
"""How sinks/target_errors.py judges each call: a 404 on a PUT means the audience is gone."""
_WHAT: dict[Step, str] = {
    "upsert": "upsert",
    "tags": "tags",
    "move": "archive of the old address",
    "archive": "archive",
}


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: the MD5 of the lower-cased e-mail address."""
    return hashlib.md5(email.lower().encode()).hexdigest()  # noqa: S324 - Mailchimp's id, not a secret


@dataclass
class _Plan:
    """The calls of one batch: upserts first, then what needs the member (tags) or may follow (archives)."""

    upserts: list[tuple[SinkRecord, Call]] = field(default_factory=list)
    then: list[tuple[SinkRecord, Step, Call]] = field(default_factory=list)


class MailchimpTarget(Sink):
    """Writes canonical customers into one Mailchimp audience as members, addressed by the subscriber hash of the
    mapped `email_address`.

    Delivery: at-least-once from the runner, exactly-once in effect. Per batch: the members changed since the last
    batch are read (sinks/mailchimp/held_members.py), then one PUT per customer (add or update), then its tags and
    archives; up to `max_connections` calls at once, or, past `batch_threshold` calls, one batch operation polled
    until finished. The version guard lives in Mailchimp: each member carries a sync mark (seamline/sync_marks.py)
    in the `sync_field` merge field and the golden id in `id_field`; a version no newer than the held mark is not
    sent. The mark's digest also lets the webhook and poll sources leave out the sink's own writes (loop
    prevention); an echo of this system's own values is not written back either. A new e-mail address moves the
    member: the new address is upserted, the old one archived. A deleted or merged customer's member is archived.
    """

    def __init__(self, name: str, config: MailchimpSink) -> None:
        self.name = name
        self.config = config
        self.customers = config.entities["customer"]
        self.mapping = ReverseMapping(config)
        self._api: MailchimpApi | None = None
        self._held: HeldMembers | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def api(self) -> MailchimpApi:
        assert self._api is not None, "setup() first"
        return self._api

    @property
    def held(self) -> HeldMembers:
        assert self._held is not None, "setup() first"
        return self._held

    def setup(self) -> None:
        """Check the merge fields the sink writes exist and read the members it wrote; PermissionError (one line)
        if a field is missing or the audience refuses."""
        self._api = MailchimpApi(self.config)
        self._pool = ThreadPoolExecutor(self.config.max_connections, thread_name_prefix=f"sink-{self.name}")
        self._held = HeldMembers(self.api, self.config.id_field, self.config.sync_field)
        try:
            tags = self.api.merge_tags()
        except TargetFailing as exc:
            raise PermissionError(f"sink {self.name}: {exc}") from exc
        mapped = [name.partition(".")[2] for name in self.customers.fields if name.startswith("merge_fields.")]
        for tag in (self.config.sync_field, self.config.id_field, *mapped):
            if tag not in tags:
                raise PermissionError(
                    f"sink {self.name}: the audience has no merge field {tag!r}: create it in Audience fields and "
                    f"*|MERGE|* tags (a text field, tag {tag}) or fix the sink's fields"
                )
        self.held.refresh()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        if self._api is not None:
            self._api.close()

    def write(self, records: Sequence[SinkRecord]) -> Outcome:
        outcome = Outcome()
        self.held.refresh()
        plan = _Plan()
        for record in newest_per_key(records, outcome):
            self._plan(record, plan, outcome)
        refused: set[int] = set()
        for (record, _), answer in zip(plan.upserts, self._run([c for _, c in plan.upserts]), strict=True):
            if answer.ok:
                self.held.written(answer.body)
            else:
                outcome.rejected.append(_refused(record, "upsert", answer))
                refused.add(id(record))
        then = [(record, step, call) for record, step, call in plan.then if id(record) not in refused]
        for (record, step, _), answer in zip(then, self._run([c for _, _, c in then]), strict=True):
            if answer.ok or (answer.status == 404 and step in ("move", "archive")):  # 404: already archived
                if step == "archive":
                    self.held.archived(record.id)
            else:
                outcome.rejected.append(_refused(record, step, answer))
        return outcome

    def _run(self, calls: list[Call]) -> list[Answer]:
        if len(calls) > self.config.batch_threshold:
            return self.api.batch(calls)
        assert self._pool is not None
        return list(self._pool.map(self.api.call, calls))

    def _plan(self, record: SinkRecord, plan: _Plan, outcome: Outcome) -> None:
        held = self.held.get(record.id)
        held_version = self.held.version(held)
        if record.value is None or record.value["deleted"]:
            version = None if record.value is None else record.value["version"]
            if held is None or held.get("status") == "archived" or (version or 0) < (held_version or 0):
                outcome.unchanged.append(record)  # nothing live, or a newer life the customer began
            else:
                plan.then.append((record, "archive", self._call("DELETE", held["email_address"], None)))
            return
        if held_version is not None and held_version >= record.value["version"]:
            outcome.unchanged.append(record)
            return
        try:
            values = self.mapping.target_values(record)
        except MappingError as exc:
            outcome.rejected.append(unmappable(record, exc))
            return
        email = values.get("email_address")
        if not isinstance(email, str) or not email:
            reason = "the customer has no e-mail address: Mailchimp identifies a member by it; fix the source record"
            outcome.rejected.append(Rejected(record, reason, "NoEmailAddress"))
            return
        same = held is not None and held["email_address"].lower() == email.lower() and held["status"] != "archived"
        holds = {name: value_at(held, name) for name in values} if same and held is not None else None
        if self.mapping.is_echo(record, values, holds):
            outcome.unchanged.append(record)
            return
        tags = values.pop("tags", None)
        plan.upserts.append((record, self._call("PUT", email, self._body(record, values, held if same else None))))
        if tags:
            names = [tags] if isinstance(tags, str) else [str(tag) for tag in tags]
            body = {"tags": [{"name": name, "status": "active"} for name in names]}
            plan.then.append((record, "tags", self._call("POST", email, body, "/tags")))
        if held is not None and not same and held["status"] != "archived":
            plan.then.append((record, "move", self._call("DELETE", held["email_address"], None)))

    def _call(self, method: Literal["PUT", "POST", "DELETE"], email: str, body: Record | None, tail: str = "") -> Call:
        return Call(method, f"{self.api.list_path}/members/{subscriber_hash(email)}{tail}", body, _OPERATION[method])

    def _body(self, record: SinkRecord, values: dict[str, Any], held: Record | None) -> Record:
        """The PUT body, in JSON's types, with the sync mark of what the member will hold."""
        assert record.value is not None
        body: Record = {"status_if_new": self.customers.status_if_new, "merge_fields": {}}
        for name, value in values.items():
            head, dot, tag = name.partition(".")
            if dot:
                body["merge_fields"][tag] = value
            else:
                body[name] = value
        body["merge_fields"][self.config.id_field] = record.id
        body = json.loads(json.dumps(body, default=str))
        shown = {f"merge_fields.{tag}": value for tag, value in body["merge_fields"].items()}
        shown |= {name: value for name, value in body.items() if name not in ("merge_fields", "status_if_new")}
        shown["status"] = held["status"] if held is not None else self.customers.status_if_new
        body["merge_fields"][self.config.sync_field] = sync_mark(record.value["version"], shown)
        return body


def _refused(record: SinkRecord, step: Step, answer: Answer) -> Rejected:
    """A call Mailchimp refused for the member's own content, for the DLQ, its values masked."""
    problem = without_values(answer.problem, record.value)
    return Rejected(
        record,
        f"Mailchimp refused the {_WHAT[step]} of the member: HTTP {answer.status}: {problem}",
        f"HTTP{answer.status}",
    )
