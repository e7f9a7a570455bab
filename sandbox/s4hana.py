"""An ERP simulation modelled on SAP S/4HANA Cloud's OData V2 APIs (aiohttp), for the http sink.

What it follows from SAP's public API documentation:
- Services under /sap/opu/odata/sap/: API_BUSINESS_PARTNER (A_BusinessPartner, key BusinessPartner),
  API_PRODUCT_SRV (A_Product, key Product), API_SALES_ORDER_SRV (A_SalesOrder, key SalesOrder, items in the
  navigation property to_Item as {"results": [...]}), and a custom CDS view API YY1_STOCKLEVEL_CDS
  (YY1_StockLevel, key StockLevel) for stock, as S/4HANA Cloud exposes custom objects.
- CSRF protection: a GET with `x-csrf-token: Fetch` returns a token in the `x-csrf-token` header; a write
  without a valid token gets 403 with `x-csrf-token: Required` ("CSRF token validation failed").
- Entities carry an ETag (`__metadata.etag` and the ETag header); PATCH and DELETE need `If-Match` (428
  without, 412 when it does not match; `*` matches any).
- Reads answer {"d": {...}}; errors use the OData V2 shape
  {"error": {"code": ..., "message": {"lang": "en", "value": ...}}}.
- Authentication: HTTP basic (a communication user) or a bearer token from POST /oauth/token with the
  client credentials grant (client id and secret as basic auth), as on SAP BTP.

Departures, for what a sink needs: PATCH of a sales order may carry to_Item, which replaces its items (the
real API changes items through their own entity set); an `Idempotency-Key` header makes a repeated write
answer its first response without executing again, as an API gateway in front of the ERP would.

Switches for tests: `latency_s`, `flaky(share_503=, share_429=, share_timeout=)`, `outage(seconds)` (503
with Retry-After of at most 10 s), `reject(predicate)` (400 for matching writes). `writes` logs every executed write.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import random
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.serving import BackgroundServer

ROOT = "/sap/opu/odata/sap"
ENTITY_SETS = {
    "API_BUSINESS_PARTNER/A_BusinessPartner": "BusinessPartner",
    "API_PRODUCT_SRV/A_Product": "Product",
    "API_SALES_ORDER_SRV/A_SalesOrder": "SalesOrder",
    "YY1_STOCKLEVEL_CDS/YY1_StockLevel": "StockLevel",
}
"""'<service>/<entity set>' -> its key property."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Rejecter = Callable[[str, dict[str, Any]], str | None]
"""(entity set, request body) -> an error message to answer 400 with, or None to accept."""


def odata_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    """An OData V2 error response."""
    body = {"error": {"code": code, "message": {"lang": "en", "value": message}}}
    return web.json_response(body, status=status, headers=headers)


@dataclass(frozen=True)
class Write:
    """One write the ERP executed."""

    method: str
    entity_set: str
    key: str
    body: dict[str, Any] | None
    idempotency_key: str | None


class S4HanaSim:
    """One simulated S/4HANA tenant: its entities, users, tokens, executed writes and fault switches."""

    def __init__(
        self,
        user: str = "SEAMLINE_COMM",
        password: str = "seamline-password",
        client_id: str = "seamline-client",
        client_secret: str = "seamline-secret",
    ) -> None:
        self.user, self.password = user, password
        self.client_id, self.client_secret = client_id, client_secret
        self.latency_s = 0.0
        self.writes: list[Write] = []
        self.calls = 0
        self._entities: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in ENTITY_SETS}
        self._etags = 0
        self._csrf: set[str] = set()
        self._tokens: set[str] = set()
        self._idempotent: dict[str, tuple[int, str]] = {}
        self._shares = (0.0, 0.0, 0.0)
        self._outage_until = 0.0
        self._reject: Rejecter | None = None
        self._rng = random.Random(11)
        self._lock = threading.Lock()
        self._server = BackgroundServer("s4hana-sim")

    # --- data API and switches for tests ----------------------------------------------------------

    def entity(self, entity_set: str, key: str) -> dict[str, Any] | None:
        """A stored entity (without metadata), or None."""
        with self._lock:
            stored = self._entities[entity_set].get(key)
            return None if stored is None else {k: v for k, v in stored.items() if k != "__etag"}

    def entities(self, entity_set: str) -> dict[str, dict[str, Any]]:
        """Every stored entity of a set by key."""
        with self._lock:
            keys = list(self._entities[entity_set])
        return {key: entity for key in keys if (entity := self.entity(entity_set, key)) is not None}

    def flaky(self, share_503: float = 0.0, share_429: float = 0.0, share_timeout: float = 0.0) -> None:
        """Answer this share of API calls with 503, 429 (Retry-After: 1) or a 30 s stall."""
        self._shares = (share_503, share_429, share_timeout)

    def outage(self, seconds: float) -> None:
        """Answer every API call with 503 and Retry-After for this long, from now."""
        self._outage_until = time.monotonic() + seconds

    def reject(self, predicate: Rejecter | None) -> None:
        """Refuse writes the predicate names a message for, with 400 and an OData error."""
        self._reject = predicate

    # --- HTTP ---------------------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application serving this tenant."""
        app = web.Application(middlewares=[self._guard])
        app.router.add_post("/oauth/token", self._token)
        for path in ENTITY_SETS:
            service, entity_set = path.split("/")
            app.router.add_get(f"{ROOT}/{service}/", self._service_root)
            app.router.add_post(f"{ROOT}/{path}", self._create)
            app.router.add_get(f"{ROOT}/{path}('{{key}}')", self._read)
            app.router.add_patch(f"{ROOT}/{path}('{{key}}')", self._update)
            app.router.add_delete(f"{ROOT}/{path}('{{key}}')", self._delete)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client = _basic(request)
        good = client is not None and _equal(client, (self.client_id, self.client_secret))
        if form.get("grant_type") != "client_credentials" or not good:
            return web.json_response({"error": "invalid_client", "error_description": "Bad credentials"}, status=401)
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens.add(token)
        return web.json_response({"access_token": token, "token_type": "bearer", "expires_in": 43199})

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Authentication, faults, latency, CSRF and idempotency keys on API calls."""
        if not request.path.startswith(ROOT):
            return await handler(request)
        with self._lock:
            self.calls += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if not self._authorised(request):
            return odata_error(401, "/IWFND/CM_CONSUMER/101", "Logon failed", **{"WWW-Authenticate": "Basic"})
        if time.monotonic() < self._outage_until:
            wait = min(10, max(1, round(self._outage_until - time.monotonic())))
            return odata_error(503, "SY/530", "Service unavailable", **{"Retry-After": str(wait)})
        fault = self._fault()
        if fault == "timeout":
            await asyncio.sleep(30)
        elif fault is not None:
            return odata_error(int(fault), "SY/530", "Too many requests or unavailable", **{"Retry-After": "1"})
        if request.method == "GET":
            return await handler(request)
        if request.headers.get("x-csrf-token") not in self._csrf:
            return odata_error(403, "/IWFND/CM_BEC/026", "CSRF token validation failed", **{"x-csrf-token": "Required"})
        key = request.headers.get("Idempotency-Key")
        if key is not None and key in self._idempotent:
            status, body = self._idempotent[key]
            return web.Response(status=status, text=body, content_type="application/json")
        response = await handler(request)
        if key is not None and isinstance(response, web.Response) and response.status < 500:
            self._idempotent[key] = (response.status, response.text or "")
        return response

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ").strip() in self._tokens
        client = _basic(request)
        return client is not None and _equal(client, (self.user, self.password))

    def _fault(self) -> str | None:
        draw = self._rng.random()
        share_503, share_429, share_timeout = self._shares
        for fault, share in (("503", share_503), ("429", share_429), ("timeout", share_timeout)):
            if draw < share:
                return fault
            draw -= share
        return None

    async def _service_root(self, request: web.Request) -> web.Response:
        headers = {}
        if request.headers.get("x-csrf-token", "").lower() == "fetch":
            token = secrets.token_urlsafe(24)
            with self._lock:
                self._csrf.add(token)
            headers["x-csrf-token"] = token
        sets = [path.split("/")[1] for path in ENTITY_SETS if request.path.rstrip("/").endswith(path.split("/")[0])]
        return web.json_response({"d": {"EntitySets": sets}}, headers=headers)

    def _set_of(self, request: web.Request) -> str:
        return next(path for path in ENTITY_SETS if f"/{path}" in request.path)

    async def _read(self, request: web.Request) -> web.Response:
        entity_set, key = self._set_of(request), _key(request)
        with self._lock:
            stored = self._entities[entity_set].get(key)
        if stored is None:
            return odata_error(404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{entity_set}'")
        return self._entity_response(200, request, entity_set, key, stored)

    async def _create(self, request: web.Request) -> web.Response:
        entity_set = self._set_of(request)
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        key_property = ENTITY_SETS[entity_set]
        key = body.get(key_property)
        if not isinstance(key, str) or not key:
            return odata_error(400, "/IWBEP/CM_MGW_RT/004", f"Property {key_property} is required")
        refused = self._refused(entity_set, body)
        if refused is not None:
            return refused
        with self._lock:
            if key in self._entities[entity_set]:
                return odata_error(400, "/IWBEP/CM_MGW_RT/007", f"Entity with key {key_property} already exists")
            stored = self._store(entity_set, key, body)
            self.writes.append(Write("POST", entity_set, key, body, request.headers.get("Idempotency-Key")))
        return self._entity_response(201, request, entity_set, key, stored)

    async def _update(self, request: web.Request) -> web.StreamResponse:
        entity_set, key = self._set_of(request), _key(request)
        body = await _json_body(request)
        if isinstance(body, web.Response):
            return body
        refused = self._refused(entity_set, body)
        if refused is not None:
            return refused
        with self._lock:
            current = self._entities[entity_set].get(key)
            failed = self._precondition(request, current, entity_set)
            if failed is not None:
                return failed
            assert current is not None
            merged = {**current, **{k: v for k, v in body.items() if k != ENTITY_SETS[entity_set]}}
            stored = self._store(entity_set, key, merged)
            self.writes.append(Write("PATCH", entity_set, key, body, request.headers.get("Idempotency-Key")))
        return web.Response(status=204, headers={"ETag": stored["__etag"]})

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        entity_set, key = self._set_of(request), _key(request)
        with self._lock:
            current = self._entities[entity_set].get(key)
            failed = self._precondition(request, current, entity_set)
            if failed is not None:
                return failed
            del self._entities[entity_set][key]
            self.writes.append(Write("DELETE", entity_set, key, None, request.headers.get("Idempotency-Key")))
        return web.Response(status=204)

    def _precondition(
        self, request: web.Request, current: dict[str, Any] | None, entity_set: str
    ) -> web.Response | None:
        if current is None:
            return odata_error(404, "/IWBEP/CM_MGW_RT/020", f"Resource not found for segment '{entity_set}'")
        match = request.headers.get("If-Match")
        if match is None:
            return odata_error(428, "/IWBEP/CM_MGW_RT/001", "Precondition required: send If-Match with the ETag")
        if match != "*" and match != current["__etag"]:
            return odata_error(412, "/IWBEP/CM_MGW_RT/022", "Precondition failed: the entity was changed")
        return None

    def _refused(self, entity_set: str, body: dict[str, Any]) -> web.Response | None:
        message = self._reject(entity_set, body) if self._reject is not None else None
        return None if message is None else odata_error(400, "ZSEAMLINE/001", message)

    def _store(self, entity_set: str, key: str, values: dict[str, Any]) -> dict[str, Any]:
        self._etags += 1
        stored = {**values, "__etag": f"W/\"datetimeoffset'{self._etags:012d}'\""}
        self._entities[entity_set][key] = stored
        return stored

    def _entity_response(
        self, status: int, request: web.Request, entity_set: str, key: str, stored: dict[str, Any]
    ) -> web.Response:
        etag = stored["__etag"]
        uri = f"{request.url.origin()}{ROOT}/{entity_set}('{key}')"
        metadata = {"id": uri, "uri": uri, "type": f"{entity_set.split('/')[1]}Type", "etag": etag}
        entity = {"__metadata": metadata, **{k: v for k, v in stored.items() if k != "__etag"}}
        return web.json_response({"d": entity}, status=status, headers={"ETag": etag})

    # --- running it ---------------------------------------------------------------------------------

    def start(self, port: int = 0) -> str:
        """Serve on 127.0.0.1:<port> (0: a free one) in a background thread; returns the base URL."""
        return self._server.start(self.app(), port)

    @property
    def url(self) -> str:
        """The base URL while serving."""
        return self._server.url

    def stop(self) -> None:
        """Stop serving."""
        self._server.stop()

    def __enter__(self) -> S4HanaSim:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def _key(request: web.Request) -> str:
    """The key of an item path `Set('key')`: percent-decoded by the router, then OData's doubled quotes undone."""
    return request.match_info["key"].replace("''", "'")


def _basic(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except ValueError:
        return None
    return user, password


def _equal(given: tuple[str, str], expected: tuple[str, str]) -> bool:
    return hmac.compare_digest(given[0], expected[0]) & hmac.compare_digest(given[1], expected[1])


async def _json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except ValueError:
        return odata_error(400, "/IWBEP/CM_MGW_RT/021", "The request body is not valid JSON")
    if not isinstance(body, dict):
        return odata_error(400, "/IWBEP/CM_MGW_RT/021", "The request body must be a JSON object")
    return body


def main() -> None:
    """`python -m sandbox.s4hana`: serve an empty tenant for demos (basic auth or OAuth client credentials)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API call")
    args = parser.parse_args()
    sim = S4HanaSim()
    sim.latency_s = args.latency
    url = sim.start(args.port)
    print(json.dumps({"base_url": f"{url}{ROOT}", "user": sim.user, "client_id": sim.client_id}), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
