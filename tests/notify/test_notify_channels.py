"""Each channel against a real server on 127.0.0.1: a password is never sent without TLS, a number that took an
SMS is not texted it again when another number's call is retried, and a throttling Slack's wait is honoured."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from notify.http_senders import SlackSender, SmsSender
from notify.notices import Notice
from notify.smtp import SmtpSender
from sandbox.serving import BackgroundServer
from sandbox.slack import Slack
from sandbox.twilio import Twilio
from seamline.notify_config import EmailChannel, SlackChannel, SmsChannel
from seamline.retry import ServerUnavailable
from seamline.stack.ports import free_port
from tests.notify.receivers import Mailbox, smtp_server

NOTICE = Notice("seamline: a customer failed in cleanse", "Why: name is required but empty", "short", {})


@pytest.fixture
def served() -> Iterator[list[BackgroundServer]]:
    servers: list[BackgroundServer] = []
    yield servers
    for server in servers:
        server.stop()


def serve(servers: list[BackgroundServer], app: object) -> str:
    server = BackgroundServer("sim")
    servers.append(server)
    return server.start(app)  # type: ignore[arg-type]


def test_a_password_is_never_sent_to_a_server_without_starttls() -> None:
    mailbox = Mailbox(users={"notify": "secret"})
    smtp = smtp_server(mailbox, free_port())
    smtp.start()
    section = EmailChannel.model_validate(
        {"kind": "email", "host": "127.0.0.1", "port": smtp.port, "user": "notify", "password": "secret",
         "from": "seamline@example.com", "to": ["oncall@example.com"]}
    )  # fmt: skip
    try:
        with pytest.raises(ServerUnavailable, match="does not offer STARTTLS"):
            SmtpSender("mail", section).send(NOTICE)
        plain = section.model_copy(update={"user": None, "password": None})
        SmtpSender("mail", plain).send(NOTICE)  # without a login, a plain server is used as it is
    finally:
        smtp.stop()
    (mail,) = mailbox.mails
    assert not mail.tls and mail.login is None and mail.message["Subject"] == NOTICE.subject


def test_a_number_that_took_the_sms_is_not_texted_again_when_another_numbers_call_is_retried(
    served: list[BackgroundServer],
) -> None:
    twilio = Twilio(unreachable={"+4915100000002"})
    url = serve(served, twilio.app())
    section = SmsChannel.model_validate(
        {"kind": "sms", "api_url": url, "account_sid": twilio.account_sid, "auth_token": twilio.auth_token,
         "from": "+15005550006", "to": ["+4915100000001", "+4915100000002"]}
    )  # fmt: skip
    sender = SmsSender("sms", section)
    with pytest.raises(ServerUnavailable, match="21612"):
        sender.send(NOTICE)
    twilio.unreachable.clear()
    sender.send(NOTICE)
    assert [message["to"] for message in twilio.messages] == ["+4915100000001", "+4915100000002"]
    twilio.faults.fail(1)
    with pytest.raises(ServerUnavailable, match="HTTP 503"):
        sender.send(Notice("another", "text", "short", {}))


def test_a_throttled_slack_post_asks_for_the_wait_slack_gave(served: list[BackgroundServer]) -> None:
    slack = Slack()
    url = serve(served, slack.app())
    sender = SlackSender("slack", SlackChannel.model_validate({"kind": "slack", "webhook_url": url + slack.path}))
    slack.faults.throttle(1)
    with pytest.raises(ServerUnavailable) as refused:
        sender.send(NOTICE)
    assert refused.value.retry_after_s == 1 and url not in str(refused.value), "a webhook URL is its secret"
    sender.send(NOTICE)
    assert slack.messages == [{"text": f"*{NOTICE.subject}*\n{NOTICE.text}"}]
    slack.archived = True
    with pytest.raises(ServerUnavailable, match="410: channel_is_archived"):
        sender.send(NOTICE)
