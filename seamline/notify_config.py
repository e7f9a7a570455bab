"""The `notify:` section: the channels failed records are announced on, and which failures go to which."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from seamline.sections import Section, raise_problems

_TIMEOUT = Field(30.0, gt=0, description="Seconds each phase of a call to the channel may take.")


class EmailChannel(Section):
    """E-mail through an SMTP server, upgraded with STARTTLS whenever the server offers it."""

    kind: Literal["email"]
    host: str = Field(min_length=1, description="The SMTP server's host name.")
    port: int = Field(587, ge=1, le=65535, description="The SMTP server's port (submission: 587).")
    user: str | None = Field(None, description="User to log in as; none: send without logging in.")
    password: SecretStr | None = Field(None, description="The user's password; write it as ${ENV_VAR}.")
    sender: str = Field(alias="from", min_length=3, description="The From address, e.g. seamline@example.com.")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    starttls: Literal["if_offered", "required"] = Field(
        "if_offered",
        description="if_offered: STARTTLS when the server offers it; required: refuse a server that does not "
        "(a password is never sent without TLS either way).",
    )
    ca_file: Path | None = Field(
        None, description="CA bundle (PEM) of the server's certificate; default: the system's."
    )
    timeout_s: float = _TIMEOUT


class SlackChannel(Section):
    """A Slack incoming webhook: the channel it posts to is chosen when the webhook is made."""

    kind: Literal["slack"]
    webhook_url: SecretStr = Field(description="https://hooks.slack.com/services/…; a secret, write it as ${ENV_VAR}.")
    timeout_s: float = _TIMEOUT


class SmsChannel(Section):
    """SMS through Twilio's Messages API (or a service with the same call)."""

    kind: Literal["sms"]
    api_url: str = Field("https://api.twilio.com", pattern=r"^https?://", description="Base URL of the API.")
    account_sid: str = Field(min_length=1, description="The account SID (AC…), the basic-auth user.")
    auth_token: SecretStr = Field(description="The account's auth token; write it as ${ENV_VAR}.")
    sender: str = Field(alias="from", min_length=1, description="The sending number in E.164, e.g. +15005550006.")
    to: list[str] = Field(min_length=1, description="Numbers to text, in E.164.")
    timeout_s: float = _TIMEOUT


class WebhookChannel(Section):
    """Any HTTP endpoint taking one JSON object per notification (a ticketing or paging system)."""

    kind: Literal["webhook"]
    url: str = Field(pattern=r"^https?://", description="Where each notification is POSTed as JSON.")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Extra request headers, e.g. Authorization; write secrets as ${ENV_VAR}."
    )
    timeout_s: float = _TIMEOUT


Channel = Annotated[EmailChannel | SlackChannel | SmsChannel | WebhookChannel, Field(discriminator="kind")]


class Route(Section):
    """Which failures go to which channels. Stages, entities and systems are glob patterns; an empty list matches
    anything. A failure takes the first route that matches."""

    name: str | None = Field(None, description="Named in digests and logs; default route<n>, n counted from 1.")
    stages: list[str] = Field(
        default_factory=list, description="Stages, e.g. cleanse, resolve, 'sink.*', 'source.*', 'dq.*'."
    )
    entities: list[str] = Field(default_factory=list, description="Canonical entities, e.g. customer.")
    systems: list[str] = Field(default_factory=list, description="Source or target systems, e.g. erp, crm.")
    channels: list[str] = Field(min_length=1, description="Names of channels under notify.channels.")
    rate_limit: int = Field(
        10,
        ge=1,
        description="Records announced one message each per rate_window_s; the rest of the window's records "
        "are announced in one digest per channel when the window ends.",
    )
    rate_window_s: float = Field(60.0, gt=0, description="The rate limit's window.")


class NotifyConfig(Section):
    """`seamline notify`: every dead letter and data-quality record, announced on the channels of its route."""

    group_id: str | None = Field(None, description="Kafka consumer group; defaults to '<topic_prefix>seamline-notify'.")
    metrics_port: int = Field(9108, description="Port of this process's /metrics endpoint on 127.0.0.1.")
    channels: dict[str, Channel] = Field(min_length=1, description="Channel name -> how to reach it.")
    routes: list[Route] = Field(min_length=1, description="In order; end with a route without filters to catch all.")
    repeat_window_s: float = Field(
        3600.0,
        ge=0,
        description="A record (same stage and event id, or same original topic, partition and offset) failing "
        "again within this many seconds of its last failure is not announced again.",
    )
    max_backlog: int = Field(
        1000, ge=1, description="Notifications waiting for one channel above which reading pauses until it catches up."
    )
    retry_wait_max_s: float = Field(
        15.0, gt=0, description="Longest wait between two attempts on a channel that is down (backoff with jitter)."
    )

    @model_validator(mode="after")
    def _routes_name_channels(self) -> NotifyConfig:
        raise_problems(
            [
                (("routes", index, "channels"), f"no channel {name!r} under notify.channels: use one of {known}")
                for known in [", ".join(self.channels)]
                for index, route in enumerate(self.routes)
                for name in route.channels
                if name not in self.channels
            ]
        )
        return self

    def route_name(self, index: int) -> str:
        """The name of route `index`, given or route<index + 1>."""
        return self.routes[index].name or f"route{index + 1}"
