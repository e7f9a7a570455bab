"""The Twilio and Slack simulations answer as the services document: created messages, refusals and their codes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.serving import BackgroundServer
from sandbox.slack import Slack
from sandbox.twilio import BODY_MAX_CHARS, Twilio


@pytest.fixture
def twilio() -> Iterator[tuple[Twilio, str]]:
    sim, server = Twilio(), BackgroundServer("twilio-sim")
    url = server.start(sim.app())
    yield sim, f"{url}/2010-04-01/Accounts/{sim.account_sid}/Messages.json"
    server.stop()


def test_twilio_creates_a_message_resource(twilio: tuple[Twilio, str]) -> None:
    sim, url = twilio
    form = {"To": "+4915112345678", "From": "+15005550006", "Body": "hello"}
    answer = httpx.post(url, data=form, auth=(sim.account_sid, sim.auth_token))
    assert answer.status_code == 201
    message = answer.json()
    assert message["sid"].startswith("SM") and len(message["sid"]) == 34 and message["status"] == "queued"
    assert (message["to"], message["from"], message["body"]) == ("+4915112345678", "+15005550006", "hello")
    assert message["uri"] == f"/2010-04-01/Accounts/{sim.account_sid}/Messages/{message['sid']}.json"
    assert sim.messages == [message]


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"From": "+15005550006", "Body": "x"}, 400, 21604),
        ({"To": "12345", "From": "+15005550006", "Body": "x"}, 400, 21211),
        ({"To": "+4915112345678", "Body": "x"}, 400, 21603),
        ({"To": "+4915112345678", "From": "+15005550006"}, 400, 21602),
        ({"To": "+4915112345678", "From": "+15005550006", "Body": "x" * (BODY_MAX_CHARS + 1)}, 400, 21617),
    ],
)
def test_twilio_refuses_an_incomplete_message_with_its_error_code(
    twilio: tuple[Twilio, str], form: dict[str, str], status: int, code: int
) -> None:
    sim, url = twilio
    answer = httpx.post(url, data=form, auth=(sim.account_sid, sim.auth_token))
    assert answer.status_code == status and answer.json()["code"] == code
    assert answer.json()["more_info"] == f"https://www.twilio.com/docs/errors/{code}" and sim.messages == []


def test_twilio_refuses_wrong_credentials_and_throttles(twilio: tuple[Twilio, str]) -> None:
    sim, url = twilio
    form = {"To": "+4915112345678", "From": "+15005550006", "Body": "x"}
    assert httpx.post(url, data=form, auth=(sim.account_sid, "wrong")).json()["code"] == 20003
    sim.faults.throttle(1)
    throttled = httpx.post(url, data=form, auth=(sim.account_sid, sim.auth_token))
    assert throttled.status_code == 429 and throttled.json()["code"] == 20429
    assert httpx.post(url, data=form, auth=(sim.account_sid, sim.auth_token)).status_code == 201


def test_slack_takes_text_and_refuses_what_it_documents() -> None:
    sim, server = Slack(), BackgroundServer("slack-sim")
    url = server.start(sim.app())
    try:
        assert httpx.post(url + sim.path, json={"text": "hi"}).text == "ok"
        assert httpx.post(url + sim.path, content=b"{not json").text == "invalid_payload"
        assert httpx.post(url + sim.path, json={"username": "x"}).text == "no_text"
        gone = httpx.post(url + "/services/T0/B0/revoked", json={"text": "hi"})
        assert (gone.status_code, gone.text) == (404, "no_service")
    finally:
        server.stop()
    assert sim.messages == [{"text": "hi"}]
