"""The mailchimp sink under its runner on real Kafka, against the Mailchimp simulation over real HTTP: customers
become audience members with their merge fields and tags, the version guard under updates, stale versions and a
replay, e-mail changes moving the member, deletes archiving it, batch operations for large batches, 429 honoured,
refusals as dead letters without values; then the setup and configuration checks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from copy import deepcopy
from typing import Any

import pytest
from pydantic import ValidationError

from sandbox.mailchimp import Mailchimp, running, subscriber_hash
from seamline.config import KafkaConfig
from seamline.dead_letters.writer import read_headers
from seamline.metrics import Metrics
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic
from sinks.mailchimp.config import MailchimpSink
from sinks.mailchimp.target import MailchimpTarget
from sinks.runner import SinkRunner
from tests.conftest import wait_until
from tests.sinks.canonical_records import customer_changes as changes
from tests.sinks.canonical_records import person as customer
from tests.sinks.canonical_records import publish
from tests.sinks.sink_threads import drain as drain_sink
from tests.sinks.sink_threads import in_thread


@pytest.fixture
def mailchimp() -> Iterator[tuple[Mailchimp, str]]:
    """A simulated audience with the merge fields the sink needs, served on 127.0.0.1; (account, its URL)."""
    account = Mailchimp()
    for tag in ("SEAMLINE", "SEAMLINEID", "CITY"):
        account.add_merge_field(tag)
    with running(account) as url:
        yield account, url


def mc_config(url: str, account: Mailchimp, **overrides: Any) -> MailchimpSink:
    """The sink as a user would write it."""
    settings: dict[str, Any] = {
        "kind": "mailchimp",
        "base_url": url,
        "api_key": account.api_key,
        "list_id": account.list_id,
        "timeout_s": 5,
        "entities": {
            "customer": {
                "fields": {
                    "email_address": "email",
                    "merge_fields.FNAME": "name",
                    "merge_fields.CITY": "city",
                    "tags": {"constant": "customer"},
                }
            }
        },
    }
    return MailchimpSink.model_validate(settings | overrides)


def runner(
    kafka: KafkaConfig, url: str, account: Mailchimp, metrics: Metrics, group: str = "marketing", **overrides: Any
) -> SinkRunner:
    target = MailchimpTarget("marketing", mc_config(url, account, **overrides))
    return SinkRunner("marketing", kafka, target, ["customer"], metrics, group)


def drain(kafka: KafkaConfig, url: str, account: Mailchimp, group: str = "marketing", **overrides: Any) -> Metrics:
    """Run the sink until it has committed everything now in the customer topic."""
    metrics = Metrics.create()
    drain_sink(kafka, runner(kafka, url, account, metrics, group, **overrides), ["customer"])
    return metrics


def sink_running(kafka: KafkaConfig, url: str, account: Mailchimp) -> AbstractContextManager[SinkRunner]:
    return in_thread(runner(kafka, url, account, Metrics.create()))


def writes(account: Mailchimp) -> list[tuple[str, str]]:
    """(method, path) of every call that changes something, batches included."""
    return [(method, path) for _, method, path, status in account.requests if method != "GET" and status < 300]


def test_a_customer_becomes_a_member_an_update_changes_it_an_older_version_changes_nothing(
    kafka: KafkaConfig, mailchimp: tuple[Mailchimp, str]
) -> None:
    account, url = mailchimp
    publish(kafka, changes(customer(1, 1), customer(2, 1)))
    drain(kafka, url, account)
    member = account.live()["customer1@example.com"]
    assert member["id"] == subscriber_hash("customer1@example.com") and member["status"] == "subscribed"
    assert member["merge_fields"]["FNAME"] == "Customer 1 v1" and member["merge_fields"]["CITY"] == "Milano"
    assert member["merge_fields"]["SEAMLINEID"] == "c1" and member["merge_fields"]["SEAMLINE"].startswith("1 ")
    assert [tag["name"] for tag in member["tags"]] == ["customer"] and len(account.live()) == 2
    publish(kafka, changes(customer(1, 3, city="Roma")))
    drain(kafka, url, account)
    member = account.live()["customer1@example.com"]
    assert (member["merge_fields"]["FNAME"], member["merge_fields"]["CITY"]) == ("Customer 1 v3", "Roma")
    before, written = deepcopy(account.members), len(writes(account))
    publish(kafka, changes(customer(1, 2)))
    drain(kafka, url, account)
    assert account.members == before and len(writes(account)) == written, "version 2 after version 3 changes nothing"


def test_an_email_change_moves_the_member_and_a_delete_archives_it(
    kafka: KafkaConfig, mailchimp: tuple[Mailchimp, str]
) -> None:
    account, url = mailchimp
    publish(kafka, changes(customer(1, 1), customer(2, 1), customer(3, 1)))
    drain(kafka, url, account)
    publish(kafka, changes(customer(1, 2, email="anna.new@example.com")))
    drain(kafka, url, account)
    assert sorted(account.live()) == ["anna.new@example.com", "customer2@example.com", "customer3@example.com"]
    assert account.members[subscriber_hash("customer1@example.com")]["status"] == "archived", "the old one"
    assert account.live()["anna.new@example.com"]["merge_fields"]["SEAMLINEID"] == "c1"
    publish(kafka, changes(customer(2, 2, deleted=True), ("c2", None), customer(3, 2, deleted=True, merged_into="c1")))
    drain(kafka, url, account)
    assert sorted(account.live()) == ["anna.new@example.com"]
    assert {m["status"] for m in account.members.values() if m["email_address"] != "anna.new@example.com"} == {
        "archived"
    }
    assert ("DELETE", f"/3.0/lists/{account.list_id}/members/{subscriber_hash('customer2@example.com')}") in writes(
        account
    )


def test_a_replay_from_the_start_with_a_new_group_changes_nothing(
    kafka: KafkaConfig, mailchimp: tuple[Mailchimp, str]
) -> None:
    account, url = mailchimp
    history: list[dict[str, Any] | tuple[str, None]] = [customer(n, v) for v in (1, 2, 3) for n in range(1, 6)]
    history += [customer(4, 4, email="four@example.com"), customer(5, 4, deleted=True), ("c5", None)]
    publish(kafka, changes(*history))
    drain(kafka, url, account)
    assert len(account.live()) == 4 and "four@example.com" in account.live()
    before, written = deepcopy(account.members), writes(account)
    drain(kafka, url, account, group="replay")
    assert writes(account) == written, "the replay wrote nothing"
    assert account.members == before


def test_a_large_batch_goes_through_a_batch_operation(kafka: KafkaConfig, mailchimp: tuple[Mailchimp, str]) -> None:
    account, url = mailchimp
    account.batch_s = 0.3
    publish(kafka, changes(*(customer(n, 1) for n in range(60)), customer(60, 1, email="not-an-address")))
    drain(kafka, url, account, batch_threshold=20)
    assert len(account.live()) == 60
    assert account.batches and all(batch.results is not None for batch in account.batches.values())
    assert {method for method, _ in writes(account)} == {"POST"}, "no single PUT: every write went in a batch"
    assert not any(path.endswith("/tags") for _, path in writes(account))
    (letter,) = list(read_to_end(kafka, dlq_topic(kafka, "sink.marketing")))
    headers = read_headers(letter.headers())
    assert headers["error.class"] == "HTTP400"
    assert headers["error.reason"].startswith("Mailchimp refused the upsert of the member: HTTP 400: Invalid Resource")
    assert not any("not-an-address" in value for value in headers.values())


def test_a_429_with_retry_after_delays_the_batch_and_loses_nothing(
    kafka: KafkaConfig, mailchimp: tuple[Mailchimp, str]
) -> None:
    account, url = mailchimp
    with sink_running(kafka, url, account):
        wait_until(lambda: any("members" in path for _, _, path, _ in account.requests), 30, "the sink's setup")
        account.faults.throttle(2, retry_after=2)
        publish(kafka, changes(*(customer(n, 1) for n in range(1, 31))))
        wait_until(lambda: len(account.live()) == 30, 60, "30 members written", interval=0.2)
    limited = [n for n, (_, _, _, status) in enumerate(account.requests) if status == 429]
    assert len(limited) == 2
    last = account.requests[limited[-1]][0]
    assert all(asked - last >= 1.95 for asked, *_ in account.requests[limited[-1] + 1 :]), "waited for Retry-After"
    assert account.most_concurrent <= 10
    assert list(read_to_end(kafka, dlq_topic(kafka, "sink.marketing"))) == []


def test_setup_names_a_missing_merge_field_and_refused_credentials(mailchimp: tuple[Mailchimp, str]) -> None:
    account, url = mailchimp
    with pytest.raises(PermissionError, match="HTTP 401 .*API Key Invalid.* fix the sink's api_key"):
        MailchimpTarget("marketing", mc_config(url, account, api_key="wrong")).setup()
    unmade = mc_config(url, account, sync_field="SLMARK")
    with pytest.raises(PermissionError, match="the audience has no merge field 'SLMARK': create it"):
        MailchimpTarget("marketing", unmade).setup()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email_address": "email", "emial": "email"}, "fields.emial: not a member property"),
        ({"merge_fields.FNAME": "name"}, "map email_address"),
        ({"email_address": "email", "merge_fields.SEAMLINE": "id"}, "the sink sets it"),
    ],
)
def test_the_section_refuses_what_mailchimp_would_not_take(fields: dict[str, Any], message: str) -> None:
    settings = {"kind": "mailchimp", "base_url": "https://us1.api.mailchimp.com", "api_key": "k", "list_id": "l1"}
    with pytest.raises(ValidationError, match=message):
        MailchimpSink.model_validate(settings | {"entities": {"customer": {"fields": fields}}})
