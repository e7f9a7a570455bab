"""The salesforce source against the Salesforce simulation: paging, updates, ties, deletes, tokens, limits, resume."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

import producers.salesforce.source
import sandbox.salesforce
from producers.salesforce.config import SalesforceSource
from producers.salesforce.source import Salesforce, parse_cursor
from sandbox.salesforce import SalesforceSim
from seamline.config import ConfigError, KafkaConfig, load_config
from seamline.connectors.registry import source_kind
from seamline.connectors.source import Checkpoint, SourceSetupError
from seamline.events import event_id, watermark_order
from seamline.metrics import Metrics
from seamline.topics import config_topics
from tests.clock import Clock, ClockStop
from tests.producers import draining
from tests.producers.draining import Item, changes_in, checkpoints, idle, take


@dataclass
class Org:
    """A running simulated org and the sources made against it (closed afterwards)."""

    sim: SalesforceSim
    clock: Clock
    sources: list[Salesforce] = field(default_factory=list)

    def config(self, **settings: Any) -> SalesforceSource:
        values: dict[str, Any] = {
            "kind": "salesforce",
            "login_url": self.sim.url,
            "client_id": self.sim.client_id,
            "client_secret": SecretStr(self.sim.client_secret),
            "objects": ["Account", "Contact"],
            "poll_interval_s": 0.05,
            "batch_size": 200,
        }
        return SalesforceSource(**(values | settings))

    def source(self, resume: Checkpoint | None = None, **settings: Any) -> tuple[Salesforce, Iterator[Item | None]]:
        made = Salesforce("crm", self.config(**settings), Metrics.create())
        self.sources.append(made)
        made.setup(resume)
        return made, made.changes()


@pytest.fixture
def org(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    """The simulation's stamps, the sources' polls and waits (retries, poll intervals, slow-downs) and the draining
    of their changes all run on the test's clock."""
    clock.install(monkeypatch, sandbox.salesforce, producers.salesforce.source, draining)
    monkeypatch.setattr(producers.salesforce.source, "process_stop", ClockStop(clock))
    with SalesforceSim(api_limit=100_000) as sim:
        made = Org(sim, clock)
        yield made
        for source in made.sources:
            source.close()


def ids(items: list[Item]) -> list[str]:
    return [c.key["Id"] for c in changes_in(items)]


def stamp_of(org: Org, obj: str, record: str) -> str:
    return str(org.sim.record(obj, record)["SystemModstamp"]).replace("+0000", "Z")


def test_initial_load_pages_through_every_object_with_typed_rows(org: Org) -> None:
    accounts = org.sim.insert_many(
        "Account",
        [
            {"Name": f"a{i}", "AnnualRevenue": 1000.0 + i, "NumberOfEmployees": i, "Discount__c": 12.5}
            for i in range(450)
        ],
    )
    contact = org.sim.insert(
        "Contact", {"LastName": "Tagore", "FirstName": "রবীন্দ্রনাথ", "Birthdate": "1861-05-07", "AccountId": accounts[0]}
    )
    source, changes = org.source()
    items = idle(changes)
    assert ids(items) == [*accounts, contact]
    assert sum(r.startswith("GET /services/data/v60.0/query/01g") for r in org.sim.requests) == 2  # queryMore x2
    checkpoints = [i for i in items if isinstance(i, Checkpoint)]
    assert len(checkpoints) == 4  # after each of the three Account pages and the Contact page
    assert (
        json.loads(checkpoints[0].position)["Account"]["live"]
        == f"{stamp_of(org, 'Account', accounts[199])}|{accounts[199]}"
    )
    first = changes_in(items)[0]
    assert (first.system, first.object, first.connector, first.op, first.before) == (
        "crm",
        "Account",
        "salesforce",
        "u",
        None,
    )
    assert first.key == {"Id": accounts[0]} and first.row_schema is not None
    assert first.after is not None
    assert (first.after["Name"], first.after["AnnualRevenue"], first.after["NumberOfEmployees"]) == ("a0", 1000.0, 0)
    assert first.after["Discount__c"] == 12.5 and first.after["IsDeleted"] is False
    modstamp = first.after["SystemModstamp"]
    assert isinstance(modstamp, datetime) and modstamp.tzinfo is not None
    assert first.position == f"{stamp_of(org, 'Account', accounts[0])}|{accounts[0]}"
    assert first.source_ts_ms == int(modstamp.timestamp() * 1000)
    assert first.envelope()["event_id"] == event_id("crm", "Account", {"Id": accounts[0]}, first.position)
    person = changes_in(items)[-1].after
    assert person is not None and person["FirstName"] == "রবীন্দ্রনাথ" and person["Birthdate"] == date(1861, 5, 7)
    types = dict(changes_in(items)[-1].row_schema.fields)  # type: ignore[union-attr]
    assert json.loads(types["SystemModstamp"]) == {"type": "long", "logicalType": "timestamp-micros"}
    assert json.loads(types["Birthdate"]) == {"type": "int", "logicalType": "date"}
    assert (types["HasOptedOutOfEmail"], types["Email"], types["AccountId"]) == ('"boolean"', '"string"', '"string"')
    source.observe_lag()
    polls = source.metrics.registry.get_sample_value("seamline_source_poll_seconds_count", {"source": "crm"})
    assert polls is not None and polls >= 5
    lag = source.metrics.registry.get_sample_value("seamline_source_lag_seconds", {"source": "crm"})
    assert lag is not None and 0 <= lag < 5
    assert idle(changes, 0.3) == []  # caught up: nothing is read twice


def test_an_update_is_captured_again_with_its_new_stamp(org: Org) -> None:
    first, second = org.sim.insert_many("Account", [{"Name": "Acme"}, {"Name": "Globex"}])
    _source, changes = org.source()
    assert ids(idle(changes)) == [first, second]
    org.clock.sleep(0.005)  # a later millisecond
    org.sim.update("Account", first, {"Name": "Acme Corp", "Industry": "Banking"})
    items = idle(changes)
    (change,) = changes_in(items)
    assert change.after is not None and (change.after["Name"], change.after["Industry"]) == ("Acme Corp", "Banking")
    assert change.position == f"{stamp_of(org, 'Account', first)}|{first}"
    assert items[-1] == Checkpoint(items[-1].position, snapshot_done=True)
    assert parse_cursor(json.loads(items[-1].position)["Account"]["live"])[1] == first


def test_ties_on_one_stamp_across_pages_and_a_restart_lose_and_repeat_nothing(org: Org) -> None:
    tied = org.sim.insert_many("Account", [{"Name": f"t{i}"} for i in range(450)])  # one DML: one SystemModstamp
    first, changes = org.source(objects=["Account"])
    items = take(changes, checkpoints(1))
    assert ids(items) == tied[:200]
    checkpoint = items[-1]
    assert isinstance(checkpoint, Checkpoint)
    first.close()
    late = org.sim.insert("Account", {"Name": "late"})
    _again, resumed = org.source(checkpoint, objects=["Account"])
    assert ids(idle(resumed)) == [*tied[200:], late]


def test_an_expired_query_locator_is_read_again_from_the_cursor(org: Org, caplog: pytest.LogCaptureFixture) -> None:
    accounts = org.sim.insert_many("Account", [{"Name": f"a{i}"} for i in range(450)])
    _source, changes = org.source(objects=["Account"])
    items = take(changes, checkpoints(1))
    org.sim.forget_query_locators()
    with caplog.at_level(logging.WARNING, logger="producers.salesforce.source"):
        items += idle(changes)
    assert ids(items) == accounts
    assert sum("query cursor expired" in r.getMessage() for r in caplog.records) == 1


def test_resume_covers_every_object_and_stream_exactly(org: Org) -> None:
    account = org.sim.insert("Account", {"Name": "A"})
    contact = org.sim.insert("Contact", {"LastName": "C"})
    gone = org.sim.insert("Contact", {"LastName": "gone"})
    org.sim.delete("Contact", gone)
    first, changes = org.source()
    items = idle(changes)
    assert [(c.key["Id"], c.op) for c in changes_in(items)] == [(account, "u"), (contact, "u"), (gone, "d")]
    checkpoint = items[-1]
    assert isinstance(checkpoint, Checkpoint)
    assert set(json.loads(checkpoint.position)) == {"Account", "Contact"}
    assert set(json.loads(checkpoint.position)["Contact"]) == {"live", "deleted"}
    first.close()
    org.clock.sleep(0.005)
    org.sim.update("Contact", contact, {"Email": "c@example.com"})
    _again, resumed = org.source(checkpoint)
    assert [(c.key["Id"], c.op) for c in changes_in(idle(resumed))] == [(contact, "u")]


def test_a_delete_is_read_through_query_all(org: Org) -> None:
    kept, deleted = org.sim.insert_many("Account", [{"Name": "kept"}, {"Name": "deleted", "Phone": "+39 06 1234"}])
    _source, changes = org.source(objects=["Account"])
    assert ids(idle(changes)) == [kept, deleted]
    org.clock.sleep(0.005)
    org.sim.delete("Account", deleted)
    items = idle(changes)
    (change,) = changes_in(items)
    assert (change.op, change.key, change.after) == ("d", {"Id": deleted}, None)
    assert change.before is not None and change.before["IsDeleted"] is True and change.before["Phone"] == "+39 06 1234"
    assert change.position == f"{stamp_of(org, 'Account', deleted)}|{deleted}"
    assert any(
        r.startswith("GET /services/data/v60.0/queryAll?q=") and "IsDeleted+%3D+true" in r for r in org.sim.requests
    )
    assert json.loads(items[-1].position)["Account"]["deleted"] == change.position


def test_an_expired_token_is_refreshed_once(org: Org, caplog: pytest.LogCaptureFixture) -> None:
    account = org.sim.insert("Account", {"Name": "A"})
    _source, changes = org.source(objects=["Account"])
    assert ids(idle(changes)) == [account]
    org.sim.expire_tokens()
    org.clock.sleep(0.005)
    org.sim.update("Account", account, {"Name": "B"})
    with caplog.at_level(logging.INFO, logger="seamline.salesforce_api"):
        assert ids(idle(changes)) == [account]
    assert sum("access token expired" in r.getMessage() for r in caplog.records) == 1


def test_server_errors_and_transport_trouble_are_retried(org: Org) -> None:
    account = org.sim.insert("Account", {"Name": "A"})
    _source, changes = org.source(objects=["Account"])
    org.sim.fail_next(3, status=503)
    assert ids(idle(changes, 2.0)) == [account]


def test_high_api_usage_slows_polling_down_and_is_logged_once(org: Org, caplog: pytest.LogCaptureFixture) -> None:
    org.sim.insert("Account", {"Name": "A"})
    _source, changes = org.source(objects=["Account"], poll_interval_s=0.05, usage_slowdown_fraction=0.5)
    idle(changes, 0.5)
    normal = len(org.sim.requests)
    org.sim.api_limit = normal + 10  # usage now above half the limit
    org.sim.requests.clear()
    with caplog.at_level(logging.INFO, logger="producers.salesforce.source"):
        idle(changes, 1.2)
    slowed = len(org.sim.requests)
    assert slowed <= 6 < normal  # at most 2 polls of 2 queries + setup slack, against ~ 20 polls before
    warnings = [r.getMessage() for r in caplog.records if "above 50% of the daily limit" in r.getMessage()]
    assert len(warnings) == 1 and "polling every 0.5s" in warnings[0]


def test_an_exhausted_limit_waits_instead_of_failing(org: Org, caplog: pytest.LogCaptureFixture) -> None:
    account = org.sim.insert("Account", {"Name": "A"})
    _source, changes = org.source(objects=["Account"], poll_interval_s=0.02)
    org.sim.api_usage = org.sim.api_limit
    with caplog.at_level(logging.WARNING, logger="producers.salesforce.source"):
        assert idle(changes, 0.5) == []  # tried about every 0.2 s
    assert sum("daily API limit is exhausted" in r.getMessage() for r in caplog.records) == 1
    org.sim.api_usage = 0
    assert ids(idle(changes, 0.6)) == [account]


def test_misconfiguration_stops_setup_with_one_clear_line(org: Org) -> None:
    with pytest.raises(
        SourceSetupError, match=r"refused the client credentials \(invalid_client: .*check client_id"
    ) as bad:
        org.source(client_secret=SecretStr("wrong"))
    with pytest.raises(SourceSetupError, match=r"no object 'Acount' visible to this client: fix 'objects'") as unknown:
        org.source(objects=["Account", "Acount"])
    for message in (str(bad.value), str(unknown.value)):
        assert message.startswith("source crm: ") and "\n" not in message and "secret" not in message.split("(")[0]
    assert "wrong" not in str(bad.value)


def test_position_order_of_salesforce_positions() -> None:
    def order(position: str) -> tuple[int | str, ...]:
        return watermark_order(position)

    assert order("2026-11-22T04:05:06.123Z|001A") < order("2026-11-22T04:05:06.123Z|001B")
    assert order("2026-11-22T04:05:06.123Z|001B") < order("2026-11-22T04:05:06.124Z|001A")
    assert parse_cursor("2026-11-22T04:05:06.123Z|001A") == (
        datetime(2026, 11, 22, 4, 5, 6, 123000, tzinfo=UTC),
        "001A",
    )


SALESFORCE_FILE = """\
sources:
  crm:
    kind: salesforce
    login_url: https://acme.my.salesforce.com
    client_id: 3MVG9-consumer-key
    client_secret: ${SF_SECRET}
    objects: [Account, Contact]
"""


def test_a_salesforce_entry_validates_through_load_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SF_SECRET", "s3cret")
    path = tmp_path / "seamline.yaml"
    path.write_text(SALESFORCE_FILE)
    source = load_config(path).sources["crm"]
    assert isinstance(source, SalesforceSource)
    assert source.client_secret.get_secret_value() == "s3cret" and "s3cret" not in repr(source)
    assert (source.system, source.api_version, source.batch_size, source.poll_interval_s) == ("crm", "60.0", 2000, 5.0)
    assert source.usage_slowdown_fraction == 0.8
    assert {"src.crm.Account", "src.crm.Contact"} <= set(config_topics(load_config(path)))
    assert isinstance(source_kind("salesforce").open("crm", source, KafkaConfig(), Metrics.create()), Salesforce)
    path.write_text(SALESFORCE_FILE + "    batch_size: 50\n")
    with pytest.raises(ConfigError, match=r"seamline.yaml:8: sources.crm.batch_size: Input should be greater than or"):
        load_config(path)
    path.write_text(SALESFORCE_FILE.replace("    objects: [Account, Contact]\n", "    objects: []\n"))
    with pytest.raises(ConfigError, match=r"sources.crm.objects: List should have at least 1 item"):
        load_config(path)
