"""Mailchimp as a source, against the Mailchimp simulation over real HTTP: its webhooks through the webhook
source on real Kafka (a subscriber's unsubscribe comes back as a change of its member, the mailchimp sink's own
writes do not, a request without the URL's secret is refused), and the http_poll of members changed since a time,
which leaves out the sink's writes too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from producers.http_poll.config import HttpPollSource
from producers.http_poll.source import HttpPoll
from producers.webhook.mailchimp import subscriber_hash
from sandbox.mailchimp import Mailchimp, running
from seamline.config import KafkaConfig
from seamline.metrics import Metrics
from seamline.serde import AvroSerde
from seamline.topic_reader import read_to_end
from seamline.topics import source_topic
from tests.conftest import wait_until
from tests.producers.draining import changes_in, idle
from tests.producers.test_webhook import Receiver
from tests.sinks.canonical_records import publish
from tests.sinks.test_mailchimp_sink import changes, customer, drain

SECRET = "mc-hook-secret-4e1d"
ENDPOINT = {"path": "/mailchimp", "provider": "mailchimp", "secret": SECRET, "sync_field": "SEAMLINE"}


@pytest.fixture
def hooked(kafka: KafkaConfig) -> Iterator[tuple[Receiver, Mailchimp, str]]:
    """The webhook source and a simulated audience whose webhook posts to it; (receiver, audience, its URL)."""
    receiver = Receiver(kafka, endpoints=[ENDPOINT])
    account = Mailchimp(webhook_url=f"{receiver.url}/mailchimp/{SECRET}")
    for tag in ("SEAMLINE", "SEAMLINEID", "CITY"):
        account.add_merge_field(tag)
    try:
        with running(account) as url:
            yield receiver, account, url
    finally:
        receiver.close()


def members(kafka: KafkaConfig) -> list[dict[str, Any]]:
    topic = source_topic(kafka, "hub", "members")
    serde = AvroSerde(kafka)
    return [serde.decode(topic, message.value()) for message in read_to_end(kafka, topic)]


def test_an_unsubscribe_comes_back_and_the_sinks_own_writes_do_not(
    kafka: KafkaConfig, hooked: tuple[Receiver, Mailchimp, str]
) -> None:
    receiver, account, url = hooked
    publish(kafka, changes(customer(1, 1), customer(2, 1)))
    drain(kafka, url, account)
    publish(kafka, changes(customer(1, 2, city="Roma")))
    drain(kafka, url, account)
    account.unsubscribe("customer2@example.com")
    wait_until(lambda: receiver.requests("/mailchimp/{secret}", 200) == 4, 30, "four webhooks delivered")
    (event,) = members(kafka)
    assert event["op"] == "u" and event["source"]["connector"] == "webhook"
    after = event["after"]
    assert (after["id"], after["email_address"]) == (subscriber_hash("customer2@example.com"), "customer2@example.com")
    assert after["status"] == "unsubscribed" and '"SEAMLINEID": "c2"' in after["merge_fields"]


def test_a_webhook_without_the_urls_secret_is_refused(hooked: tuple[Receiver, Mailchimp, str]) -> None:
    receiver, _account, _url = hooked
    body = b"type=unsubscribe&fired_at=2026-01-05+10%3A00%3A00&data%5Bemail%5D=a%40example.com"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert receiver.post("/mailchimp/wrong-secret", body, form).status_code == 401
    assert httpx.get(f"{receiver.url}/mailchimp/{SECRET}").status_code == 200, "Mailchimp's check of the URL"
    assert receiver.post(f"/mailchimp/{SECRET}", b"type=campaign", form).status_code == 400


def test_the_poll_of_changed_members_catches_what_changed_in_mailchimp_and_not_the_sinks_writes(
    kafka: KafkaConfig,
) -> None:
    account = Mailchimp()
    for tag in ("SEAMLINE", "SEAMLINEID", "CITY"):
        account.add_merge_field(tag)
    with running(account) as url:
        publish(kafka, changes(customer(1, 1), customer(2, 1), customer(3, 1)))
        drain(kafka, url, account)
        config = HttpPollSource.model_validate(
            {
                "kind": "http_poll",
                "system": "marketing",
                "base_url": url,
                "auth": {"kind": "api_token", "user": "seamline", "token": account.api_key},
                "objects": [
                    {
                        "name": "members",
                        "path": f"/3.0/lists/{account.list_id}/members",
                        "records_field": "members",
                        "updated_at_field": "last_changed",
                        "cursor_style": "since",
                        "deleted_field": "status",
                        "deleted_value": "archived",
                        "sync_mark_field": "merge_fields.SEAMLINE",
                    }
                ],
                "per_page": 2,
                "poll_interval_s": 0.2,
            }
        )
        source = HttpPoll("marketing", config, Metrics.create())
        source.setup(None)
        try:
            assert changes_in(idle(source.changes(), 1.5)) == [], "nothing the sink wrote comes back"
            account.unsubscribe("customer1@example.com")
            account.archive("customer3@example.com")
            published = changes_in(idle(source.changes(), 1.5))
        finally:
            source.close()
    found = {(c.key["id"], c.op, (c.after or c.before or {}).get("status")) for c in published}
    assert found == {
        (subscriber_hash("customer1@example.com"), "u", "unsubscribed"),
        (subscriber_hash("customer3@example.com"), "d", "archived"),
    }
