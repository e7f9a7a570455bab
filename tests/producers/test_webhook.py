"""The webhook source on the real Kafka and registry: signatures, answers, acks, logs and crashes."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import signal
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from producers.webhook.config import WebhookSource
from producers.webhook.receiver import WebhookReceiver
from producers.webhook.signatures import SignatureError, zendesk_timestamp
from sandbox import webhook_senders as senders
from sandbox.webhook_senders import deliver, sign_shopify, sign_stripe, sign_zendesk
from seamline.config import ConfigError, KafkaConfig, load_config
from seamline.events import event_id
from seamline.metrics import Metrics
from seamline.serde import AvroSerde
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topic_reader import read_to_end
from seamline.topics import config_topics, source_topic
from tests.command import seamline
from tests.conftest import wait_until

STRIPE_SECRET = "whsec_stripe-secret-7f3a"
SHOPIFY_SECRET = "shpss_shopify-secret-91c2"
SHOPIFY_OLD_SECRET = "shpss_rolled-out-secret-55d0"
ZENDESK_SECRET = "zendesk-secret-0b44"
ORG_ID = "00D5e000000KQ2eEAG"
JSON = {"Content-Type": "application/json"}
XML = {"Content-Type": "text/xml; charset=utf-8"}
MARKER = "Zq-private-body-marker"  # appears in every body: must never reach a log

ENDPOINTS: list[dict[str, Any]] = [
    {
        "path": "/stripe",
        "provider": "stripe",
        "secret": STRIPE_SECRET,
        "record_field": "data.object",
        "object_field": "data.object.object",
        "key_field": "data.object.id",
        "type_from": "field:type",
        "delete_types": ["customer.deleted"],
    },
    {
        "path": "/shopify",
        "provider": "shopify",
        "secret": SHOPIFY_SECRET,
        "previous_secret": SHOPIFY_OLD_SECRET,
        "object": "customers",
    },
    {
        "path": "/zendesk",
        "provider": "zendesk",
        "secret": ZENDESK_SECRET,
        "object": "users",
        "record_field": "detail",
        "key_field": "detail.id",
    },
    {"path": "/salesforce", "provider": "salesforce_om", "org_id": ORG_ID},
]


def source_config(port: int, **settings: Any) -> WebhookSource:
    return WebhookSource.model_validate(
        {"kind": "webhook", "system": "hub", "port": port, "endpoints": ENDPOINTS, "ack_timeout_s": 5} | settings
    )


class Receiver:
    """A WebhookReceiver serving in a thread of this test process."""

    def __init__(self, kafka: KafkaConfig, **settings: Any) -> None:
        self.port = free_port()
        self.metrics = Metrics.create()
        self.receiver = WebhookReceiver("hooks", kafka, source_config(self.port, **settings), self.metrics)
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self.receiver.serve(self._stop),))
        self._thread.start()
        wait_until(self._listening, 20, "the receiver to listen", interval=0.05)
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def _listening(self) -> bool:
        try:
            httpx.get(f"{self.url}/", timeout=1)
            return True
        except httpx.TransportError:
            return False

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.client.post(path, content=body, headers=headers)

    def requests(self, endpoint: str, status: int) -> float:
        value = self.metrics.registry.get_sample_value(
            "seamline_webhook_requests_total", {"source": "hooks", "endpoint": endpoint, "status": str(status)}
        )
        return value or 0.0

    def close(self) -> None:
        self.client.close()
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        self._loop.close()


@pytest.fixture
def receiver(kafka: KafkaConfig) -> Iterator[Receiver]:
    made = Receiver(kafka)
    yield made
    made.close()


def events(kafka: KafkaConfig, obj: str) -> list[dict[str, Any]]:
    topic = source_topic(kafka, "hub", obj)
    serde = AvroSerde(kafka)
    return [serde.decode(topic, message.value()) for message in read_to_end(kafka, topic)]


def stripe_event(event: str = "evt_1", customer: str = "cus_1", kind: str = "customer.updated") -> bytes:
    record = {
        "id": customer,
        "object": "customer",
        "name": f"Ada Lovelace {MARKER}",
        "email": "ada@example.com",
        "balance": 1250,
        "metadata": {"tier": "gold"},
        "phone": None,
    }
    return json.dumps({"id": event, "object": "event", "type": kind, "data": {"object": record}}).encode()


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, at: float | None = None) -> dict[str, str]:
    return {"Stripe-Signature": sign_stripe(secret, body, int(at or time.time())), "Content-Type": "application/json"}


def shopify_body(customer: int = 706405506930370084) -> bytes:
    return json.dumps({"id": customer, "email": "bob@example.com", "note": MARKER, "addresses": []}).encode()


def shopify_headers(body: bytes, delivery: str = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043") -> dict[str, str]:
    return senders.shopify_headers(SHOPIFY_SECRET, body, delivery, "customers/update")


def zendesk_body() -> bytes:
    detail = {"id": "7319", "email": "grace@example.com", "role": "end-user", "notes": MARKER}
    return json.dumps({"id": "01HZX5", "type": "zen:event-type:user.created", "detail": detail}).encode()


def zendesk_headers(body: bytes, stamp: str | None = None) -> dict[str, str]:
    return senders.zendesk_headers(ZENDESK_SECRET, body, stamp)


def salesforce_body(org: str = ORG_ID, extra: str = "") -> bytes:
    def notification(nid: str, account: str, name: str) -> str:
        return (
            f"<Notification><Id>{nid}</Id>"
            f'<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f'<sf:Id>{account}</sf:Id><sf:Name>{name}</sf:Name><sf:Phone xsi:nil="true"/>'
            f"</sObject></Notification>"
        )

    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{extra}'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k5e000000CaRkAAK</ActionId>"
        '<SessionId xsi:nil="true"/><EnterpriseUrl>https://example.my.salesforce.com/services/Soap/c/60.0</EnterpriseUrl>'
        "<PartnerUrl>https://example.my.salesforce.com/services/Soap/u/60.0</PartnerUrl>"
        + notification("04l5e00000Gx7QzAAJ", "0015e00000ZkM3hAAF", f"Acme {MARKER}")
        + notification("04l5e00000Gx7R0AAJ", "0015e00000ZkM3iAAF", "Globex")
        + "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_stripe_event_is_in_kafka_when_the_2xx_arrives(receiver: Receiver, kafka: KafkaConfig) -> None:
    body = stripe_event()
    assert receiver.post("/stripe", body, stripe_headers(body)).status_code == 200
    [event] = events(kafka, "customer")
    assert event["op"] == "u" and event["before"] is None
    assert event["after"] == {
        "id": "cus_1",
        "object": "customer",
        "name": f"Ada Lovelace {MARKER}",
        "email": "ada@example.com",
        "balance": "1250",
        "metadata": '{"tier": "gold"}',
        "phone": None,
    }
    assert event["source"]["connector"] == "webhook" and event["source"]["position"] == "evt_1"
    assert event["event_id"] == event_id("hub", "customer", {"id": "cus_1"}, "evt_1")
    assert receiver.requests("/stripe", 200) == 1
    assert receiver.metrics.registry.get_sample_value(
        "seamline_events_out_total", {"stage": "source", "topic": source_topic(kafka, "hub", "customer")}
    )


def test_stripe_rotation_redelivery_and_delete(receiver: Receiver, kafka: KafkaConfig) -> None:
    body = stripe_event()
    old, new = sign_stripe("whsec_old", body, int(time.time())), stripe_headers(body)["Stripe-Signature"]
    rotating = JSON | {"Stripe-Signature": f"{new},v1={old.partition('v1=')[2]},v0=deadbeef"}
    assert receiver.post("/stripe", body, rotating).json() == {"received": 1}
    redelivered = receiver.post("/stripe", body, stripe_headers(body))  # a retry, or a replay, within 300 s
    assert redelivered.status_code == 200 and redelivered.json() == {"received": 0}
    deleted = stripe_event("evt_2", kind="customer.deleted")
    assert receiver.post("/stripe", deleted, stripe_headers(deleted)).status_code == 200
    first, gone = events(kafka, "customer")
    assert first["source"]["position"] == "evt_1"
    assert gone["op"] == "d" and gone["after"] is None and gone["before"]["id"] == "cus_1"


def test_shopify_zendesk_valid_signatures_are_accepted(receiver: Receiver, kafka: KafkaConfig) -> None:
    body = shopify_body()
    response = receiver.post("/shopify", body, shopify_headers(body))
    assert response.status_code == 200 and response.json() == {"received": 1}
    order = events(kafka, "customers")[0]
    assert order["after"]["id"] == "706405506930370084" and order["after"]["addresses"] == "[]"
    assert order["event_id"] == event_id(
        "hub", "customers", {"id": "706405506930370084"}, "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    )
    rolled = shopify_body(1)  # signed with the secret being rolled out: accepted until it is removed
    old_headers = shopify_headers(rolled, "d-old") | {"X-Shopify-Hmac-Sha256": sign_shopify(SHOPIFY_OLD_SECRET, rolled)}
    assert receiver.post("/shopify", rolled, old_headers).status_code == 200
    body = zendesk_body()
    assert receiver.post("/zendesk", body, zendesk_headers(body)).status_code == 200
    [user] = events(kafka, "users")
    assert user["after"]["email"] == "grace@example.com" and user["source"]["position"] == "01HZX5"
    assert user["event_id"] == event_id("hub", "users", {"id": "7319"}, "01HZX5")


def test_salesforce_outbound_message_is_acked_after_kafka(receiver: Receiver, kafka: KafkaConfig) -> None:
    response = receiver.post("/salesforce", salesforce_body(), XML)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/xml")
    assert "<notificationsResponse" in response.text and "<Ack>true</Ack>" in response.text
    first, second = sorted(events(kafka, "Account"), key=lambda e: e["source"]["position"])
    assert first["after"] == {"Id": "0015e00000ZkM3hAAF", "Name": f"Acme {MARKER}", "Phone": None}
    assert first["source"]["position"] == "04l5e00000Gx7QzAAJ" and second["after"]["Name"] == "Globex"
    assert first["event_id"] == event_id("hub", "Account", {"Id": "0015e00000ZkM3hAAF"}, "04l5e00000Gx7QzAAJ")
    # the 15-character form of the same org id is the same org; another org is refused
    short = receiver.post("/salesforce", salesforce_body(ORG_ID[:15]), XML)
    assert short.status_code == 200
    foreign = receiver.post("/salesforce", salesforce_body("00D000000000001AAA"), XML)
    assert foreign.status_code == 401 and "OrganizationId" in foreign.text


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/stripe", lambda b: stripe_headers(b, secret="whsec_wrong")),
        ("/stripe", lambda b: stripe_headers(b, at=time.time() - 301)),
        ("/stripe", lambda b: {"Stripe-Signature": "v1=00"}),
        ("/stripe", lambda b: {}),
        ("/shopify", lambda b: {**shopify_headers(b), "X-Shopify-Hmac-Sha256": sign_shopify("wrong", b)}),
        ("/shopify", lambda b: {**shopify_headers(b), "X-Shopify-Triggered-At": "2020-01-01T00:00:00Z"}),
        ("/shopify", lambda b: {"X-Shopify-Hmac-Sha256": "not base64!"}),
        ("/zendesk", lambda b: zendesk_headers(b + b" ")),
        ("/zendesk", lambda b: zendesk_headers(b, stamp="2020-01-01T00:00:00Z")),
        ("/zendesk", lambda b: {"X-Zendesk-Webhook-Signature": sign_zendesk(ZENDESK_SECRET, b, "")}),
        ("/zendesk", lambda b: zendesk_headers(b, stamp="yesterday")),
    ],
    ids=["stripe-bad", "stripe-stale", "stripe-no-t", "stripe-missing", "shopify-bad", "shopify-stale",
         "shopify-garbled", "zendesk-bad", "zendesk-stale", "zendesk-missing-timestamp", "zendesk-not-a-time"],
)  # fmt: skip
def test_bad_stale_or_missing_signature_is_401(receiver: Receiver, kafka: KafkaConfig, path: str, make: Any) -> None:
    body = stripe_event() if path == "/stripe" else shopify_body()
    response = receiver.post(path, body, JSON | make(body))
    assert response.status_code == 401, response.text
    assert receiver.requests(path, 401) == 1
    assert source_topic(kafka, "hub", "customer") not in kafka_topics(kafka)


def kafka_topics(kafka: KafkaConfig) -> set[str]:
    from confluent_kafka.admin import AdminClient

    return set(AdminClient({"bootstrap.servers": kafka.bootstrap_servers}).list_topics(timeout=10).topics)


def test_malformed_bodies_are_400_saying_what_is_wrong(receiver: Receiver) -> None:
    cases = {
        b'{"id": "evt_1", ': "not valid UTF-8 JSON at line 1",
        b"[1, 2]": "not a JSON object",
        b'{"id": "evt_1", "type": "x"}': "'data.object' is missing",
        b'{"id": "evt_1", "type": "x", "data": {"object": {"object": "customer"}}}': "key field 'data.object.id'",
        b'{"type": "x", "data": {"object": {"object": "customer", "id": "c"}}}': "delivery id: field 'id'",
        b'{"id": "e", "type": "x", "data": {"object": {"object": "cust/omer", "id": "c"}}}': "not an object name",
    }
    for body, reason in cases.items():
        response = receiver.post("/stripe", body, stripe_headers(body))
        assert response.status_code == 400 and reason in response.text, response.text
        assert body.decode() not in response.text
    bomb = salesforce_body(extra='<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>')
    response = receiver.post("/salesforce", bomb, XML)
    assert response.status_code == 400 and "forbidden XML construct" in response.text
    response = receiver.post("/salesforce", b"<soapenv:Envelope", XML)
    assert response.status_code == 400 and "not well-formed XML" in response.text


def test_oversize_unknown_path_and_wrong_method(kafka: KafkaConfig) -> None:
    endpoints = [ENDPOINTS[0] | {"max_body_bytes": 1000}]
    receiver = Receiver(kafka, endpoints=endpoints)
    try:
        big = b"{" + b" " * 5000 + b"}"
        assert receiver.post("/stripe", big, stripe_headers(big)).status_code == 413
        chunked = receiver.client.post("/stripe", content=iter([b"{", b" " * 3000, b"}"]), headers=stripe_headers(big))
        assert chunked.status_code == 413 and "over the limit of 1000 bytes" in chunked.text
        assert receiver.post("/nowhere", b"{}", {}).status_code == 404
        wrong = receiver.client.get("/stripe")
        assert wrong.status_code == 405 and wrong.headers["Allow"] == "POST"
        assert receiver.requests("/stripe", 413) == 2 and receiver.requests("unmatched", 404) >= 1
    finally:
        receiver.close()


def test_a_body_of_another_media_type_is_415_naming_the_expected_one(receiver: Receiver, kafka: KafkaConfig) -> None:
    body = stripe_event()
    signed = stripe_headers(body)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = (
            {**signed, "Content-Type": content_type}
            if content_type
            else {"Stripe-Signature": signed["Stripe-Signature"]}
        )
        response = receiver.post("/stripe", body, headers)
        assert response.status_code == 415 and "send application/json" in response.text, response.text
    response = receiver.post("/salesforce", salesforce_body(), JSON)
    assert response.status_code == 415 and "send text/xml or application/xml" in response.text
    assert receiver.requests("/stripe", 415) == 3
    assert source_topic(kafka, "hub", "customer") not in kafka_topics(kafka)


def test_kafka_unreachable_is_503_with_retry_after(kafka: KafkaConfig) -> None:
    closed = kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    receiver = Receiver(closed, ack_timeout_s=2, retry_after_s=7)
    try:
        body = stripe_event()
        started = time.monotonic()
        response = receiver.post("/stripe", body, stripe_headers(body))
        assert response.status_code == 503 and response.headers["Retry-After"] == "7"
        assert time.monotonic() - started < 10
        assert receiver.metrics.registry.get_sample_value("seamline_source_publish_errors_total", {"source": "hooks"})
    finally:
        receiver.close()


def test_no_body_or_secret_is_ever_logged(kafka: KafkaConfig, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = Receiver(kafka)
    try:
        good, bad = stripe_event(), stripe_event("evt_9")
        receiver.post("/stripe", good, stripe_headers(good))
        receiver.post("/stripe", bad, stripe_headers(bad, secret="whsec_wrong"))
        receiver.post("/stripe", b'{"broken": "' + MARKER.encode(), stripe_headers(b"{"))
        receiver.post("/shopify", shopify_body(), JSON)
        receiver.post("/zendesk", zendesk_body(), zendesk_headers(zendesk_body()))
        receiver.post("/salesforce", salesforce_body("00D000000000001AAA"), XML)
        receiver.post("/salesforce", salesforce_body(), XML)
    finally:
        receiver.close()
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert "401" in logged  # the rejections were logged, without their bodies
    secrets = (STRIPE_SECRET, SHOPIFY_SECRET, SHOPIFY_OLD_SECRET, ZENDESK_SECRET, ORG_ID)
    for secret in (MARKER, "ada@example.com", *secrets):
        assert secret not in logged


def receiver_process(kafka: KafkaConfig, tmp_path: Path) -> tuple[Supervisor, int]:
    """A `seamline source run hooks` process (not started) with a shopify endpoint, and its port."""
    port = free_port()
    source = {
        "kind": "webhook",
        "system": "hub",
        "port": port,
        "metrics_port": free_port(),
        "ack_timeout_s": 5,
        "endpoints": [ENDPOINTS[1]],
    }
    config_path = tmp_path / "seamline.yaml"
    config_path.write_text(yaml.safe_dump({"kafka": kafka.model_dump(mode="json"), "sources": {"hooks": source}}))
    return Supervisor(config_path, tmp_path / "logs", {"receiver": ["source", "run", "hooks"]}), port


def accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def test_sigterm_stops_accepting_and_finishes_requests_in_flight(kafka: KafkaConfig, tmp_path: Path) -> None:
    supervisor, port = receiver_process(kafka, tmp_path)
    supervisor.start("receiver")
    child = supervisor.children["receiver"]
    try:
        wait_until(lambda: accepts(port), 30, "the receiver to listen", interval=0.1)
        body = shopify_body(42)
        head = "".join(f"{name}: {value}\r\n" for name, value in shopify_headers(body, "d-drain").items())
        request = f"POST /shopify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(body)}\r\n{head}\r\n"
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(request.encode() + body[:10])  # the request is in flight: half its body sent
            time.sleep(0.5)
            child.send_signal(signal.SIGTERM)
            wait_until(lambda: not accepts(port), 10, "the receiver to stop accepting", interval=0.1)
            conn.sendall(body[10:])
            answer = b""
            while chunk := conn.recv(4096):
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert child.wait(30) == 0, supervisor.log_tail("receiver")
    finally:
        supervisor.stop_all()
    [event] = events(kafka, "customers")
    assert event["event_id"] == event_id("hub", "customers", {"id": "42"}, "d-drain")


@pytest.mark.slow
def test_every_event_is_in_kafka_despite_sigkills(kafka: KafkaConfig, tmp_path: Path) -> None:
    """A sender retrying until 2xx, a receiver process killed at random moments: nothing 2xx-acked is lost."""
    supervisor, port = receiver_process(kafka, tmp_path)
    try:
        supervisor.start("receiver")
        done = threading.Event()
        kills = 0

        def killer() -> None:
            """Kill the receiver at a random moment of each life, once it serves (startup time varies with load)."""
            nonlocal kills
            rng = random.Random(7)
            while not done.is_set():
                wait_until(lambda: accepts(port) or done.is_set(), 60, "the receiver to listen", interval=0.05)
                if done.wait(rng.uniform(0.1, 1.5)):
                    return
                supervisor.kill("receiver")
                supervisor.start("receiver")
                kills += 1

        chaos = threading.Thread(target=killer)
        chaos.start()
        sent = attempts = 0
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                while sent < 60 or kills < 8:  # keep posting until the receiver died several times mid-stream
                    assert sent < 5000, "the receiver was not killed often enough"
                    body = shopify_body(sent)
                    attempts += deliver(client, "/shopify", body, functools.partial(shopify_headers, body, f"d-{sent}"))
                    sent += 1
                    time.sleep(0.02)
        finally:
            done.set()
            chaos.join()
        wanted = {event_id("hub", "customers", {"id": str(n)}, f"d-{n}") for n in range(sent)}
        got = {event["event_id"] for event in events(kafka, "customers")}
        assert wanted <= got
        assert attempts > sent  # some deliveries met a dead receiver and were retried
        wait_until(lambda: accepts(port), 60, "the receiver to listen", interval=0.1)  # its SIGTERM handler is set
        child = supervisor.children.pop("receiver")
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == 0, supervisor.log_tail("receiver")
    finally:
        supervisor.stop_all()


def test_a_misconfigured_endpoint_is_refused_with_the_fix(tmp_path: Path) -> None:
    def load(endpoints: list[dict[str, Any]]) -> str:
        path = tmp_path / "seamline.yaml"
        source = {"kind": "webhook", "system": "hub", "endpoints": endpoints}
        path.write_text(yaml.safe_dump({"sources": {"hooks": source}}))
        with pytest.raises(ConfigError) as caught:
            load_config(path)
        return str(caught.value)

    assert "stripe needs the signing secret in `secret`" in load([{"path": "/s", "provider": "stripe"}])
    assert "salesforce_om needs org_id" in load([{"path": "/sf", "provider": "salesforce_om"}])
    assert "set `object` or `object_field`" in load([{"path": "/z", "provider": "zendesk", "secret": "x"}])
    assert "endpoint paths must differ" in load([ENDPOINTS[1], ENDPOINTS[1]])


def test_topics_of_fixed_objects_are_known_from_the_config(tmp_path: Path) -> None:
    path = tmp_path / "seamline.yaml"
    source = {"kind": "webhook", "system": "hub", "endpoints": ENDPOINTS}
    path.write_text(yaml.safe_dump({"sources": {"hooks": source}}))
    topics = config_topics(load_config(path))
    assert "src.hub.customers" in topics and "src.hub.users" in topics


def test_signed_times_without_an_offset_are_utc() -> None:
    body = b"{}"
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")  # no Z
    headers = zendesk_headers(body, stamp)
    assert abs(zendesk_timestamp(headers, body, [ZENDESK_SECRET], 300, time.time()) - time.time()) < 5
    with pytest.raises(SignatureError, match="outside the 300s tolerance"):
        zendesk_timestamp(headers, body, [ZENDESK_SECRET], 300, time.time() + 3600)


def test_the_webhook_example_is_valid() -> None:
    secrets = {"STRIPE_WEBHOOK_SECRET": "a", "SHOPIFY_CLIENT_SECRET": "b", "ZENDESK_WEBHOOK_SECRET": "c"}
    result = seamline("validate", "examples/webhooks.yaml", env=secrets)
    assert result.returncode == 0 and "1 source(s)" in result.stderr, result.stderr
