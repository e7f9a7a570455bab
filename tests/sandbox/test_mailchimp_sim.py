"""The Mailchimp simulation as its documentation says Mailchimp behaves: problem+json errors, the limit of 10
simultaneous connections, members by subscriber hash and archived by DELETE, batch operations with their
results, and webhooks only for API changes when so configured."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
from aiohttp import web

from sandbox.mailchimp import Mailchimp, running, subscriber_hash
from sandbox.serving import BackgroundServer
from tests.conftest import wait_until

LIST = "/3.0/lists/a1b2c3d4e5"


def client(url: str, key: str = "sim-key-us1") -> httpx.Client:
    return httpx.Client(base_url=url, auth=("anyone", key), timeout=10)


def test_errors_are_problem_json_and_an_eleventh_connection_is_refused_with_retry_after() -> None:
    account = Mailchimp(latency_s=0.5)
    with running(account) as url, client(url, "wrong") as wrong, client(url) as api:
        refused = wrong.get(f"{LIST}/members")
        assert refused.status_code == 401 and refused.headers["Content-Type"].startswith("application/problem+json")
        assert refused.json()["title"] == "API Key Invalid" and refused.json()["status"] == 401
        with ThreadPoolExecutor(12) as pool:
            statuses = list(pool.map(lambda _: api.get(f"{LIST}/members"), range(12)))
    assert sorted(r.status_code for r in statuses) == [200] * 10 + [429] * 2
    assert all(r.headers["Retry-After"] == "1" for r in statuses if r.status_code == 429)


def test_members_by_hash_archive_and_batch_operations() -> None:
    account = Mailchimp(batch_s=0.2)
    key = subscriber_hash("Anna@Example.com")
    with running(account) as url, client(url) as api:
        body = {"email_address": "Anna@Example.com", "status_if_new": "subscribed", "merge_fields": {"FNAME": "A"}}
        assert api.put(f"{LIST}/members/{key}", json=body).json()["status"] == "subscribed"
        mismatch = api.put(f"{LIST}/members/{subscriber_hash('b@example.com')}", json=body)
        assert mismatch.status_code == 400 and mismatch.json()["title"] == "Invalid Resource"
        assert api.delete(f"{LIST}/members/{key}").status_code == 204
        assert api.get(f"{LIST}/members/{key}").json()["status"] == "archived"
        operations = [
            {"method": "PUT", "path": f"{LIST}/members/{subscriber_hash(f'p{n}@example.com')}", "operation_id": str(n)}
            | {"body": json.dumps({"email_address": f"p{n}@example.com", "status_if_new": "pending"})}
            for n in range(3)
        ] + [{"method": "PUT", "path": f"{LIST}/members/{key}", "operation_id": "bad", "body": "{}"}]
        batch = api.post("/3.0/batches", json={"operations": operations}).json()
        assert batch["status"] == "pending"
        wait_until(lambda: api.get(f"/3.0/batches/{batch['id']}").json()["status"] == "finished", 10, "the batch")
        finished = api.get(f"/3.0/batches/{batch['id']}").json()
        assert (finished["finished_operations"], finished["errored_operations"]) == (4, 1)
        results = httpx.get(finished["response_body_url"]).json()  # a pre-signed link: no key
        assert sorted((r["operation_id"], r["status_code"]) for r in results)[-1] == ("bad", 400)
    assert {m["status"] for m in account.live().values()} == {"pending"}


def test_webhooks_for_api_changes_only_when_configured() -> None:
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(str((await request.post())["type"]))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hooks/secret", hook)
    server = BackgroundServer("hooks")
    hooks = server.start(app) + "/hooks/secret"
    try:
        for api_changes in (False, True):
            account = Mailchimp(webhook_url=hooks, webhook_api_changes=api_changes)
            with running(account) as url, client(url) as api:
                body = {"email_address": "a@example.com", "status_if_new": "subscribed"}
                api.put(f"{LIST}/members/{subscriber_hash('a@example.com')}", json=body)
                account.unsubscribe("a@example.com")
                wait_until(lambda: received[-1:] == ["unsubscribe"], 10, "the unsubscribe webhook")
                account.stop_webhooks()
    finally:
        server.stop()
    assert received == ["unsubscribe", "subscribe", "unsubscribe"]
