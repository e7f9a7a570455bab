"""Fuzzing the webhook receiver on the real Kafka: whatever arrives, it answers with a declared status, never 500.

Requests are random in every part a sender controls: method, path, Content-Type, body (bytes, JSON of any
shape, provider-shaped JSON, XML), and signature headers (valid for the body, garbled, or absent). A valid
signature lets a random body reach the payload mapping, where most of the parsing is.

CI runs it for SEAMLINE_FUZZ_SECONDS (default 5 s); `make fuzz` runs it for 10 minutes.
"""

from __future__ import annotations

import json
import os
import string
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.webhook_senders import sign_stripe
from seamline.config import KafkaConfig
from tests.producers.test_webhook import (
    ENDPOINTS,
    JSON,
    STRIPE_SECRET,
    XML,
    Receiver,
    salesforce_body,
    shopify_headers,
    zendesk_headers,
)

DECLARED = {200, 400, 401, 404, 405, 413, 415}
SECONDS = float(os.environ.get("SEAMLINE_FUZZ_SECONDS", "5"))
MAX_BODY = 4096

# What an HTTP client can send as a header value: printable, no line breaks, no surrounding blanks.
header_text = st.text(alphabet=string.ascii_letters + string.digits + string.punctuation + " \t", max_size=80).map(
    str.strip
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)
stripe_shaped = st.fixed_dictionaries(
    {"id": json_values, "type": st.sampled_from(["customer.updated", "customer.deleted"]) | json_values},
    optional={"data": st.fixed_dictionaries({}, optional={"object": json_values})},
)
bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    stripe_shaped.map(lambda value: json.dumps(value).encode()),
    st.text(max_size=200).map(
        lambda text: salesforce_body(extra=text.replace("<", "")).replace(b"Acme", text.encode())
    ),
    st.binary(min_size=MAX_BODY + 1, max_size=MAX_BODY + 50),
)


def signed(path: str, body: bytes, how: str) -> dict[str, str]:
    """Signature headers for `body` at `path`: valid, garbled or none."""
    if how == "none":
        return {}
    valid = {
        "/stripe": lambda: {"Stripe-Signature": sign_stripe(STRIPE_SECRET, body, int(time.time()))},
        "/shopify": lambda: shopify_headers(body),
        "/zendesk": lambda: zendesk_headers(body),
        "/salesforce": dict,
    }.get(path, dict)()
    if how == "garbled":
        return {name: value[::-1] for name, value in valid.items()}
    return valid


@pytest.fixture
def receiver(kafka: KafkaConfig) -> Iterator[Receiver]:
    made = Receiver(kafka, endpoints=[endpoint | {"max_body_bytes": MAX_BODY} for endpoint in ENDPOINTS])
    yield made
    made.close()


def test_any_request_gets_a_declared_answer_and_only_authentic_ones_are_accepted(receiver: Receiver) -> None:
    answers: dict[int, int] = {}

    @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(
        method=st.sampled_from(["POST"] * 8 + ["GET", "PUT"]),
        path=st.sampled_from(["/stripe", "/shopify", "/zendesk", "/salesforce"] * 2 + ["/", "/stripe/x"]),
        content_type=st.sampled_from(["right"] * 8 + ["none", "other"]),
        body=bodies,
        how=st.sampled_from(["valid", "valid", "garbled", "none"]),
        extra=st.dictionaries(
            st.sampled_from(
                [
                    "X-Shopify-Webhook-Id",
                    "X-Shopify-Triggered-At",
                    "Stripe-Signature",
                    "X-Zendesk-Webhook-Signature-Timestamp",
                ]
            ),
            header_text,
            max_size=2,
        ),
    )
    def one_request(method: str, path: str, content_type: str, body: bytes, how: str, extra: dict[str, str]) -> None:
        media = {"right": XML if path == "/salesforce" else JSON, "none": {}, "other": {"Content-Type": "text/plain"}}
        headers = media[content_type] | signed(path, body, how) | (extra if how == "none" else {})
        response = receiver.client.request(method, path, content=body, headers=headers)
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        assert response.status_code in DECLARED, f"{response.status_code} {response.text[:200]}"
        if response.status_code == 200:  # Salesforce signs nothing: the OrganizationId is its check
            assert method == "POST" and (how == "valid" or path == "/salesforce"), f"accepted a request {how!r}"

    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline:
        one_request()
    print(
        f"\n{sum(answers.values())} requests in {SECONDS:.0f}s: "
        + ", ".join(f"{n}× {s}" for s, n in sorted(answers.items()))
    )
    assert sum(answers.values()) >= 100
    assert {200, 400, 401}.issubset(answers), f"the fuzzer did not reach every outcome: {answers}"
