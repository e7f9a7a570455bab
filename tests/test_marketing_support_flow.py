"""Marketing and support both ways, on the real stack: examples/business.yaml's ERP source, Mailchimp webhook and
poll sources, Zendesk http_poll source, processor and mailchimp and zendesk sinks as real processes, against the
Mailchimp and Zendesk simulations over real HTTP.

A customer created in the ERP becomes a Mailchimp member and a Zendesk user; an unsubscribe in Mailchimp (its
webhook) and a user edited by an agent in Zendesk (the poll) come back as raw changes and as canonical versions of
their customers; the sinks' own writes never come back (the raw topics and the canonical versions are counted);
and a replay of both sinks changes nothing in either simulation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sandbox import mailchimp, zendesk
from sandbox.erp import Customer, insert
from sandbox.mailchimp import Mailchimp, subscriber_hash
from sandbox.zendesk import Zendesk
from seamline.config import KafkaConfig, load_config
from seamline.operations.local_pipeline import drop_slot
from seamline.serde import AvroSerde
from seamline.stack import StackInfo
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import dlq_topic, source_topic
from tests.canonical_topics import Canonical
from tests.command import seamline
from tests.conftest import wait_until
from tests.sample_business import SECRETS
from tests.sandbox.erp_fixtures import filled_erp
from tests.sinks.test_mailchimp_sink import writes
from tests.sinks.test_zendesk_sink import users
from tests.test_sample_business_flow import golden_of, pipeline_config, wait_for

pytestmark = pytest.mark.slow

CUSTOMERS = 6
PROCESSES = {
    "erp": ["source", "run", "erp"],
    "marketing-hooks": ["source", "run", "marketing"],
    "marketing-poll": ["source", "run", "marketing-poll"],
    "support-poll": ["source", "run", "support"],
    "processor": ["process"],
    "marketing-sink": ["sink", "run", "marketing"],
    "support-sink": ["sink", "run", "support"],
}
"""The processes this flow needs (the CRM, the shop, the warehouse and notify are not started)."""
NEWCOMER = Customer(
    "Neue Kundin GmbH", "neu@example.com", "+49 40 98765432", "DE", None, "Hauptstraße 5", "20095", "Hamburg"
)


@pytest.fixture
def simulations() -> Iterator[tuple[Mailchimp, str, Zendesk, str]]:
    """The Mailchimp audience and the Zendesk account of the sample, with the fields its sinks need, served on
    127.0.0.1 as the sink tests serve them; (audience, its URL, account, its URL)."""
    audience = Mailchimp()
    for tag in ("SEAMLINE", "SEAMLINEID"):
        audience.add_merge_field(tag)
    account = Zendesk(delay_s=0)
    for kind in ("user", "organization"):
        account.add_field(kind, "seamline_sync")
    with mailchimp.running(audience) as audience_url, zendesk.running(account) as account_url:
        yield audience, audience_url, account, account_url


def saas_config(path: Path, config: dict[str, Any], audience: Mailchimp, audience_url: str, account_url: str) -> None:
    """The sample's Mailchimp and Zendesk sections pointed at the simulations, polling often; written to `path`.
    The audience's webhook posts to the marketing source's receiver."""
    sources, sinks = config["sources"], config["sinks"]
    sources["marketing-poll"].update(base_url=audience_url, poll_interval_s=0.5)
    sources["support"].update(base_url=account_url, poll_interval_s=0.5)
    sinks["marketing"]["base_url"], sinks["support"]["base_url"] = audience_url, account_url
    hooks = sources["marketing"]
    path_and_secret = f"{hooks['endpoints'][0]['path']}/{SECRETS['MAILCHIMP_WEBHOOK_SECRET']}"
    audience.webhook_url = f"http://127.0.0.1:{hooks['port']}{path_and_secret}"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    load_config(path)


def raw(kafka: KafkaConfig, system: str, obj: str) -> list[dict[str, Any]]:
    """The change events of src.<system>.<obj>, decoded."""
    topic, serde = source_topic(kafka, system, obj), AvroSerde(kafka)
    return [serde.decode(topic, message.value()) for message in read_to_end(kafka, topic)]


def hooks_answered(port: int) -> float:
    """The requests the webhook source has answered, from its /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "seamline_webhook_requests"
        for sample in family.samples
        if sample.name == "seamline_webhook_requests_total"
    )


def settle(state: Callable[[], object], supervisor: Supervisor, quiet_s: float = 6, timeout: float = 120) -> None:
    """Wait until `state()` has not changed for `quiet_s` seconds: every write and its echo has come and gone."""
    seen, since = state(), time.monotonic()

    def quiet() -> bool:
        nonlocal seen, since
        assert not supervisor.crashed(), supervisor.crashed()
        now = state()
        if now != seen:
            seen, since = now, time.monotonic()
        return time.monotonic() - since >= quiet_s

    wait_until(quiet, timeout, "the pipeline to fall quiet", interval=1)


def test_marketing_and_support_sync_both_ways_without_echoes_and_a_replay_changes_nothing(
    stack: StackInfo,
    new_database: Callable[[], str],
    kafka: KafkaConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    simulations: tuple[Mailchimp, str, Zendesk, str],
) -> None:
    audience, audience_url, account, account_url = simulations
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    database = new_database()
    filled_erp(database, customers=CUSTOMERS, materials=2, orders=0)
    kafka_section = kafka.model_dump(include={"bootstrap_servers", "schema_registry_url", "topic_prefix"})
    path = tmp_path / "business.yaml"
    # the CRM and the warehouse are not started: their sections only need to be valid
    config = pipeline_config(path, kafka_section, database, database, "http://127.0.0.1:9", tmp_path)
    saas_config(path, config, audience, audience_url, account_url)
    hooks_port = config["sources"]["marketing"]["metrics_port"]
    supervisor = Supervisor(path, tmp_path / "logs", PROCESSES)
    canonical = Canonical(kafka, ["customer"])

    def state() -> tuple[object, ...]:
        versions = sum(len(history) for history in canonical.read()[1].values())
        return versions, len(writes(audience)), len(account.writes), hooks_answered(hooks_port)

    supervisor.start_all()
    try:
        # a customer created in the ERP becomes a member and a user
        with psycopg.connect(database, autocommit=True) as conn:
            (newcomer_id,) = insert(conn, [NEWCOMER])

        def not_yet_written() -> list[str]:
            golden = golden_of(canonical.read()[0], "customer").get(f"erp.customers:{newcomer_id}")
            member, user = audience.live().get("neu@example.com"), None
            if golden is not None:
                user = users(account).get(golden["id"])
            found = [] if golden else ["the newcomer has no golden customer"]
            if member is None or member["merge_fields"]["FNAME"] != NEWCOMER.full_name:
                found.append(f"no member neu@example.com named {NEWCOMER.full_name!r}")
            if golden and (member is None or member["merge_fields"]["SEAMLINEID"] != golden["id"]):
                found.append("the member does not hold the golden id")
            if user is None or (user["email"], user["phone"]) != ("neu@example.com", "+494098765432"):
                found.append("no Zendesk user with the golden id as external_id, the e-mail and the phone")
            if len(audience.live()) != CUSTOMERS + 1 or len(users(account)) != CUSTOMERS + 1:
                found.append(f"{len(audience.live())} members, {len(users(account))} users")
            return found

        wait_for(not_yet_written, supervisor, 180)
        settle(state, supervisor)
        assert raw(kafka, "marketing", "members") == [], "no write of the marketing sink came back"
        assert raw(kafka, "support", "users") == [], "no write of the support sink came back"
        assert hooks_answered(hooks_port) >= CUSTOMERS + 1, "Mailchimp sent the sink's writes to the webhook"
        live, history = canonical.read()
        assert len(live) == CUSTOMERS + 1 and all(len(versions) == 1 for versions in history.values())

        # an unsubscribe in Mailchimp, a user renamed by an agent in Zendesk
        goldens = golden_of(live, "customer")
        leaving, renamed = (goldens[f"erp.customers:{key}"] for key in (1, 2))
        audience.unsubscribe(leaving["email"])
        user = users(account)[renamed["id"]]
        time.sleep(1.1)  # the export shows finished seconds only
        account.update_user(user["id"], name="Renamed by an agent")

        def not_yet_back() -> list[str]:
            found = []
            links = golden_of(canonical.read()[0], "customer")
            member_link = f"marketing.members:{subscriber_hash(leaving['email'])}"
            if links.get(member_link, {}).get("id") != leaving["id"]:
                found.append(f"{member_link} is not linked to golden customer {leaving['id']}")
            if links.get(f"support.users:{user['id']}", {}).get("id") != renamed["id"]:
                found.append(f"support.users:{user['id']} is not linked to golden customer {renamed['id']}")
            return found

        wait_for(not_yet_back, supervisor, 120)
        settle(state, supervisor)
        # the webhook brings the unsubscribe at once; the poll, there for what a webhook missed, sees it too unless
        # the marketing sink marked the member again (as unsubscribed) before the poll read it
        seen = [
            (e["source"]["connector"], e["op"], e["after"]["id"], e["after"]["status"])
            for e in raw(kafka, "marketing", "members")
        ]
        unsubscribe = ("u", subscriber_hash(leaving["email"]), "unsubscribed")
        assert [found for found in seen if found[0] == "webhook"] == [("webhook", *unsubscribe)]
        assert [found for found in seen if found[0] != "webhook"] in ([], [("http_poll", *unsubscribe)]), seen
        events = raw(kafka, "support", "users")
        assert len(events) == 1, f"one change came back from Zendesk, not {[e['after'] for e in events]}"
        (edit,) = events
        assert edit["source"]["connector"] == "http_poll" and edit["after"]["name"] == "Renamed by an agent"
        live, history = canonical.read()
        origins = {key: [version["origin"] for version in versions] for key, versions in history.items()}
        assert origins.pop(f"customer/{leaving['id']}")[-1] == "marketing"
        assert origins.pop(f"customer/{renamed['id']}")[-1] == "support"
        assert all(found == ["erp"] for found in origins.values()), "no other customer changed"
        # the sinks never change a member's status, and the ERP (first in priority) keeps the customer's name:
        # the support sink wrote it back, and that write did not come back either
        assert audience.live()[leaving["email"]]["status"] == "unsubscribed"
        assert users(account)[renamed["id"]]["name"] == renamed["name"]
    finally:
        supervisor.stop_all()
        drop_slot(stack.postgres_dsn, config["sources"]["erp"]["slot"])
    assert not supervisor.crashed()

    # a replay of both sinks from the start of the canonical topics changes nothing
    members, member_writes = deepcopy(audience.members), writes(audience)
    zendesk_users, organizations, zendesk_writes = (
        deepcopy(account.users),
        deepcopy(account.organizations),
        list(account.writes),
    )
    for sink in ("marketing", "support"):
        done = seamline("replay", "--sink", sink, "--from", "earliest", "-c", str(path), env=SECRETS, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
    assert writes(audience) == member_writes and audience.members == members
    assert account.writes == zendesk_writes and account.users == zendesk_users
    assert account.organizations == organizations
    for stage in ("cleanse", "resolve", "sink.marketing", "sink.support"):
        assert list(read_to_end(kafka, dlq_topic(kafka, stage))) == [], f"dead letters in dlq.{stage}"
