"""The zendesk sink under its runner on real Kafka, against the Zendesk simulation over real HTTP: customers become
users and organizations with their fields, the version guard under updates, stale versions and a replay,
per-item refusals as one dead letter each, 429 honoured, deletes and merges, and no echo through the http_poll
source; then the whole-call refusals, the job bound and the setup and configuration checks."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from copy import deepcopy
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from producers.http_poll.config import HttpPollSource
from producers.http_poll.source import HttpPoll
from sandbox.zendesk import Zendesk, running
from seamline.config import KafkaConfig
from seamline.connectors.http_auth import ApiTokenAuth
from seamline.connectors.sink import SinkRecord, TargetFailing
from seamline.dead_letters.writer import read_headers
from seamline.metrics import Metrics
from seamline.retry import ServerUnavailable
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic
from sinks.runner import SinkRunner
from sinks.zendesk.config import ZendeskSink
from sinks.zendesk.target import ZendeskTarget
from tests.conftest import wait_until
from tests.producers.draining import changes_in, idle
from tests.sinks.canonical_records import customer_changes as changes
from tests.sinks.canonical_records import person, publish
from tests.sinks.sink_threads import drain as drain_sink
from tests.sinks.sink_threads import in_thread

MARK = "user_fields.seamline_sync"


@pytest.fixture
def zendesk() -> Iterator[tuple[Zendesk, str]]:
    """A simulated account with the custom fields the sink needs, served on 127.0.0.1; (account, its URL)."""
    account = Zendesk(delay_s=0)
    for kind in ("user", "organization"):
        account.add_field(kind, "seamline_sync")
    account.add_field("user", "city")
    with running(account) as url:
        yield account, url


def zd_config(url: str, account: Zendesk, **overrides: Any) -> ZendeskSink:
    """The sink as a user would write it: persons as users, customers with a tax id as organizations."""
    settings: dict[str, Any] = {
        "kind": "zendesk",
        "base_url": url,
        "auth": {"kind": "api_token", "user": account.email, "token": account.api_token},
        "timeout_s": 5,
        "entities": {
            "customer": {
                "fields": {"name": "name", "email": "email", "phone": "phone", "user_fields.city": "city"},
                "organizations": {
                    "when": "tax_id",
                    "fields": {"name": "name", "details": {"concat": ["street", "city"], "separator": ", "}},
                },
            }
        },
    }
    return ZendeskSink.model_validate(settings | overrides)


def customer(number: int, version: int, **values: Any) -> dict[str, Any]:
    """Version `version` of customer c<number>, a person in Milano with a phone; its name says the version."""
    return person(number, version, phone=f"+49401234{number:03d}") | values


def company(number: int, version: int, **values: Any) -> dict[str, Any]:
    """Customer c<number> as a company: it has a tax id."""
    return (
        customer(number, version, name=f"Company {number} v{version}", tax_id=f"DE{number:09d}", street="Via Po 1")
        | values
    )


def runner(kafka: KafkaConfig, url: str, account: Zendesk, metrics: Metrics, group: str = "support") -> SinkRunner:
    return SinkRunner("support", kafka, ZendeskTarget("support", zd_config(url, account)), ["customer"], metrics, group)


def drain(kafka: KafkaConfig, url: str, account: Zendesk, group: str = "support") -> Metrics:
    """Run the sink until it has committed everything now in the customer topic."""
    metrics = Metrics.create()
    drain_sink(kafka, runner(kafka, url, account, metrics, group), ["customer"])
    return metrics


def sink_running(kafka: KafkaConfig, url: str, account: Zendesk) -> AbstractContextManager[SinkRunner]:
    return in_thread(runner(kafka, url, account, Metrics.create()))


def users(account: Zendesk) -> dict[str, dict[str, Any]]:
    """The live users by external id."""
    return {u["external_id"]: u for u in account.users.values() if u["active"] and u["external_id"]}


def test_a_customer_becomes_a_user_an_update_changes_it_an_older_version_changes_nothing(
    kafka: KafkaConfig, zendesk: tuple[Zendesk, str]
) -> None:
    account, url = zendesk
    publish(kafka, changes(customer(1, 1), customer(2, 1)))
    drain(kafka, url, account)
    user = users(account)["c1"]
    assert (user["name"], user["email"], user["phone"]) == ("Customer 1 v1", "customer1@example.com", "+49401234001")
    assert user["user_fields"]["city"] == "Milano" and user["user_fields"]["seamline_sync"].startswith("1 ")
    assert user["role"] == "end-user" and len(users(account)) == 2
    publish(kafka, changes(customer(1, 3, city="Roma")))
    drain(kafka, url, account)
    assert users(account)["c1"]["name"] == "Customer 1 v3" and users(account)["c1"]["user_fields"]["city"] == "Roma"
    before, writes = deepcopy(account.users), len(account.writes)
    publish(kafka, changes(customer(1, 2)))
    drain(kafka, url, account)
    assert account.users == before and len(account.writes) == writes, "version 2 after version 3 changes nothing"


def test_a_replay_from_the_start_with_a_new_group_changes_nothing(
    kafka: KafkaConfig, zendesk: tuple[Zendesk, str]
) -> None:
    account, url = zendesk
    history: list[dict[str, Any] | tuple[str, None]] = [customer(n, v) for v in (1, 2, 3) for n in range(1, 6)]
    history += [company(6, 1), company(6, 2), customer(5, 4, deleted=True), ("c5", None)]
    publish(kafka, changes(*history))
    drain(kafka, url, account)
    assert sorted(users(account)) == ["c1", "c2", "c3", "c4"] and len(account.organizations) == 1
    before, orgs, writes = deepcopy(account.users), deepcopy(account.organizations), list(account.writes)
    drain(kafka, url, account, group="replay")
    assert account.writes == writes, "the replay wrote nothing"
    assert account.users == before and account.organizations == orgs


def test_a_user_zendesk_refuses_is_one_letter_with_its_reason_and_no_value(
    kafka: KafkaConfig, zendesk: tuple[Zendesk, str]
) -> None:
    account, url = zendesk
    publish(kafka, changes(*(customer(n, 1) for n in range(1, 5)), customer(5, 1, email="anna@localhost")))
    metrics = drain(kafka, url, account)
    assert sorted(users(account)) == ["c1", "c2", "c3", "c4"]
    (letter,) = list(read_to_end(kafka, dlq_topic(kafka, "sink.support")))
    headers = read_headers(letter.headers())
    assert headers["error.class"] == "UserUpdateError"
    assert (
        headers["error.reason"] == "Zendesk refused the user: UserUpdateError: Email: <value> is not properly formatted"
    )
    assert not any("anna@localhost" in value or "Customer 5" in value for value in headers.values())
    rejected = metrics.registry.get_sample_value(
        "seamline_sink_writes_total", {"sink": "support", "entity": "customer", "outcome": "rejected"}
    )
    assert rejected == 1


def test_a_429_with_retry_after_delays_the_batch_and_loses_nothing(
    kafka: KafkaConfig, zendesk: tuple[Zendesk, str]
) -> None:
    account, url = zendesk
    with sink_running(kafka, url, account):
        wait_until(lambda: any("organization_fields" in p for _, p, _ in account.requests), 30, "the sink's setup")
        account.faults.throttle(2, retry_after=2)
        publish(kafka, changes(*(customer(n, 1) for n in range(1, 31))))
        wait_until(lambda: len(users(account)) == 30, 60, "30 users written", interval=0.2)
    limited = [n for n, (_, _, status) in enumerate(account.requests) if status == 429]
    assert len(limited) == 2
    for n in limited:
        asked_at, after = account.requests[n][0], account.requests[n + 1][0]
        assert after - asked_at >= 1.95, "the next call waited for Retry-After"
    assert len(account.users) == 30, "each written once"
    assert list(read_to_end(kafka, dlq_topic(kafka, "sink.support"))) == []


def test_companies_are_organizations_and_deletes_and_merges_act_on_zendesk(
    kafka: KafkaConfig, zendesk: tuple[Zendesk, str]
) -> None:
    account, url = zendesk
    publish(kafka, changes(customer(1, 1), customer(2, 1), company(3, 1), customer(4, 1)))
    drain(kafka, url, account)
    (acme,) = account.organizations.values()
    assert (acme["external_id"], acme["name"], acme["details"]) == ("c3", "Company 3 v1", "Via Po 1, Milano")
    assert sorted(users(account)) == ["c1", "c2", "c4"]
    ids = {key: user["id"] for key, user in users(account).items()}
    ticket = account.create_ticket("invoice question", requester_id=ids["c1"])
    publish(
        kafka,
        changes(
            customer(1, 2, deleted=True, merged_into="c2"),
            ("c1", None),
            company(3, 2, deleted=True),
            ("c3", None),
            company(4, 2),  # a person who turns out to be a company
        ),
    )
    drain(kafka, url, account)
    assert sorted(users(account)) == ["c2"]
    assert account.tickets[ticket["id"]]["requester_id"] == ids["c2"], "the merge moved the ticket"
    assert "customer1@example.com" in account.identities(ids["c2"])
    live = {o["external_id"]: o for o in account.organizations.values() if o["deleted_at"] is None}
    assert list(live) == ["c4"] and live["c4"]["name"] == "Company 4 v2"
    assert account.writes[-4] == ("POST", "/api/v2/organizations/create_or_update_many"), "upserts first"
    assert sorted(account.writes[-3:]) == [  # the keys' order in a batch depends on their partitions
        ("DELETE", f"/api/v2/organizations/{acme['id']}"),
        ("DELETE", f"/api/v2/users/{ids['c4']}"),
        ("PUT", f"/api/v2/users/{ids['c1']}/merge"),
    ]


def test_the_http_poll_source_publishes_no_echo_of_what_the_sink_wrote(
    kafka: KafkaConfig, zendesk: tuple[Zendesk, str]
) -> None:
    account, url = zendesk
    publish(kafka, changes(customer(1, 1), customer(2, 1), customer(3, 1), company(4, 1)))
    drain(kafka, url, account)
    source_config = HttpPollSource.model_validate(
        {
            "kind": "http_poll",
            "base_url": url,
            "auth": ApiTokenAuth(kind="api_token", user=account.email, token=SecretStr(account.api_token)),
            "objects": ["users", "organizations"],
            "poll_interval_s": 0.2,
        }
    )
    time.sleep(1.1)  # the export shows finished seconds only
    source = HttpPoll("support", source_config, Metrics.create())
    source.setup(None)
    try:
        assert changes_in(idle(source.changes(), 2.0)) == [], "nothing the sink wrote comes back"
        renamed, deleted = users(account)["c1"]["id"], users(account)["c2"]["id"]
        account.update_user(renamed, name="Renamed by an agent")
        account.delete_user(deleted)
        time.sleep(1.1)
        published = changes_in(idle(source.changes(), 2.0))
    finally:
        source.close()
    assert sorted((c.key["id"], c.op) for c in published) == sorted([(str(renamed), "u"), (str(deleted), "d")])
    # the agent's change, merged into the golden record and sent back with origin support, is not written again
    writes = len(account.writes)
    publish(kafka, changes(customer(1, 2, name="Renamed by an agent", origin="support")))
    drain(kafka, url, account)
    assert len(account.writes) == writes


def record(value: dict[str, Any]) -> SinkRecord:
    return SinkRecord("customer", value["id"], value, "t", 0, 0, None, None)


def test_whole_call_refusals_are_the_targets_and_a_job_is_waited_for_a_bounded_time(
    zendesk: tuple[Zendesk, str],
) -> None:
    account, url = zendesk
    target = ZendeskTarget("support", zd_config(url, account, job_timeout_s=0.5))
    target.setup()
    try:
        account.api_token = "revoked"
        with pytest.raises(TargetFailing, match=r"HTTP 401 from GET /api/v2/users/show_many: Couldn't authenticate"):
            target.write([record(customer(1, 1))])
        account.api_token = "sim-api-token"
        account.faults.fail(1)
        with pytest.raises(ServerUnavailable, match="HTTP 503"):
            target.write([record(customer(1, 1))])
        account.job_s = 5
        with pytest.raises(ServerUnavailable, match=r"did not complete within 0.5s \(job_timeout_s\)"):
            target.write([record(customer(1, 1))])
    finally:
        target.close()


def test_setup_names_a_missing_custom_field_and_refused_credentials(zendesk: tuple[Zendesk, str]) -> None:
    account, url = zendesk
    settings = zd_config(url, account).model_dump(mode="json")
    settings["auth"]["token"] = "wrong"
    with pytest.raises(PermissionError, match="HTTP 401 .* fix the sink's auth"):
        ZendeskTarget("support", ZendeskSink.model_validate(settings)).setup()
    unmade = zd_config(url, account, sync_field="seamline_mark")
    with pytest.raises(PermissionError, match="Zendesk has no user field with key 'seamline_mark': create it"):
        ZendeskTarget("support", unmade).setup()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": {"name": "name", "emial": "email"}}, "fields.emial: not a user property the sink writes"),
        ({"fields": {"email": "email"}}, "map name: Zendesk requires a user's name"),
        ({"fields": {"name": "name", "user_fields.seamline_sync": "id"}}, "the sink sets its sync mark"),
        ({"fields": {"name": "nmae"}}, "customer has no field 'nmae' to read"),
        (
            {"fields": {"name": "name"}, "organizations": {"when": "vat", "fields": {"name": "name"}}},
            "the canonical customer has no field 'vat'",
        ),
    ],
)
def test_the_section_refuses_what_zendesk_would_not_take(change: dict[str, Any], message: str) -> None:
    settings = {"kind": "zendesk", "base_url": "https://acme.zendesk.com", "auth": {"kind": "bearer", "token": "t"}}
    with pytest.raises(ValidationError, match=message):
        ZendeskSink.model_validate(settings | {"entities": {"customer": change}})
    with pytest.raises(ValidationError, match="map customer only, not product"):
        ZendeskSink.model_validate(settings | {"entities": {"product": {"fields": {"name": "name"}}}})
