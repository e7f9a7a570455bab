"""A Twilio Programmable Messaging simulation of one call: create a Message (send an SMS), in memory.

What it follows from Twilio's public API documentation (Messages resource, API responses, error dictionary):
- `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded: `To` (E.164), `From` (or
  `MessagingServiceSid`), `Body` (at most 1,600 characters).
- HTTP basic authentication, the Account SID as user and the Auth Token as password; otherwise 401 with error
  20003 ("Authenticate"). An account other than the authenticated one: 404 with error 20404.
- 201 Created with the Message resource as JSON: `sid` (SM + 32 hex digits), `account_sid`, `to`, `from`, `body`,
  `status` "queued", `direction` "outbound-api", `api_version` "2010-04-01", `num_segments`, `num_media`, RFC 2822
  `date_created`/`date_updated`, `date_sent` null, `price` null, `error_code`/`error_message` null, `uri`,
  `subresource_uris`.
- Errors as `{"code", "message", "more_info", "status"}`: 21604 To missing, 21211 To not a valid phone number,
  21603 From (or MessagingServiceSid) missing, 21602 Body missing, 21617 Body over 1,600 characters, 21612 a
  number not reachable by SMS; 429 with error 20429 when throttled, 503 when the service is unavailable.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import logging
import re
import threading
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any

from aiohttp import web

from sandbox.injected_faults import InjectedFaults

BODY_MAX_CHARS = 1600
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")

Record = dict[str, Any]


def _error(status: int, code: int, message: str) -> web.Response:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return web.json_response(
        {"code": code, "message": message, "more_info": more_info, "status": status}, status=status
    )


@dataclass
class Twilio:
    """One account's sent messages and the API's behaviour; thread-safe (tests read while the server writes)."""

    account_sid: str = "AC" + "0" * 31 + "1"
    auth_token: str = "sim-auth-token"
    messages: list[Record] = field(default_factory=list)
    unreachable: set[str] = field(default_factory=set)
    """Numbers refused with error 21612, as a landline or a number out of coverage is."""
    faults: InjectedFaults = field(default_factory=InjectedFaults)
    """Its next requests answered 503 (an outage) or 429 (error 20429)."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        try:
            return scheme == "Basic" and base64.b64decode(credentials).decode() == (
                f"{self.account_sid}:{self.auth_token}"
            )
        except (binascii.Error, UnicodeDecodeError):
            return False

    async def _create(self, request: web.Request) -> web.Response:
        form = await request.post()
        with self._lock:
            if not self._authenticated(request):
                return _error(401, 20003, "Authenticate")
            if request.match_info["account"] != self.account_sid:
                return _error(404, 20404, f"The requested resource {request.path} was not found")
            if self.faults.failing_now():
                return _error(503, 503, "Service Unavailable")
            if self.faults.throttled_now():
                return _error(429, 20429, "Too Many Requests")
            to, sender, body = (str(form.get(name, "")) for name in ("To", "From", "Body"))
            if not to:
                return _error(400, 21604, "A 'To' phone number is required.")
            if not _E164.match(to):
                return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            if to in self.unreachable:
                return _error(400, 21612, f"The 'To' phone number: {to}, is not currently reachable via SMS.")
            if not sender and not form.get("MessagingServiceSid"):
                return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message")
            if not body:
                return _error(400, 21602, "Message body is required.")
            if len(body) > BODY_MAX_CHARS:
                return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
            sid = "SM" + uuid.uuid4().hex
            now = formatdate(usegmt=True)
            uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
            message = {
                "account_sid": self.account_sid,
                "api_version": "2010-04-01",
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": sender or None,
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_media": "0",
                "num_segments": str(1 if len(body) <= 160 else -(-len(body) // 153)),  # GSM-7 segments
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued",
                "subresource_uris": {"media": f"{uri}/Media.json"},
                "to": to,
                "uri": f"{uri}.json",
            }
            self.messages.append(message)
        return web.json_response(message, status=201)

    def app(self) -> web.Application:
        """The aiohttp application serving the Messages endpoint."""
        application = web.Application()
        application.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        return application


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a simulated Twilio Messages API; each request is logged.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--account-sid", default=Twilio.account_sid)
    parser.add_argument("--auth-token", default=Twilio.auth_token)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(f"Twilio Messages API simulation on http://{args.host}:{args.port} (account {args.account_sid})", flush=True)
    twilio = Twilio(account_sid=args.account_sid, auth_token=args.auth_token)
    web.run_app(twilio.app(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
