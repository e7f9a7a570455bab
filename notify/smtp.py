"""E-mail notifications through an SMTP server, with STARTTLS whenever the server offers it."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from notify.notices import Notice
from seamline.notify_config import EmailChannel
from seamline.retry import ServerUnavailable


class SmtpSender:
    """Sends each notice as one e-mail to every recipient, over a connection of its own."""

    def __init__(self, name: str, section: EmailChannel) -> None:
        self.name = name
        self._section = section
        self._tls = ssl.create_default_context(cafile=str(section.ca_file) if section.ca_file else None)

    def send(self, notice: Notice) -> None:
        """Hand the e-mail to the server; ServerUnavailable when it is down or refuses (the outbox retries)."""
        section = self._section
        message = EmailMessage()
        message["Subject"] = " ".join(notice.subject.split())  # a header cannot hold a line break
        message["From"] = section.sender
        message["To"] = ", ".join(section.to)
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="seamline")
        message.set_content(notice.text)
        where = f"SMTP server {section.host}:{section.port} of channel {self.name}"
        try:
            with smtplib.SMTP(section.host, section.port, timeout=section.timeout_s) as smtp:
                smtp.ehlo()
                secure = smtp.has_extn("starttls")
                if secure:
                    smtp.starttls(context=self._tls)
                    smtp.ehlo()
                elif section.starttls == "required" or section.user is not None:
                    raise _Refused(
                        f"{where} does not offer STARTTLS, which this channel requires (starttls: required, or a "
                        "user to log in as, whose password is never sent in clear)"
                    )
                if section.user is not None:
                    password = section.password.get_secret_value() if section.password else ""
                    smtp.login(section.user, password)
                smtp.send_message(message)
        except _Refused as exc:
            raise ServerUnavailable(str(exc)) from None
        except OSError as exc:  # smtplib's errors, refused or dropped connections, TLS failures
            raise ServerUnavailable(f"{where}: {type(exc).__name__}: {exc}") from exc


class _Refused(Exception):
    """The server cannot be used as configured."""
