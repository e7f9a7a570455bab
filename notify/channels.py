"""The channels of the `notify:` section, opened: each sends a notice or raises ServerUnavailable."""

from __future__ import annotations

from typing import Protocol

from notify.http_senders import SlackSender, SmsSender, WebhookSender
from notify.notices import Notice
from notify.smtp import SmtpSender
from seamline.notify_config import EmailChannel, NotifyConfig, SlackChannel, SmsChannel


class Sender(Protocol):
    """Delivers a notice to one channel; ServerUnavailable (transient, retried) when the channel does not take it."""

    name: str

    def send(self, notice: Notice) -> None: ...


def open_senders(notify: NotifyConfig) -> dict[str, Sender]:
    """A sender per configured channel, by name."""
    senders: dict[str, Sender] = {}
    for name, section in notify.channels.items():
        if isinstance(section, EmailChannel):
            senders[name] = SmtpSender(name, section)
        elif isinstance(section, SlackChannel):
            senders[name] = SlackSender(name, section)
        elif isinstance(section, SmsChannel):
            senders[name] = SmsSender(name, section)
        else:
            senders[name] = WebhookSender(name, section)
    return senders
