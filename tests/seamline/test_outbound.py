"""Outbound HTTP treats answers as untrusted: no redirect is followed, no link off the origin is used."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seamline.connectors.sink import SinkRecord
from seamline.metrics import Metrics
from seamline.outbound import UntrustedAnswer, http_client, on_origin
from seamline.retry import is_transient
from sinks.http.config import HttpSink
from sinks.http.target import HttpTarget
from tests.sinks.canonical_records import customer


class _Server(ThreadingHTTPServer):
    """Answers every request with `status` and `location`, and keeps each request's path and headers."""

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.status, self.location = status, location
        self.requests: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                server.requests.append((self.path, dict(self.headers)))
                self.send_response(server.status)
                if server.location is not None:
                    self.send_header("Location", server.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PATCH = do_DELETE = _answer

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serving(server: _Server) -> Iterator[_Server]:
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[_Server]:
    """Another host's server, where a redirect would lead."""
    with serving(_Server()) as server:
        yield server


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_naming_where_it_led(elsewhere: _Server, status: int) -> None:
    with serving(_Server(status, f"{elsewhere.url}/collect")) as redirecting, http_client(2) as client:
        with pytest.raises(UntrustedAnswer, match=f"answered {status} redirecting to .*/collect"):
            client.get(f"{redirecting.url}/api", headers={"Authorization": "Bearer secret-token"})
    assert elsewhere.requests == []


def test_the_http_sink_stops_on_a_redirect_and_sends_nothing_elsewhere(elsewhere: _Server) -> None:
    with serving(_Server(302, f"{elsewhere.url}/A_BusinessPartner")) as redirecting:
        config = HttpSink.model_validate(
            {
                "kind": "http",
                "base_url": redirecting.url,
                "auth": {"kind": "bearer", "token": "secret-token"},
                "format": "json",
                "system": "erp",
                "timeout_s": 2,
                "entities": {
                    "customer": {
                        "collection": "/partners",
                        "item": "/partners/{key}",
                        "key_field": "Id",
                        "version_field": "Version",
                        "fields": {"Id": "id", "Version": "version", "Name": "name"},
                    }
                },
            }
        )
        target = HttpTarget("erp", config, Metrics.create())
        target.setup()
        try:
            with pytest.raises(UntrustedAnswer) as refused:
                target.write([SinkRecord("customer", "c1", customer(1, 1), "topic", 0, 0, None, None)])
        finally:
            target.close()
    assert not is_transient(refused.value), "a redirect is the configuration's to fix, not retried"
    assert [path for path, _ in redirecting.requests] == ["/partners/c1"]
    assert elsewhere.requests == []


@pytest.mark.parametrize(
    "link",
    [
        "//evil.example/services/data/v59.0/query/01g-2000",
        "https://evil.example/services/data/v59.0/query/01g-2000",
        "http://na1.my.salesforce.com/services/data/v59.0/query/01g-2000",
        "https://na1.my.salesforce.com@evil.example/services/data",
        "https://na1.my.salesforce.com:8443/services/data",
    ],
)
def test_a_link_off_the_origin_is_refused(link: str) -> None:
    with pytest.raises(UntrustedAnswer, match="off its own origin"):
        on_origin("https://na1.my.salesforce.com", link)


def test_a_link_on_the_origin_is_resolved_against_it() -> None:
    base = "https://na1.my.salesforce.com"
    assert on_origin(base, "/services/data/v59.0/query/01g-2000") == f"{base}/services/data/v59.0/query/01g-2000"
    assert on_origin(base, "@evil.example/x") == f"{base}/@evil.example/x"
