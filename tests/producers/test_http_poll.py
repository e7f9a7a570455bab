"""HttpPoll against the Zendesk simulation: pages, updates, deletes, 429, resume, misconfiguration."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

import producers.http_poll.source
import sandbox.zendesk
from producers.http_poll.config import HttpPollObject, HttpPollSource
from producers.http_poll.source import HttpPoll
from producers.sql_poll.source import format_position
from sandbox.zendesk import Zendesk, running
from seamline.config import ConfigError, KafkaConfig, load_config
from seamline.connectors.http_auth import ApiTokenAuth, BearerAuth
from seamline.connectors.registry import source_kind
from seamline.connectors.source import Checkpoint, SourceSetupError
from seamline.events import event_id, watermark_order
from seamline.metrics import Metrics
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import config_topics, source_topic
from tests.clock import Clock, ClockStop
from tests.conftest import wait_until
from tests.producers import draining
from tests.producers.draining import Item, changes_in, idle


@dataclass
class Api:
    """The simulation served on a free port, and HttpPoll sources made against it, both on the test's clock."""

    zendesk: Zendesk
    url: str
    clock: Clock
    sources: list[HttpPoll] = field(default_factory=list)

    def settle(self) -> None:
        """Wait until the current second is over: the export shows only finished seconds."""
        self.clock.sleep(1.05 - self.clock.time() % 1)

    def config(self, **settings: Any) -> HttpPollSource:
        values: dict[str, Any] = {
            "kind": "http_poll",
            "base_url": self.url,
            "auth": ApiTokenAuth(kind="api_token", user=self.zendesk.email, token=SecretStr(self.zendesk.api_token)),
            "objects": ["tickets"],
            "poll_interval_s": 0.1,
        }
        values.update(settings)
        return HttpPollSource.model_validate(values)

    def source(self, resume: Checkpoint | None = None, **settings: Any) -> tuple[HttpPoll, Iterator[Item | None]]:
        poll = HttpPoll("support", self.config(**settings), Metrics.create())
        self.sources.append(poll)
        poll.setup(resume)
        return poll, poll.changes()


@pytest.fixture
def api(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The simulation's stamps, the sources' polls and waits (Retry-After, retries, poll intervals) and the
    draining of their changes all run on the test's clock."""
    clock.install(monkeypatch, sandbox.zendesk, producers.http_poll.source, draining)
    monkeypatch.setattr(producers.http_poll.source, "process_stop", ClockStop(clock))
    zendesk = Zendesk(delay_s=0)
    with running(zendesk) as url:
        made = Api(zendesk, url, clock)
        yield made
        for poll in made.sources:
            poll.close()


def ids(items: list[Item]) -> list[str]:
    return [c.key["id"] for c in changes_in(items)]


def cursors(item: Item) -> dict[str, Any]:
    assert isinstance(item, Checkpoint)
    loaded: dict[str, Any] = json.loads(item.position)
    return loaded


def test_initial_export_across_pages_with_text_rows_positions_and_checkpoints(api: Api) -> None:
    made = [api.zendesk.create_ticket(f"ticket {n}", tags=["vip", "ünï"], via={"channel": "email"}) for n in range(5)]
    api.settle()
    _poll, changes = api.source(per_page=2)
    items = idle(changes)
    assert ids(items) == [str(t["id"]) for t in made]
    assert [type(i).__name__ for i in items] == ["Change"] * 2 + ["Checkpoint"] + ["Change"] * 2 + ["Checkpoint"] + [
        "Change",
        "Checkpoint",
    ]
    first = changes_in(items)[0]
    assert (first.system, first.object, first.connector, first.op) == ("support", "tickets", "http_poll", "u")
    assert first.before is None and first.after is not None
    assert first.after["subject"] == "ticket 0" and first.after["id"] == str(made[0]["id"])
    assert first.after["tags"] == '["vip","ünï"]' and first.after["via"] == '{"channel":"email"}'
    assert first.after["priority"] is None and first.after["generated_timestamp"] == str(made[0]["generated_timestamp"])
    moment = made[0]["generated_timestamp"]
    assert first.position == format_position(datetime.fromtimestamp(moment, UTC), str(made[0]["id"]))
    assert first.source_ts_ms == moment * 1000
    assert first.envelope()["event_id"] == event_id("support", "tickets", {"id": str(made[0]["id"])}, first.position)
    orders = [watermark_order(c.position) for c in changes_in(items)]
    assert orders == sorted(orders)
    assert set(cursors(items[-1])) == {"tickets"} and "cursor" in cursors(items[-1])["tickets"]
    assert idle(changes, 0.4) == []  # at end_of_stream: nothing more, the cursor stays


def test_updates_and_deletes_are_picked_up_with_the_same_event_id_for_a_reread(api: Api) -> None:
    ticket = api.zendesk.create_ticket("printer on fire")
    user = api.zendesk.create_user("Ada Lovelace", "ada@example.com")
    api.settle()
    _poll, changes = api.source(objects=["tickets", "users"])
    assert ids(idle(changes)) == [str(ticket["id"]), str(user["id"])]
    api.clock.sleep(0.2)
    api.zendesk.update_ticket(ticket["id"], status="open", priority="urgent")
    api.zendesk.delete_user(user["id"])
    gone = api.zendesk.delete_ticket(api.zendesk.create_ticket("spam")["id"])
    api.settle()
    items = idle(changes, 1.0)
    by_key = {(c.object, c.key["id"]): c for c in changes_in(items)}
    updated = by_key[("tickets", str(ticket["id"]))]
    assert updated.op == "u" and updated.after is not None and updated.after["priority"] == "urgent"
    deleted = by_key[("tickets", str(gone["id"]))]
    assert deleted.op == "d" and deleted.after is None and deleted.before is not None
    assert deleted.before["status"] == "deleted" and deleted.before["updated_at"] == gone["updated_at"]
    removed = by_key[("users", str(user["id"]))]
    assert removed.op == "d" and removed.before is not None and removed.before["active"] == "false"
    assert set(cursors([i for i in items if isinstance(i, Checkpoint)][-1])) == {"tickets", "users"}


def test_time_based_export_repeats_its_last_second_with_the_same_event_ids(api: Api) -> None:
    for n in range(3):
        api.zendesk.create_organization(f"org {n}")
    api.settle()
    _poll, changes = api.source(objects=["organizations"], per_page=2)
    items = idle(changes, 1.0)
    envelopes = {(c.key["id"], c.envelope()["event_id"]) for c in changes_in(items)}
    assert len(envelopes) == 3 and len(changes_in(items)) >= 3  # re-read records keep their event_id
    assert "start_time" in cursors(items[-1])["organizations"]


def test_429_waits_exactly_retry_after_then_asks_for_the_same_page(api: Api) -> None:
    made = [api.zendesk.create_ticket(f"t{n}") for n in range(3)]
    api.settle()
    _poll, changes = api.source(per_page=2)
    assert len(changes_in(idle(changes, 0.3))) == 3
    api.zendesk.update_ticket(made[0]["id"], status="solved")
    api.settle()
    api.zendesk.requests.clear()
    api.zendesk.faults.throttle(1, retry_after=2)
    items = idle(changes, 3.0)
    assert ids(items) == [str(made[0]["id"])]
    (limited_at, limited_path, status), (again_at, again_path, _) = api.zendesk.requests[:2]
    assert status == 429 and again_path == limited_path  # the same page, asked again
    assert 2.0 <= again_at - limited_at < 2.4


def test_5xx_is_retried_through_the_retry_policy(api: Api) -> None:
    api.zendesk.create_ticket("t")
    api.settle()
    api.zendesk.faults.fail(2)
    _poll, changes = api.source()
    assert len(changes_in(idle(changes, 0.3))) == 1
    assert [status for _, _, status in api.zendesk.requests[:3]] == [503, 503, 200]


def test_resume_from_a_checkpoint_continues_exactly_after_its_page(api: Api) -> None:
    made = [api.zendesk.create_ticket(f"t{n}") for n in range(5)]
    api.settle()
    first, changes = api.source(per_page=2)
    items: list[Item] = []
    while sum(isinstance(i, Checkpoint) for i in items) < 2:
        item = next(changes)
        if item is not None:
            items.append(item)
    checkpoint = items[-1]
    assert isinstance(checkpoint, Checkpoint) and len(changes_in(items)) == 4
    first.close()
    api.zendesk.update_ticket(made[0]["id"], subject="changed")
    api.settle()
    _second, resumed = api.source(checkpoint, per_page=2)
    assert ids(idle(resumed)) == [str(made[4]["id"]), str(made[0]["id"])]


def test_start_time_skips_older_records_and_lag_is_near_zero_at_end_of_stream(api: Api) -> None:
    recent = api.zendesk.create_ticket("recent")
    api.settle()
    api.zendesk.requests.clear()
    poll, changes = api.source(start_time=int(api.clock.time()) - 61)
    assert "start_time=" in api.zendesk.requests[0][1]
    assert ids(idle(changes, 0.3)) == [str(recent["id"])]  # stamped within the last minute: on or after start_time
    poll.observe_lag()
    lag = poll.metrics.registry.get_sample_value("seamline_source_lag_seconds", {"source": "support"})
    assert lag is not None and lag < 2
    polls = poll.metrics.registry.get_sample_value("seamline_source_poll_seconds_count", {"source": "support"})
    assert polls is not None and polls >= 1


def test_bad_credentials_unknown_paths_and_wrong_shapes_stop_at_setup_with_one_line(api: Api) -> None:
    wrong = ApiTokenAuth(kind="api_token", user=api.zendesk.email, token=SecretStr("nope"))
    with pytest.raises(SourceSetupError, match=r"refused the credentials \(401 .*Couldn't authenticate you.*fix auth"):
        api.source(auth=wrong)
    with pytest.raises(SourceSetupError) as refused:
        api.source(auth=BearerAuth(kind="bearer", token=SecretStr("secret-bearer")))
    assert "secret-bearer" not in str(refused.value) and "\n" not in str(refused.value)
    assert api.source(auth=BearerAuth(kind="bearer", token=SecretStr(api.zendesk.oauth_token)))[0] is not None
    bad_path = HttpPollObject(name="tickets", path="/api/v2/incremental/ticket.json", records_field="tickets")
    with pytest.raises(
        SourceSetupError, match=r"ticket\.json does not exist \(404\): fix the path of object 'tickets'"
    ):
        api.source(objects=[bad_path])
    wrong_field = HttpPollObject(name="t", path="/api/v2/incremental/tickets/cursor.json", records_field="ticket")
    with pytest.raises(
        SourceSetupError, match=r"has no list 'ticket' \(it has: tickets, after_cursor.*fix records_field"
    ):
        api.source(objects=[wrong_field])
    wrong_style = wrong_field.model_copy(update={"records_field": "tickets", "cursor_style": "time"})
    with pytest.raises(
        SourceSetupError, match=r"no 'end_time' .* not a time-based incremental export: fix cursor_style"
    ):
        api.source(objects=[wrong_style])


def test_a_record_without_its_key_field_is_a_clear_error(api: Api) -> None:
    api.zendesk.create_ticket("t")
    api.settle()
    keyless = HttpPollObject(
        name="tickets", path="/api/v2/incremental/tickets/cursor.json", records_field="tickets", key_field="uuid"
    )
    _poll, changes = api.source(objects=[keyless])
    with pytest.raises(SourceSetupError, match=r"a record of tickets has no 'uuid' \(it has: id, url.*fix key_field"):
        idle(changes)


HTTP_POLL_FILE = """\
sources:
  support:
    kind: http_poll
    base_url: https://acme.zendesk.com
    auth: {kind: api_token, user: admin@acme.com, token: "${ZENDESK_TOKEN}"}
    objects:
      - tickets
      - users
      - name: satisfaction
        path: /api/v2/incremental/satisfaction_ratings.json
        records_field: satisfaction_ratings
        cursor_style: time
    start_time: 2026-01-01T00:00:00Z
"""


def test_an_http_poll_entry_validates_through_load_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENDESK_TOKEN", "t0ken")
    path = tmp_path / "seamline.yaml"
    path.write_text(HTTP_POLL_FILE)
    config = load_config(path)
    source = config.sources["support"]
    assert isinstance(source, HttpPollSource) and isinstance(source.auth, ApiTokenAuth)
    assert source.auth.token.get_secret_value() == "t0ken" and "t0ken" not in repr(config)
    assert [o.name for o in source.objects] == ["tickets", "users", "satisfaction"]
    assert (source.objects[0].deleted_field, source.objects[0].deleted_value) == ("status", "deleted")
    assert (source.objects[1].deleted_field, source.objects[1].deleted_value) == ("active", False)
    assert (source.system, source.per_page, source.start_time.year) == ("support", 1000, 2026)
    assert {"src.support.tickets", "src.support.users", "src.support.satisfaction"} <= set(config_topics(config))
    assert isinstance(source_kind("http_poll").open("support", source, KafkaConfig(), Metrics.create()), HttpPoll)

    path.write_text(HTTP_POLL_FILE.replace("      - users\n", "      - user\n"))
    with pytest.raises(ConfigError, match=r"sources.support.objects: Value error, unknown object 'user': use one of"):
        load_config(path)
    path.write_text(HTTP_POLL_FILE.replace("kind: api_token", "kind: basic"))
    with pytest.raises(ConfigError, match=r"seamline.yaml:5: sources.support.auth.*'basic'.*'bearer', 'api_token'"):
        load_config(path)
    path.write_text(HTTP_POLL_FILE.replace("2026-01-01T00:00:00Z", "2026-01-01T00:00:00"))
    with pytest.raises(ConfigError, match=r"sources.support.start_time: Input should have timezone info"):
        load_config(path)


def requested_since(zendesk: Zendesk, count: int) -> bool:
    return len(zendesk.requests) > count


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_change(kafka: KafkaConfig, tmp_path: Path) -> None:
    """The real `seamline source run` process, killed with SIGKILL while tickets change, then restarted.

    An export shows only the newest state of a record, so each ticket changes at most once after being
    seeded: then every version the writer makes is final and must reach Kafka (duplicates allowed).
    """
    rng = random.Random(5)
    zendesk = Zendesk(delay_s=0)
    seeded = [zendesk.create_ticket(f"seed {n}") for n in range(60)]
    versions = {(t["id"], t["updated_at"]) for t in seeded}
    with running(zendesk) as url:
        config_path = tmp_path / "seamline.yaml"
        source = {
            "kind": "http_poll",
            "base_url": url,
            "auth": {"kind": "api_token", "user": zendesk.email, "token": zendesk.api_token},
            "objects": ["tickets"],
            "per_page": 7,
            "poll_interval_s": 0.2,
            "metrics_port": free_port(),
        }
        kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
        config_path.write_text(yaml.safe_dump({"kafka": kafka_section, "sources": {"support": source}}))
        supervisor = Supervisor(config_path, tmp_path / "logs", {"source": ["source", "run", "support"]})
        done = threading.Event()

        def write_changes() -> None:
            untouched = [t["id"] for t in seeded]
            rng.shuffle(untouched)
            for step in range(240):
                if step % 3 == 0:
                    made = zendesk.create_ticket(f"new {step}")
                elif step % 3 == 1 and untouched:
                    made = zendesk.update_ticket(untouched.pop(), status="open", priority="high")
                else:
                    made = zendesk.delete_ticket(untouched.pop()) if untouched else zendesk.create_ticket("x")
                versions.add((made["id"], made["updated_at"]))
                time.sleep(0.05)
            done.set()

        writer = threading.Thread(target=write_changes)
        supervisor.start("source")
        writer.start()
        kills = 0
        log = tmp_path / "logs" / "source.log"

        def resumed() -> bool:
            return "resumes from Checkpoint" in log.read_text()

        try:
            # On a slow machine the first kills may all land before the first commit: go on until a restart
            # resumed from a stored cursor, bounded so that a source that never commits fails the test.
            while (not done.is_set() or kills < 3 or not resumed()) and kills < 12:
                asked = len(zendesk.requests)  # kill once it is exporting, at a random point
                wait_until(partial(requested_since, zendesk, asked), 60, "the source to ask for a page", 0.05)
                time.sleep(rng.uniform(0.0, 1.5 + kills * 0.25))
                supervisor.kill("source")
                supervisor.start("source")
                kills += 1
            writer.join()
            final = {(t["id"], t["updated_at"]) for t in zendesk.tickets.values()}
            topic = source_topic(kafka, "support", "tickets")
            serde = AvroSerde(kafka)
            seen: dict[tuple[int, str], set[str]] = {}
            ops: dict[int, set[str]] = {}

            def everything_arrived() -> bool:
                crashed = supervisor.crashed()
                assert not crashed, supervisor.log_tail("source")
                seen.clear()
                for message in read_to_end(kafka, topic):
                    value = serde.decode(topic, message.value())
                    row = value["after"] or value["before"]
                    seen.setdefault((int(row["id"]), row["updated_at"]), set()).add(value["event_id"])
                    ops.setdefault(int(row["id"]), set()).add(value["op"])
                return final <= set(seen)

            wait_until(everything_arrived, 120, "every ticket change in Kafka")
        finally:
            supervisor.stop_all()
    assert set(seen) <= versions  # nothing invented
    assert all(len(event_ids) == 1 for event_ids in seen.values())  # a re-read version keeps its event_id
    deleted = [key for key, t in zendesk.tickets.items() if t["status"] == "deleted"]
    assert deleted and all("d" in ops[key] for key in deleted)
    assert kills >= 3
    assert resumed()
