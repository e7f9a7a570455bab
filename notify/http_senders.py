"""Notifications over HTTP: a Slack incoming webhook, SMS through Twilio's Messages API, a generic JSON webhook."""

from __future__ import annotations

from typing import Any

import httpx

from notify.notices import Notice
from seamline.notify_config import SlackChannel, SmsChannel, WebhookChannel
from seamline.outbound import UntrustedAnswer, http_client, path_segment
from seamline.retry import ServerUnavailable, retry_after

_ANSWER_CHARS = 200


def _post(client: httpx.Client, channel: str, url: str, **request: Any) -> None:
    """POST, and raise ServerUnavailable unless the answer is 2xx (the outbox retries); the URL is not named, as
    a webhook's URL is its secret."""
    try:
        response = client.post(url, **request)
    except UntrustedAnswer:
        raise ServerUnavailable(
            f"channel {channel} answered with a redirect, which seamline never follows: check its URL"
        ) from None
    if response.is_success:
        return
    wait = retry_after(response) if response.status_code in (429, 503) else None
    raise ServerUnavailable(
        f"channel {channel} answered HTTP {response.status_code}: {response.text[:_ANSWER_CHARS]}", wait
    )


def slack_text(notice: Notice) -> str:
    """Slack's mrkdwn of a notice: &, < and > escaped as Slack documents, so no text becomes a link or mention."""
    escaped = f"*{notice.subject}*\n{notice.text}"
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        escaped = escaped.replace(char, entity)
    return escaped


class SlackSender:
    """Posts each notice to a Slack incoming webhook."""

    def __init__(self, name: str, section: SlackChannel) -> None:
        self.name = name
        self._url = section.webhook_url.get_secret_value()
        self._client = http_client(section.timeout_s)

    def send(self, notice: Notice) -> None:
        _post(self._client, self.name, self._url, json={"text": slack_text(notice)})


class SmsSender:
    """Texts each notice's short form to every number, one Messages API call each: a number that took a notice
    is not texted it again when the call for another number is retried."""

    def __init__(self, name: str, section: SmsChannel) -> None:
        self.name = name
        self._section = section
        base = section.api_url.rstrip("/")
        self._url = f"{base}/2010-04-01/Accounts/{path_segment(section.account_sid)}/Messages.json"
        self._client = http_client(section.timeout_s)
        self._current: Notice | None = None
        self._texted: set[str] = set()

    def send(self, notice: Notice) -> None:
        if notice is not self._current:
            self._current, self._texted = notice, set()
        auth = (self._section.account_sid, self._section.auth_token.get_secret_value())
        for number in self._section.to:
            if number not in self._texted:
                form = {"To": number, "From": self._section.sender, "Body": notice.short}
                _post(self._client, self.name, self._url, data=form, auth=auth)
                self._texted.add(number)


class WebhookSender:
    """Posts each notice's fields as one JSON object."""

    def __init__(self, name: str, section: WebhookChannel) -> None:
        self.name = name
        self._url = section.url
        self._headers = {header: value.get_secret_value() for header, value in section.headers.items()}
        self._client = http_client(section.timeout_s)

    def send(self, notice: Notice) -> None:
        _post(self._client, self.name, self._url, json=notice.fields, headers=self._headers)
