"""The Zendesk simulation's write API answers as Zendesk's Users, Organizations and Job Statuses docs say."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import sandbox.zendesk
from sandbox.zendesk import Zendesk, running
from tests.clock import Clock

USERS = "/api/v2/users/create_or_update_many"
ORGANIZATIONS = "/api/v2/organizations/create_or_update_many"


@pytest.fixture
def zendesk() -> Zendesk:
    account = Zendesk(delay_s=0)
    account.add_field("user", "city")
    return account


@pytest.fixture
def api(zendesk: Zendesk) -> Iterator[httpx.Client]:
    basic = base64.b64encode(f"{zendesk.email}/token:{zendesk.api_token}".encode()).decode()
    with running(zendesk) as url, httpx.Client(base_url=url, headers={"Authorization": f"Basic {basic}"}) as client:
        yield client


def job(api: httpx.Client, path: str, resource: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Submit a bulk job, check it is queued, and return its completed status."""
    answer = api.post(path, json={resource: items})
    assert answer.status_code == 200, answer.text
    queued = answer.json()["job_status"]
    assert queued["status"] == "queued" and queued["results"] is None and queued["total"] == len(items)
    assert queued["url"].endswith(f"/api/v2/job_statuses/{queued['id']}.json")
    done: dict[str, Any] = api.get(f"/api/v2/job_statuses/{queued['id']}").json()["job_status"]
    assert done["status"] == "completed" and done["progress"] == len(items)
    return done


def test_users_are_created_then_updated_by_external_id_with_a_result_per_item_in_order(
    zendesk: Zendesk, api: httpx.Client
) -> None:
    items: list[dict[str, Any]] = [
        {"external_id": "g1", "name": "Anna", "email": "anna@example.com", "user_fields": {"city": "Roma", "x": 1}},
        {"external_id": "g2", "name": "Bruno", "email": "bruno@example"},
        {"external_id": "g3", "name": "Carla"},
    ]
    results = job(api, USERS, "users", items)["results"]
    assert [(r["index"], r["status"]) for r in results] == [(0, "Created"), (1, "Failed"), (2, "Created")]
    assert results[1] == {
        "index": 1,
        "id": 1,
        "status": "Failed",
        "error": "UserUpdateError",
        "details": "Email: bruno@example is not properly formatted",
    }
    anna = zendesk.users[results[0]["id"]]
    assert anna["external_id"] == "g1" and anna["user_fields"] == {"city": "Roma"}, "unknown custom keys ignored"
    again = job(api, USERS, "users", [{"external_id": "G1", "name": "Anna R.", "email": "anna.r@example.com"}])
    assert again["results"][0]["status"] == "Updated" and again["results"][0]["id"] == anna["id"]
    assert (anna["name"], anna["email"], anna["user_fields"]) == ("Anna R.", "anna@example.com", {"city": "Roma"})
    assert zendesk.identities(anna["id"]) == ["anna@example.com", "anna.r@example.com"], "a new address is secondary"


def test_organizations_need_a_name_no_other_organization_has(api: httpx.Client) -> None:
    results = job(
        api,
        ORGANIZATIONS,
        "organizations",
        [{"external_id": "g1", "name": "ACME"}, {"external_id": "g2", "name": "acme"}, {"external_id": "g3"}],
    )["results"]
    assert [r["status"] for r in results] == ["Created", "Failed", "Failed"]
    assert [r.get("details") for r in results[1:]] == [
        "Name: has already been taken",
        "Name: is too short (minimum is 1 character)",
    ]
    renamed = job(api, ORGANIZATIONS, "organizations", [{"external_id": "g1", "details": "Hamburg"}])["results"]
    assert renamed[0]["status"] == "Updated"


def test_jobs_run_later_and_calls_are_refused_as_zendesk_refuses_them(zendesk: Zendesk, api: httpx.Client) -> None:
    zendesk.job_s = 30
    queued = api.post(USERS, json={"users": [{"name": "Anna"}]}).json()["job_status"]
    assert api.get(f"/api/v2/job_statuses/{queued['id']}").json()["job_status"]["status"] == "queued"
    assert zendesk.users == {}
    too_many = api.post(USERS, json={"users": [{"name": f"u{n}"} for n in range(101)]})
    assert too_many.status_code == 400 and "at most 100" in too_many.json()["description"]
    assert api.post(USERS, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    assert api.get("/api/v2/job_statuses/nope").status_code == 404


def test_show_many_reads_live_records_by_external_id(zendesk: Zendesk, api: httpx.Client) -> None:
    anna = zendesk.create_user("Anna", "anna@example.com", external_id="G1")
    gone = zendesk.create_user("Gone", "gone@example.com", external_id="g2")
    zendesk.delete_user(gone["id"])
    found = api.get("/api/v2/users/show_many", params={"external_ids": "g1,g2,g9"}).json()["users"]
    assert [user["id"] for user in found] == [anna["id"]]
    with_deleted = api.get("/api/v2/users/show_many", params={"external_ids": "g1,g2", "include_deleted": "true"})
    assert len(with_deleted.json()["users"]) == 2
    assert (
        api.get("/api/v2/users/show_many", params={"external_ids": ",".join(map(str, range(101)))}).status_code == 400
    )
    fields = api.get("/api/v2/user_fields").json()
    assert [(f["key"], f["type"]) for f in fields["user_fields"]] == [("city", "text")] and fields["count"] == 1


def test_deletes_and_merges(zendesk: Zendesk, api: httpx.Client) -> None:
    anna = zendesk.create_user("Anna", "anna@example.com")
    twin = zendesk.create_user("Anna R.", "anna.r@example.com")
    ticket = zendesk.create_ticket("printer on fire", requester_id=twin["id"])
    merged = api.put(f"/api/v2/users/{twin['id']}/merge", json={"user": {"id": anna["id"]}})
    assert merged.status_code == 200 and merged.json()["user"]["id"] == anna["id"]
    assert zendesk.users[twin["id"]]["active"] is False and zendesk.tickets[ticket["id"]]["requester_id"] == anna["id"]
    assert zendesk.identities(anna["id"]) == ["anna@example.com", "anna.r@example.com"]
    agent = zendesk.create_user("Agent", "agent@example.com", role="agent")
    refused = api.put(f"/api/v2/users/{agent['id']}/merge", json={"user": {"id": anna["id"]}})
    assert refused.status_code == 422 and refused.json()["error"] == "RecordInvalid"
    deleted = api.delete(f"/api/v2/users/{anna['id']}")
    assert deleted.status_code == 200 and deleted.json()["user"]["active"] is False
    assert api.delete(f"/api/v2/users/{anna['id']}").status_code == 404, "a deleted user is gone for the API"
    acme = zendesk.create_organization("ACME")
    assert api.delete(f"/api/v2/organizations/{acme['id']}").status_code == 204
    assert zendesk.organizations[acme["id"]]["deleted_at"] is not None
    assert [method for method, _ in zendesk.writes] == ["PUT", "DELETE", "DELETE"], "only what succeeded"


def test_the_rate_limit_counts_requests_per_minute(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    clock.install(monkeypatch, sandbox.zendesk)
    clock.sleep(60 - clock.time() % 60 + 10)  # 10 s into a minute
    zendesk = Zendesk(delay_s=0, rate_limit=2)
    basic = base64.b64encode(f"{zendesk.email}/token:{zendesk.api_token}".encode()).decode()
    with running(zendesk) as url, httpx.Client(base_url=url, headers={"Authorization": f"Basic {basic}"}) as api:
        answers = [api.get("/api/v2/user_fields") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert [a.headers["X-Rate-Limit-Remaining"] for a in answers] == ["1", "0", "0"]
        assert answers[2].headers["Retry-After"] == "50" and answers[2].json()["error"] == "APIRateLimitExceeded"
        clock.sleep(50)
        assert api.get("/api/v2/user_fields").status_code == 200
