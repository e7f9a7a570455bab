"""The one way to call outside systems over HTTP: their answers are untrusted.

Every client has a timeout on each phase (connect, read, write, pool), follows no redirect (a 3xx is an
error naming where it pointed, so a credential is never carried to another host), and a URL an answer
hands back (a next page, an instance) is used only on the origin it came from.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urljoin

import httpx


class UntrustedAnswer(RuntimeError):
    """An outside system answered with a redirect or a URL off its own origin; nothing was sent there."""


def http_client(timeout_s: float, **options: Any) -> httpx.Client:
    """An httpx client that times out after `timeout_s` in each phase and refuses redirects."""
    return httpx.Client(
        timeout=timeout_s, follow_redirects=False, event_hooks={"response": [_refuse_redirect]}, **options
    )


def _refuse_redirect(response: httpx.Response) -> None:
    if response.is_redirect:
        request = response.request
        raise UntrustedAnswer(
            f"{request.method} {request.url.copy_with(query=None)} answered {response.status_code} redirecting to "
            f"{response.headers.get('location')!r}: seamline follows no redirects; if the new address is "
            "right, put it in the configuration"
        )


def on_origin(base: str, reference: str) -> str:
    """`reference` (a path or URL from an answer) resolved against `base`; UntrustedAnswer if it leaves base's
    scheme, host or port."""
    url = httpx.URL(urljoin(base.rstrip("/") + "/", reference))
    origin = httpx.URL(base)
    if (url.scheme, url.host, url.port, url.userinfo) != (origin.scheme, origin.host, origin.port, b""):
        raise UntrustedAnswer(f"{base} answered with a link to {reference!r}, off its own origin: not followed")
    return str(url)


def path_segment(value: str) -> str:
    """A value made safe to put inside a URL path: every reserved character percent-encoded."""
    return quote(value, safe="")
