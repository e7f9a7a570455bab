"""The Zendesk simulation answers as the Incremental Export API documentation says."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import sandbox.zendesk
from sandbox.zendesk import Zendesk, decode_cursor, encode_cursor, running
from tests.clock import Clock

TICKETS = "/api/v2/incremental/tickets/cursor.json"
USERS = "/api/v2/incremental/users/cursor.json"
ORGANIZATIONS = "/api/v2/incremental/organizations.json"


@pytest.fixture
def zendesk(clock: Clock, monkeypatch: pytest.MonkeyPatch) -> Zendesk:
    """The simulation on the test's clock: its stamps, the seconds it has finished and its rate limit's waits."""
    clock.install(monkeypatch, sandbox.zendesk)
    return Zendesk(delay_s=0)


@pytest.fixture
def api(zendesk: Zendesk) -> Iterator[httpx.Client]:
    basic = base64.b64encode(f"{zendesk.email}/token:{zendesk.api_token}".encode()).decode()
    with running(zendesk) as url, httpx.Client(base_url=url, headers={"Authorization": f"Basic {basic}"}) as client:
        yield client


def settle(clock: Clock) -> None:
    """Wait until the current second is over: the export shows only finished seconds."""
    clock.sleep(1.05 - clock.time() % 1)


def get(api: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_cursor_export_pages_until_end_of_stream_then_continues_from_after_cursor(
    zendesk: Zendesk, api: httpx.Client, clock: Clock
) -> None:
    made = [zendesk.create_ticket(f"ticket {n}", priority="high") for n in range(5)]
    settle(clock)
    first = get(api, TICKETS, start_time=0, per_page=2)
    assert set(first) == {"tickets", "after_cursor", "after_url", "before_cursor", "before_url", "end_of_stream"}
    assert [t["id"] for t in first["tickets"]] == [t["id"] for t in made[:2]]
    assert first["end_of_stream"] is False and first["before_cursor"] is None
    assert first["after_url"].endswith(f"{TICKETS}?cursor={first['after_cursor']}")
    ticket = first["tickets"][0]
    assert ticket["subject"] == "ticket 0" and ticket["priority"] == "high" and ticket["status"] == "new"
    assert ticket["updated_at"].endswith("Z") and isinstance(ticket["generated_timestamp"], int)

    second = get(api, TICKETS, cursor=first["after_cursor"], per_page=2)
    third = get(api, TICKETS, cursor=second["after_cursor"], per_page=2)
    assert [t["id"] for t in second["tickets"] + third["tickets"]] == [t["id"] for t in made[2:]]
    assert second["end_of_stream"] is False and third["end_of_stream"] is True
    assert decode_cursor(third["after_cursor"]) == (made[4]["generated_timestamp"], made[4]["id"])

    idle = get(api, TICKETS, cursor=third["after_cursor"])
    assert idle["tickets"] == [] and idle["end_of_stream"] is True
    assert idle["after_cursor"] == third["after_cursor"]  # the next export continues from the same place

    zendesk.update_ticket(made[1]["id"], status="open")
    deleted = zendesk.delete_ticket(made[3]["id"])
    settle(clock)
    later = get(api, TICKETS, cursor=third["after_cursor"])
    assert [(t["id"], t["status"]) for t in later["tickets"]] == [(made[1]["id"], "open"), (made[3]["id"], "deleted")]
    assert later["tickets"][1]["updated_at"] == deleted["updated_at"]


def test_changes_of_the_current_delay_window_are_not_exported_yet() -> None:
    zendesk = Zendesk(delay_s=60)
    zendesk.create_ticket("too fresh")
    with running(zendesk) as url:
        basic = base64.b64encode(f"{zendesk.email}/token:{zendesk.api_token}".encode()).decode()
        answer = httpx.get(f"{url}{TICKETS}", params={"start_time": 0}, headers={"Authorization": f"Basic {basic}"})
        assert answer.json()["tickets"] == [] and answer.json()["end_of_stream"] is True
        assert answer.json()["after_cursor"] is None  # nothing exported yet: no cursor
        recent = httpx.get(
            f"{url}{TICKETS}", params={"start_time": int(time.time()) - 30}, headers={"Authorization": f"Basic {basic}"}
        )
    assert recent.status_code == 422
    assert recent.json() == {
        "error": "InvalidValue",
        "description": "Too recent start_time. Use a start_time older than 1 minute",
    }


def test_users_export_and_deleted_users(zendesk: Zendesk, api: httpx.Client, clock: Clock) -> None:
    ada = zendesk.create_user("Ada Lovelace", "ada@example.com")
    zendesk.create_user("Grace Hopper", "grace@example.com")
    zendesk.delete_user(ada["id"])
    settle(clock)
    page = get(api, USERS, start_time=0)
    assert {u["name"]: u["active"] for u in page["users"]} == {"Grace Hopper": True, "Ada Lovelace": False}
    assert page["end_of_stream"] is True


def test_time_based_export_keeps_a_second_on_one_page_and_restarts_at_end_time(
    zendesk: Zendesk, api: httpx.Client, clock: Clock
) -> None:
    orgs = [zendesk.create_organization(f"org {n}") for n in range(3)]
    settle(clock)
    zendesk.create_organization("org later")
    settle(clock)
    pages: list[dict[str, Any]] = []
    start = 0
    while not (pages and pages[-1]["end_of_stream"]):
        pages.append(get(api, ORGANIZATIONS, start_time=start, per_page=2))
        start = pages[-1]["end_time"]
        assert len(pages) < 6, "time-based paging does not move on"
    first = pages[0]
    assert set(first) == {"organizations", "next_page", "end_time", "count", "end_of_stream"}
    assert first["next_page"].endswith(f"{ORGANIZATIONS}?per_page=2&start_time={first['end_time']}")
    assert first["count"] == len(first["organizations"]) >= 2 and first["end_of_stream"] is False
    names = [o["name"] for page in pages for o in page["organizations"]]
    assert set(names) == {"org 0", "org 1", "org 2", "org later"} and names[-1] == "org later"
    assert len(names) > 4  # the end_time second of a page is exported again on the next one
    for page in pages:  # a page never splits a second
        stamps = [o["updated_at"] for o in page["organizations"]]
        later = [o["updated_at"] for p in pages[pages.index(page) + 1 :] for o in p["organizations"]]
        assert not stamps or all(s >= stamps[-1] for s in later)
    zendesk.delete_organization(orgs[0]["id"])
    settle(clock)
    again = get(api, ORGANIZATIONS, start_time=start)
    assert again["organizations"][-1]["name"] == "org 0" and again["organizations"][-1]["deleted_at"] is not None


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", "Basic " + base64.b64encode(b"admin@example.com:sim-api-token").decode()],
)
def test_unauthenticated_requests_get_401(zendesk: Zendesk, header: str | None) -> None:
    with running(zendesk) as url:
        query = {"start_time": 0}
        answer = httpx.get(f"{url}{TICKETS}", params=query, headers={"Authorization": header or ""})
        oauth = httpx.get(f"{url}{TICKETS}", params=query, headers={"Authorization": "Bearer sim-oauth-token"})
    assert answer.status_code == 401 and answer.json() == {"error": "Couldn't authenticate you"}
    assert oauth.status_code == 200


def test_rate_limit_answers_429_with_retry_after_then_recovers(zendesk: Zendesk, api: httpx.Client) -> None:
    zendesk.faults.throttle(2, retry_after=7)
    for _ in range(2):
        limited = api.get(TICKETS, params={"start_time": 0})
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
        assert limited.json()["error"] == "APIRateLimitExceeded"
    assert api.get(TICKETS, params={"start_time": 0}).status_code == 200
    assert [status for _, _, status in zendesk.requests] == [429, 429, 200]


def test_unknown_paths_bad_cursors_and_missing_start_time(api: httpx.Client) -> None:
    missing = api.get("/api/v2/incremental/tickets/nope.json", params={"start_time": 0})
    assert missing.status_code == 404 and missing.json()["error"] == "InvalidEndpoint"
    assert api.get(TICKETS, params={"cursor": "%%%"}).status_code == 400
    assert api.get(TICKETS).status_code == 400
    assert encode_cursor(1580753798, 432) == "MTU4MDc1Mzc5OC4wfHw0MzJ8"  # the documented example's shape
