"""`seamline notify` on the real stack: a dead letter reaches e-mail (a real SMTP server), Slack, SMS and a webhook
once, with its reason and without the record's values; a flood becomes one digest per channel; an SMTP server
that is down for a minute delays the e-mail and loses nothing while the other channels go on; a restarted process
does not announce again what it committed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from seamline.config import KafkaConfig
from seamline.metrics import Metrics
from seamline.stack.ports import free_port
from seamline.stack.processes import Supervisor
from seamline.topics import dlq_topic, tool_group
from tests.command import seamline
from tests.conftest import wait_until
from tests.notify.letters import (
    PERSONAL,
    all_committed,
    cleanse_letter,
    committed,
    notifying,
    write_config,
    write_letters,
    write_quality_record,
)
from tests.notify.receivers import Mailbox, Receivers, server_tls, smtp_server


def sent(metrics: Metrics, channel: str, outcome: str) -> float:
    return (
        metrics.registry.get_sample_value("seamline_notifications_total", {"channel": channel, "outcome": outcome}) or 0
    )


def test_a_dead_letter_is_announced_once_on_every_channel_with_its_reason_and_no_record_values(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    receivers = Receivers().start()
    tls, ca_file = server_tls(tmp_path)
    mailbox = Mailbox(users={"notify": "secret"})
    smtp = smtp_server(mailbox, free_port(), tls)
    smtp.start()
    config = write_config(tmp_path / "seamline.yaml", kafka, receivers.channels(smtp.port, ca_file))
    metrics = Metrics.create()
    topics = [dlq_topic(kafka, "cleanse")]
    try:
        cleanse_letter(kafka)
        with notifying(config, metrics):
            wait_until(
                lambda: all_committed(kafka, tool_group(kafka, "notify"), topics), 60, "the letter announced", 0.5
            )
            time.sleep(1)  # anything sent twice would come now
    finally:
        smtp.stop()
        receivers.stop()

    (mail,) = mailbox.mails
    (slack,) = receivers.slack.messages
    (sms,) = receivers.twilio.messages
    (hook,) = receivers.webhook.posted
    assert mail.tls and mail.login == "notify" and mail.recipients == ["integration-team@example.com"]
    texts = {"e-mail": mail.text, "slack": slack["text"], "sms": sms["body"], "webhook": json.dumps(hook)}
    for channel, text in texts.items():
        assert "name is required but empty" in text, channel
        assert "cleanse" in text and "id=42" in text and "seamline dlq show cleanse:" in text, channel
        for value in PERSONAL.values():
            assert value not in text and value.replace(" ", "") not in text, f"{channel} carries a record value"
    assert "seamline dlq replay --stage cleanse --since" in mail.text
    assert hook["entity"] == "customer" and hook["system"] == "erp" and hook["attempts"] == 1
    assert sms["to"] == "+4915112345678" and len(sms["body"]) <= 320
    assert [sent(metrics, channel, "sent") for channel in ("mail", "slack", "sms", "hook")] == [1, 1, 1, 1]


def test_a_thousand_failures_within_a_minute_make_one_digest_per_channel(kafka: KafkaConfig, tmp_path: Path) -> None:
    receivers = Receivers().start()
    mailbox = Mailbox()
    smtp = smtp_server(mailbox, free_port())
    smtp.start()
    channels = receivers.channels(smtp.port)
    config = write_config(tmp_path / "seamline.yaml", kafka, channels, rate_limit=5, rate_window_s=8)
    metrics = Metrics.create()
    topics = [dlq_topic(kafka, "cleanse")]
    try:
        write_letters(kafka, "cleanse", 1000)
        with notifying(config, metrics):
            wait_until(lambda: all_committed(kafka, tool_group(kafka, "notify"), topics), 60, "the digests", 0.5)
            time.sleep(1)
    finally:
        smtp.stop()
        receivers.stop()

    received = {
        "mail": [mail.text for mail in mailbox.mails],
        "slack": [message["text"] for message in receivers.slack.messages],
        "sms": [message["body"] for message in receivers.twilio.messages],
        "hook": [json.dumps(posted) for posted in receivers.webhook.posted],
    }
    for channel, texts in received.items():
        digests = [text for text in texts if "995 more" in text or '"count": 995' in text]
        assert len(digests) == 1 and len(texts) == 6, f"{channel}: {len(texts)} messages, {len(digests)} digest(s)"
        assert sent(metrics, channel, "digested") == 995
    assert "995 × cleanse: email: not an address (text(9))" in received["mail"][-1]


OUTAGE_S = 60


@pytest.mark.slow
def test_an_smtp_server_down_for_a_minute_delays_the_email_and_loses_nothing_while_slack_and_sms_go_out(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    receivers = Receivers().start()
    mailbox = Mailbox()
    port = free_port()  # nothing listens there for the first minute
    channels = receivers.channels(port)
    del channels["hook"]
    config = write_config(tmp_path / "seamline.yaml", kafka, channels)
    metrics = Metrics.create()
    group, topics = tool_group(kafka, "notify"), [dlq_topic(kafka, "cleanse")]
    smtp = smtp_server(mailbox, port)
    announced = lambda count: len(receivers.slack.messages) == len(receivers.twilio.messages) == count  # noqa: E731
    try:
        write_letters(kafka, "cleanse", 3)
        down_until = time.monotonic() + OUTAGE_S
        with notifying(config, metrics):
            wait_until(lambda: announced(3), 20, "Slack and SMS", 0.2)
            assert committed(kafka, group, topics) == 0, "nothing is committed before the e-mails are sent"
            # halfway through the outage two more records fail: Slack and SMS announce them at once too
            time.sleep(max(0.0, down_until - OUTAGE_S / 2 - time.monotonic()))
            write_letters(kafka, "cleanse", 2, first=3)
            wait_until(lambda: announced(5), 20, "Slack and SMS during the outage", 0.2)
            assert time.monotonic() < down_until, "Slack and SMS went out while the SMTP server was down"
            time.sleep(max(0.0, down_until - time.monotonic()))
            assert mailbox.mails == [] and sent(metrics, "mail", "failed") >= 5
            assert committed(kafka, group, topics) == 0, "a minute down: still nothing committed"
            smtp.start()
            wait_until(lambda: all_committed(kafka, group, topics), 30, "the e-mails once the server is up", 0.2)
            time.sleep(1)  # anything sent twice would come now
    finally:
        smtp.stop()
        receivers.stop()
    assert len(mailbox.mails) == 5 and announced(5)
    offsets = [[n for n in range(5) if f"]@{n}" in mail.text] for mail in mailbox.mails]
    assert sorted(offsets) == [[n] for n in range(5)], "each failed record in one e-mail"
    assert sent(metrics, "mail", "sent") == 5


def test_a_restarted_notify_process_does_not_announce_committed_letters_again(
    kafka: KafkaConfig, tmp_path: Path
) -> None:
    receivers = Receivers().start()
    channels = {"slack": receivers.channels(free_port())["slack"]}
    config = write_config(tmp_path / "seamline.yaml", kafka, channels)
    group = tool_group(kafka, "notify")
    processes = Supervisor(config, tmp_path / "logs", {"notify": ["notify"]})
    texts = lambda: [message["text"] for message in receivers.slack.messages]  # noqa: E731
    try:
        write_letters(kafka, "cleanse", 2)
        processes.start("notify")
        wait_until(lambda: all_committed(kafka, group, [dlq_topic(kafka, "cleanse")]), 60, "two letters", 0.5)
        assert len(texts()) == 2
        processes.stop_all()
        processes.start("notify")
        # stages whose topics appear while it runs: a sink's DLQ, and the data-quality records of an entity
        write_letters(kafka, "sink.warehouse", 1, reason="no_3: CHECK constraint refused the row")
        write_quality_record(kafka, "customer", "phone: not a number in E.164 (text of 7 chars: digits)")
        wait_until(lambda: len(texts()) >= 4, 60, "the new topics' records", 0.5)
        topics = [dlq_topic(kafka, "cleanse"), dlq_topic(kafka, "sink.warehouse"), f"{kafka.topic_prefix}dq.customer"]
        wait_until(lambda: all_committed(kafka, group, topics), 30, "the commit", 0.5)
        time.sleep(1)
        assert not processes.crashed(), processes.log_tail("notify")
        look = json.loads(seamline("status", "--json", "--config", str(config), env={"COLUMNS": "200"}).stdout)
        assert {"group": group, "process": "notify", "lag": 0, "committed": 4} in [
            {name: value for name, value in found.items() if name != "per_second"} for found in look["groups"]
        ]
        assert {"name": "notify", "up": True} in [{"name": h["name"], "up": h["up"]} for h in look["health"]]
    finally:
        processes.stop_all()
        receivers.stop()
    assert len(texts()) == 4, texts()
    later = "\n".join(texts()[2:])
    assert "no_3: CHECK constraint refused the row" in later and "sink.warehouse" in later
    assert "phone: not a number in E.164" in later and "dq.customer" in later
