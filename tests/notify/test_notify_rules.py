"""What notify makes of failures, without Kafka: routes, rate limits and digests, repeats, the records it may
commit, and notices that say what failed and why without a record's values."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from confluent_kafka import TopicPartition

from notify.dispatch import Dispatcher
from notify.failures import Failure
from notify.http_senders import slack_text
from notify.ledger import Ledger
from notify.notices import Notice, failure_notice
from notify.outbox import Outbox
from notify.repeats import History, Repeats
from seamline.metrics import Metrics
from seamline.notify_config import NotifyConfig
from tests.conftest import wait_until

AT = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
FAILURE = Failure(
    topic="dlq.cleanse",
    partition=0,
    offset=0,
    stage="cleanse",
    system="erp",
    object="customers",
    entity="customer",
    key="id=42",
    error_class="InvalidRecord",
    reason="name is required but empty",
    event_id="e-0",
    original="src.erp.customers[1]@7",
    failed_at=AT,
    attempt=1,
)


def failure(n: int, **changes: object) -> Failure:
    return replace(FAILURE, offset=n, event_id=f"e-{n}", **changes)  # type: ignore[arg-type]


@dataclass
class Recorder:
    """A channel that keeps what it is sent."""

    name: str
    notices: list[Notice] = field(default_factory=list)

    def send(self, notice: Notice) -> None:
        self.notices.append(notice)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def notify_config(**route: object) -> NotifyConfig:
    return NotifyConfig.model_validate(
        {
            "channels": {"slack": {"kind": "slack", "webhook_url": "http://127.0.0.1:1/x"}},
            "routes": [
                {"stages": ["sink.*"], "channels": ["slack"], "name": "sinks"},
                {"channels": ["slack"], **route},
            ],
            "repeat_window_s": 600,
        }
    )


def test_a_record_failing_again_within_the_window_is_announced_once_and_later_with_its_history() -> None:
    repeats = Repeats(window_s=600)
    assert repeats.note(FAILURE) == History(AT, AT, 1)
    assert repeats.note(replace(FAILURE, offset=5, failed_at=AT + timedelta(minutes=5))) is None
    assert repeats.note(replace(FAILURE, offset=9, failed_at=AT + timedelta(minutes=12))) == History(
        AT, AT + timedelta(minutes=12), 3
    )
    assert repeats.note(failure(1)) is not None, "another record is no repeat"
    same_place = replace(FAILURE, event_id=None, stage="resolve")
    assert repeats.note(same_place) is not None and repeats.note(replace(same_place, offset=3)) is None


def test_over_the_rate_limit_a_route_sends_one_digest_and_its_records_are_committed_only_once_sent() -> None:
    clock, recorder, ledger = Clock(), Recorder("slack"), Ledger()
    metrics = Metrics.create()
    outbox = Outbox(recorder, metrics, wait_max_s=0.1)
    dispatcher = Dispatcher(notify_config(rate_limit=3, rate_window_s=60), {"slack": outbox}, metrics, clock)
    for n, letter in enumerate([*(failure(n) for n in range(10)), failure(3)]):  # the last one a repeat
        receipt = ledger.open("dlq.cleanse", 0, n)
        dispatcher.take(letter, receipt)
        receipt.release()
    position = [TopicPartition("dlq.cleanse", 0, 11)]
    assert outbox.backlog == 3 and ledger.committable(position)[0].offset == 0
    clock.now = 59.9
    dispatcher.flush_due()
    assert outbox.backlog == 3, "the digest waits for the window's end"
    clock.now = 60
    dispatcher.flush_due()
    assert outbox.backlog == 4
    outbox.start()
    try:
        wait_until(lambda: outbox.backlog == 0, 10, "the notices sent", 0.05)
    finally:
        outbox.stop(timeout_s=5)
    assert ledger.committable(position)[0].offset == 11
    *singles, digest = recorder.notices
    assert len(singles) == 3 and digest.fields["count"] == 7 and digest.fields["type"] == "digest"
    assert "7 × cleanse: name is required but empty (InvalidRecord)" in digest.text
    assert "seamline dlq list --stage cleanse --since 2026-11-22T08:00:00.000Z" in digest.text
    samples = {
        outcome: metrics.registry.get_sample_value(
            "seamline_notifications_total", {"channel": "slack", "outcome": outcome}
        )
        for outcome in ("sent", "digested", "suppressed")
    }
    assert samples == {"sent": 4, "digested": 7, "suppressed": 1}


def test_a_stop_queues_the_digests_of_windows_still_open() -> None:
    outbox, ledger = Outbox(Recorder("slack"), Metrics.create(), wait_max_s=0.1), Ledger()
    dispatcher = Dispatcher(notify_config(rate_limit=1), {"slack": outbox}, Metrics.create(), Clock())
    for n in range(3):
        dispatcher.take(failure(n), ledger.open("dlq.cleanse", 0, n))
    dispatcher.flush_due()
    assert outbox.backlog == 1
    dispatcher.flush_due(stopping=True)
    assert outbox.backlog == 2


def test_routes_match_by_stage_entity_and_system_and_unrouted_failures_are_done_at_once() -> None:
    recorder, ledger = Recorder("slack"), Ledger()
    outbox = Outbox(recorder, Metrics.create(), wait_max_s=0.1)
    config = NotifyConfig.model_validate(
        {
            "channels": {"slack": {"kind": "slack", "webhook_url": "http://127.0.0.1:1/x"}},
            "routes": [{"stages": ["sink.*"], "entities": ["customer"], "systems": ["erp"], "channels": ["slack"]}],
        }
    )
    dispatcher = Dispatcher(config, {"slack": outbox}, Metrics.create())
    for n, changes in enumerate([{"stage": "sink.erp-api"}, {"stage": "sink.erp-api", "entity": "product"}, {}]):
        receipt = ledger.open("dlq.x", 0, n)
        dispatcher.take(failure(n, **changes), receipt)
        receipt.release()
    assert outbox.backlog == 1, "only the customer failing in a sink of the ERP takes the route"
    assert ledger.committable([TopicPartition("dlq.x", 0, 3)])[0].offset == 0


def test_a_channel_that_refuses_is_retried_until_it_takes_the_notice() -> None:
    class Flaky(Recorder):
        refusals = 3

        def send(self, notice: Notice) -> None:
            if self.refusals:
                self.refusals -= 1
                raise ConnectionRefusedError("connection refused")
            super().send(notice)

    flaky, metrics, ledger = Flaky("mail"), Metrics.create(), Ledger()
    outbox = Outbox(flaky, metrics, wait_max_s=0.05)
    receipt = ledger.open("dlq.cleanse", 0, 0)
    outbox.put(failure_notice(FAILURE, History(AT, AT, 1)), [receipt])
    receipt.release()
    outbox.start()
    started = time.monotonic()
    try:
        wait_until(lambda: len(flaky.notices) == 1, 10, "the notice delivered", 0.05)
    finally:
        outbox.stop(timeout_s=5)
    assert time.monotonic() - started < 5
    assert (
        metrics.registry.get_sample_value("seamline_notifications_total", {"channel": "mail", "outcome": "failed"}) == 3
    )
    assert ledger.committable([TopicPartition("dlq.cleanse", 0, 1)])[0].offset == 1


def test_notices_name_the_commands_of_their_stage() -> None:
    history = History(AT, AT + timedelta(hours=1), 4)
    cleanse = failure_notice(FAILURE, history)
    assert cleanse.fields["commands"] == {
        "show": "seamline dlq show cleanse:0:0",
        "replay": "seamline dlq replay --stage cleanse --since 2026-11-22T08:00:00.000Z "
        "--until 2026-11-22T08:00:00.001Z",
    }
    assert "first 2026-11-22T08:00:00.000Z, last 2026-11-22T09:00:00.000Z, 4 attempt(s)" in cleanse.text
    source = failure_notice(replace(FAILURE, stage="source.erp", original="src.erp.customers"), history)
    assert source.fields["commands"]["replay"].startswith("none: fix the value in the source")
    quality = failure_notice(replace(FAILURE, stage="dq.customer", topic="dq.customer"), history)
    assert quality.fields["commands"] == {} and "Data-quality record: dq.customer[0]@0" in quality.text


def test_slack_text_cannot_mention_or_link() -> None:
    notice = failure_notice(replace(FAILURE, reason="<!channel> refused <http://x|here> & more"), History(AT, AT, 1))
    text = slack_text(notice)
    assert "<" not in text and ">" not in text and "&lt;!channel&gt; refused" in text and "&amp; more" in text
