"""What notify's channels reach in the tests, each a real server on 127.0.0.1: an SMTP server (aiosmtpd, with
STARTTLS and AUTH when asked), the Slack and Twilio simulations of sandbox/, and a JSON webhook receiver."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sandbox.serving import BackgroundServer
from sandbox.slack import Slack
from sandbox.twilio import Twilio


@dataclass(frozen=True)
class Mail:
    """An e-mail the server accepted, and how it came: over TLS, logged in as whom."""

    message: EmailMessage
    recipients: list[str]
    tls: bool
    login: str | None

    @property
    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return f"{self.message['Subject']}\n{body.get_content()}"


@dataclass
class Mailbox:
    """aiosmtpd's handler: keeps what it accepts; `users` (name -> password) are the logins it takes."""

    users: dict[str, str] = field(default_factory=dict)
    mails: list[Mail] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with self._lock:
            self.mails.append(Mail(message, list(envelope.rcpt_tos), session.ssl is not None, login))
        return "250 Message accepted for delivery"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.users.get(data.login.decode()) == data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


def smtp_server(mailbox: Mailbox, port: int, tls: ssl.SSLContext | None = None) -> Controller:
    """An SMTP server on 127.0.0.1:port (not started), offering STARTTLS and AUTH when given a TLS context."""
    return Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls,
        authenticator=mailbox.authenticate if tls else None,
        auth_require_tls=True,
    )


def server_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A TLS context for a server on 127.0.0.1 with a certificate of a CA of its own, and that CA's file."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notify test CA")])

    def certificate(subject: x509.Name, public: rsa.RSAPublicKey, ca: bool) -> x509.CertificateBuilder:
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if not ca:
            san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
            builder = builder.add_extension(san, critical=False)
        return builder

    ca = certificate(ca_name, ca_key.public_key(), True).sign(ca_key, hashes.SHA256())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    leaf = certificate(name, key.public_key(), False).sign(ca_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.pem").write_bytes(leaf.public_bytes(pem))
    (directory / "server.key").write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return context, directory / "ca.pem"


@dataclass
class Webhook:
    """A JSON webhook receiver: keeps every object posted to it."""

    posted: list[dict[str, Any]] = field(default_factory=list)

    async def _post(self, request: web.Request) -> web.Response:
        self.posted.append(await request.json())
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        application = web.Application()
        application.router.add_post("/hook", self._post)
        return application


@dataclass
class Receivers:
    """Slack, Twilio and a webhook served on 127.0.0.1 for one test, and their base URLs."""

    slack: Slack = field(default_factory=Slack)
    twilio: Twilio = field(default_factory=Twilio)
    webhook: Webhook = field(default_factory=Webhook)
    servers: list[BackgroundServer] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    def start(self) -> Receivers:
        for name, app in (("slack", self.slack.app()), ("twilio", self.twilio.app()), ("webhook", self.webhook.app())):
            server = BackgroundServer(f"{name}-sim")
            self.urls[name] = server.start(app)
            self.servers.append(server)
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def channels(self, smtp_port: int, ca_file: Path | None = None) -> dict[str, dict[str, Any]]:
        """The notify channels reaching these receivers and an SMTP server on smtp_port (logging in as
        notify/secret over STARTTLS when `ca_file` is given)."""
        mail: dict[str, Any] = {
            "kind": "email",
            "host": "127.0.0.1",
            "port": smtp_port,
            "from": "seamline@example.com",
            "to": ["integration-team@example.com"],
            "timeout_s": 5,
        }
        if ca_file is not None:
            mail |= {"user": "notify", "password": "secret", "ca_file": str(ca_file), "starttls": "required"}
        return {
            "mail": mail,
            "slack": {"kind": "slack", "webhook_url": self.urls["slack"] + self.slack.path, "timeout_s": 5},
            "sms": {
                "kind": "sms",
                "api_url": self.urls["twilio"],
                "account_sid": self.twilio.account_sid,
                "auth_token": self.twilio.auth_token,
                "from": "+15005550006",
                "to": ["+4915112345678"],
                "timeout_s": 5,
            },
            "hook": {"kind": "webhook", "url": self.urls["webhook"] + "/hook", "timeout_s": 5},
        }
