"""The S/4HANA simulation follows the OData V2 conventions seamline relies on: CSRF tokens, ETags with
If-Match, the OData error shape, basic auth and OAuth client credentials, idempotency keys and its switches."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.s4hana import ROOT, S4HanaSim

PARTNERS = f"{ROOT}/API_BUSINESS_PARTNER/A_BusinessPartner"


@pytest.fixture
def sim() -> Iterator[S4HanaSim]:
    with S4HanaSim() as running:
        yield running


@pytest.fixture
def client(sim: S4HanaSim) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.url, auth=(sim.user, sim.password), timeout=5) as session:
        yield session


def csrf(client: httpx.Client) -> str:
    response = client.get(f"{ROOT}/API_BUSINESS_PARTNER/", headers={"x-csrf-token": "Fetch"})
    assert response.status_code == 200
    return response.headers["x-csrf-token"]


def test_writes_need_a_fetched_csrf_token(client: httpx.Client) -> None:
    refused = client.post(PARTNERS, json={"BusinessPartner": "1"})
    assert refused.status_code == 403 and refused.headers["x-csrf-token"] == "Required"
    assert refused.json()["error"]["message"] == {"lang": "en", "value": "CSRF token validation failed"}
    created = client.post(PARTNERS, json={"BusinessPartner": "1", "Name": "A"}, headers={"x-csrf-token": csrf(client)})
    assert created.status_code == 201
    assert created.json()["d"]["Name"] == "A" and created.json()["d"]["__metadata"]["etag"] == created.headers["ETag"]


def test_updates_and_deletes_need_the_current_etag(sim: S4HanaSim, client: httpx.Client) -> None:
    token = {"x-csrf-token": csrf(client)}
    client.post(PARTNERS, json={"BusinessPartner": "1", "Name": "A"}, headers=token)
    etag = client.get(f"{PARTNERS}('1')").headers["ETag"]
    assert client.patch(f"{PARTNERS}('1')", json={"Name": "B"}, headers=token).status_code == 428
    changed = client.patch(f"{PARTNERS}('1')", json={"Name": "B"}, headers={**token, "If-Match": etag})
    assert changed.status_code == 204 and changed.headers["ETag"] != etag
    stale = client.delete(f"{PARTNERS}('1')", headers={**token, "If-Match": etag})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "/IWBEP/CM_MGW_RT/022"
    assert client.delete(f"{PARTNERS}('1')", headers={**token, "If-Match": "*"}).status_code == 204
    missing = client.get(f"{PARTNERS}('1')")
    assert missing.status_code == 404 and "error" in missing.json()
    assert [(w.method, w.key) for w in sim.writes] == [("POST", "1"), ("PATCH", "1"), ("DELETE", "1")]


def test_a_repeated_idempotency_key_answers_without_executing_again(sim: S4HanaSim, client: httpx.Client) -> None:
    headers = {"x-csrf-token": csrf(client), "Idempotency-Key": "k-1"}
    first = client.post(PARTNERS, json={"BusinessPartner": "1"}, headers=headers)
    again = client.post(PARTNERS, json={"BusinessPartner": "1"}, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert len(sim.writes) == 1


def test_oauth_client_credentials_and_wrong_credentials(sim: S4HanaSim) -> None:
    token = httpx.post(
        f"{sim.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(sim.client_id, sim.client_secret)
    ).json()["access_token"]
    assert httpx.get(f"{sim.url}{PARTNERS}('x')", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert httpx.get(f"{sim.url}{PARTNERS}('x')", auth=(sim.user, "wrong")).status_code == 401
    refused = httpx.post(f"{sim.url}/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y"))
    assert refused.status_code == 401


def test_switches_outage_flaky_and_reject(sim: S4HanaSim, client: httpx.Client) -> None:
    token = {"x-csrf-token": csrf(client)}
    sim.outage(30)
    down = client.get(f"{PARTNERS}('1')")
    assert down.status_code == 503 and down.headers["Retry-After"] == "10"
    sim.outage(0)
    sim.flaky(share_429=1.0)
    limited = client.get(f"{PARTNERS}('1')")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    sim.flaky()
    sim.reject(lambda entity_set, body: "blocked" if body.get("Name") == "X" else None)
    refused = client.post(PARTNERS, json={"BusinessPartner": "2", "Name": "X"}, headers=token)
    assert refused.status_code == 400 and refused.json()["error"]["message"]["value"] == "blocked"
    assert sim.writes == []
