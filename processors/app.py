"""The Faust app, built in one place: raw change topics -> cleanse -> identity topic -> resolve -> canonical topics.

Faust acknowledges a batch's offsets even when the agent raises; so a failure ends the process at once, before any
commit (seamline.runtime.exit_now: 75 if transient, such as Kafka or the registry unreachable, 1 for a bug), and
the batch is read again on restart.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar, cast

import faust
from faust.sensors import Monitor
from faust.serializers.schemas import DecodeFunction, OnKeyDecodeErrorFun, OnValueDecodeErrorFun
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, AppT, ChannelT, EventT, Message
from mode.services import WaitArgT, WaitResults
from mode.utils.queues import ThrowableQueue
from mode.utils.times import Seconds

from processors.batch import DECISIONS_CHECK_S, CleanseBatch, ResolveBatch
from processors.continuity import Continuity, Partition, Refetched
from seamline import logs
from seamline.config import Config
from seamline.kafka_settings import faust_settings
from seamline.metrics import Metrics
from seamline.publisher import Publisher
from seamline.runtime import exit_now
from seamline.serde import AvroSerde
from seamline.topics import (
    canonical_topic,
    decisions_topic,
    dlq_topic,
    dq_topic,
    ensure_topics,
    identity_topic,
    processor_input_topics,
    resolve_keys_topic,
    state_changelog_topic,
    suggestions_topic,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
RESOLVE_FRAMES = 4  # identity-topic records per resolve batch; each holds up to one cleanse batch
BATCH_WITHIN_S = 0.1
"""How long a batch waits for more records after its first before it goes in part full."""
STALL_CHECK_S = 5.0
GC_THRESHOLDS = (200_000, 20, 100)


class _Record:
    """The fields a batch needs, read off a Faust event."""

    __slots__ = ("topic", "partition", "offset", "key", "value")

    def __init__(self, event: EventT) -> None:
        message = event.message
        self.topic = message.topic
        self.partition = message.partition
        self.offset = message.offset
        self.key = message.key
        self.value = message.value


class _Consumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer, delivering each fetched record to its stream without four tasks per record."""

    async def wait_first(self, *coros: WaitArgT, timeout: Seconds | None = None) -> WaitResults:
        """Faust's fetcher calls this once per record, racing the record's delivery against a stop of the flow:
        four tasks and an asyncio.wait each, 33 µs of CPU a record. While the flow is active, `deliver` runs the
        race only when the delivery has to wait."""
        if self.flow_active and timeout is None and len(coros) == 2:
            delivery, flow_stopped = coros
            if isinstance(delivery, Coroutine) and isinstance(flow_stopped, Coroutine):
                return await deliver(delivery, flow_stopped, super().wait_first)
        if timeout is None:
            return await super().wait_first(*coros)
        return await super().wait_first(*coros, timeout=timeout)


async def deliver(
    delivery: Coroutine[Any, Any, Any],
    flow_stopped: Coroutine[Any, Any, Any],
    race: Callable[[Coroutine[Any, Any, Any], Coroutine[Any, Any, Any]], Awaitable[WaitResults]],
) -> WaitResults:
    """Run the delivery's first step here: it finishes there unless the stream's buffer is full (or flow control
    holds it). Only then does `race` run, on the rest of the delivery against `flow_stopped`, as Faust's does."""
    try:
        waiting_on = delivery.send(None)
    except StopIteration as done:
        flow_stopped.close()
        return WaitResults([delivery], [done.value], False)
    return await race(_finish(delivery, waiting_on), flow_stopped)


async def _finish(coroutine: Coroutine[Any, Any, T], waiting_on: Any) -> T:
    """Run a coroutine stepped by hand to its end, from where it waits on `waiting_on` (what its last step
    yielded: a future, or None to yield once). Cancelled meanwhile, it cancels the coroutine."""
    while True:
        try:
            if waiting_on is None:
                await asyncio.sleep(0)
            else:
                await asyncio.wait([waiting_on])  # until done: the coroutine reads the outcome itself when resumed
        except BaseException as exc:
            try:
                coroutine.throw(exc)
            except BaseException:
                pass  # it ended, as a cancelled coroutine does
            else:
                coroutine.close()  # it went on waiting after the cancellation
            raise
        try:
            waiting_on = coroutine.send(None)
        except StopIteration as done:
            return cast(T, done.value)


class _Transport(aiokafka_driver.Transport):
    Consumer = _Consumer


class RefillingQueue(ThrowableQueue[Any]):
    """A stream's buffer that, once full, takes records from the fetcher again only when it has drained to half.
    Faust's woke the fetcher at each record the stream took, to deliver one record: each delivery then found the
    buffer full and went the slow way (tasks racing it against a stop of the flow): about a quarter of records."""

    def _wakeup_next(self, waiters: deque[asyncio.Future[None]]) -> None:
        if waiters is self._putters and self.qsize() > self.maxsize // 2:
            return  # Queue.put waits on until woken, by a later take or by clear(), which cancels it
        super()._wakeup_next(waiters)  # type: ignore[misc]  # asyncio.Queue's, which typeshed omits


class _App(faust.App):
    def FlowControlQueue(self, maxsize: int | None = None, *, clear_on_resume: bool = False) -> ThrowableQueue:
        """The streams' buffers (and the stream outboxes, which the agents here do not use)."""
        return RefillingQueue(maxsize=maxsize, flow_control=self.flow_control, clear_on_resume=clear_on_resume)


class BytesSchema(faust.Schema):
    """Keys and values as Kafka holds them: bytes, or None. Faust's decoder of such a record ran each through its
    serializer registry (the "raw" codec returns bytes as they are) and read the event class from the app's
    settings, per record; this one makes the event from the message at once."""

    def __init__(self) -> None:
        super().__init__(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    def compile(
        self,
        app: AppT,
        *,
        on_key_decode_error: OnKeyDecodeErrorFun | None = None,
        on_value_decode_error: OnValueDecodeErrorFun | None = None,
        default_propagate: bool = False,
    ) -> DecodeFunction:
        """The topic's decoder, compiled once per topic (no decoding to fail, so no error handlers)."""
        event = cast(Callable[..., EventT], app.conf.Event)  # mypy reads the setting as a typing form

        async def decode(message: Message, *, propagate: bool = default_propagate) -> EventT:
            return event(app, message.key, message.value, message.headers, message)

        return decode


class _QuietMonitor(Monitor):
    """Faust's monitor without its bookkeeping of every message and event (counters, times, string keys): about
    3 µs of CPU a record for statistics only Faust's web page shows, which is off; seamline.metrics counts."""

    def on_message_in(self, tp: TP, offset: int, message: Message) -> None:
        """Nothing: no per-message statistics."""

    def on_stream_event_in(self, tp: TP, offset: int, stream: faust.StreamT, event: EventT) -> dict[str, Any] | None:
        """Nothing: no per-event statistics."""
        return None

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: faust.StreamT, event: EventT, state: dict[str, Any] | None = None
    ) -> None:
        """Nothing: no per-event statistics."""

    def on_message_out(self, tp: TP, offset: int, message: Message) -> None:
        """Nothing: no per-message statistics."""

    def track_tp_end_offset(self, tp: TP, offset: int) -> None:
        """Nothing: the fetcher reports each record's partition end offset, for the lag Faust's web page shows."""


def build_app(config: Config, metrics: Metrics) -> faust.App:
    """The processor's Faust app; topics are created before it starts."""
    processor = config.processor
    if processor is None:
        raise ValueError("the configuration file has no 'processor' section: add one to run `seamline process`")
    kafka = config.kafka
    topics = processor_input_topics(kafka, processor)
    entities = sorted({mapping.entity for mapping in processor.mappings})
    partitions = processor.resolve_partitions
    ensure_topics(
        kafka,
        [
            *topics,
            identity_topic(kafka),
            state_changelog_topic(processor.app_id),
            *([resolve_keys_topic(processor.app_id)] if partitions > 1 else []),
            suggestions_topic(kafka),
            decisions_topic(kafka),
            *(canonical_topic(kafka, e) for e in entities),
            *(dq_topic(kafka, e) for e in entities),
            dlq_topic(kafka, "cleanse"),
            dlq_topic(kafka, "resolve"),
        ],
        {identity_topic(kafka): partitions, state_changelog_topic(processor.app_id): partitions},
    )

    (processor.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    # Faust's stream_wait_empty stays on: a rebalance waits until the batch in hand is resolved and its state
    # committed. Without it the batch went on writing the state while the partition was restored or taken
    # over, and a state that went back could give a new version an old one's number.
    app = _App(
        processor.app_id,
        **faust_settings(kafka),
        store="memory://",  # Faust keeps no table: the resolve state is processors/checkpoint.py's
        datadir=str(processor.data_dir / "faust"),
        web_enabled=False,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        consumer_auto_offset_reset="earliest",
        key_serializer="json",
        value_serializer="json",
        Monitor=_QuietMonitor,
    )
    app.transport = _Transport(app.conf.broker_consumer, app)
    raw = app.topic(*topics, schema=BytesSchema())
    identity = app.topic(identity_topic(kafka), schema=BytesSchema())
    serde, publisher = AvroSerde(kafka), Publisher(kafka)
    cleanse = CleanseBatch(kafka, processor, serde, publisher, metrics)
    resolve = ResolveBatch(kafka, processor, serde, metrics, config.cipher())
    raw_continuity = Continuity(kafka, processor.app_id, topics)
    identity_continuity = Continuity(kafka, processor.app_id, [identity_topic(kafka)])

    @app.on_partitions_revoked.connect
    async def forget_state(*_: object, **__: object) -> None:
        async with resolve.lock:  # not while a timer's batch is resolving
            resolve.forget()

    # mode types every signal receiver as (sender, *args, signal=, **kwargs); this signal sends one positional set
    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def forget_partitions(_: object, assigned: set[TP], **__: object) -> None:
        for continuity in (raw_continuity, identity_continuity):
            continuity.keep_only((tp.topic, tp.partition) for tp in assigned)

    @app.task
    async def freeze_start_up_objects() -> None:
        # Modules, schemas and settings live as long as the process: the cyclic collector need not scan them again.
        # A batch allocates hundreds of thousands of acyclic dicts and lists: collecting the young generation every
        # 700 allocations cost a fifth of the resolve stage's CPU; every 50,000, 0.43 s of the worker's 10.3 s over
        # the benchmark's 50,000 events; every 200,000, 0.19 s.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    @app.timer(STALL_CHECK_S)
    async def read_stalled_partitions_again() -> None:
        consumer = app.consumer
        assert isinstance(consumer, Consumer), "faust's consumers are Consumers (ConsumerT has no flow_active)"
        if app.rebalancing or app.in_recovery or not consumer.flow_active:
            return
        for continuity in (raw_continuity, identity_continuity):
            await _guarded(_read_stalled(app, continuity))

    @app.timer(DECISIONS_CHECK_S)
    async def apply_decisions_and_keys() -> None:
        # A steward's decision, or a referenced key another partition changed, takes effect within seconds though no
        # change arrives; only on each identity partition's owner, whose producer alone may write its state
        if app.rebalancing or app.in_recovery:
            return
        owned = sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == identity_topic(kafka))
        await _guarded(resolve.steer(owned))

    @app.agent(raw)
    async def cleanse_changes(stream: faust.StreamT) -> None:
        async for events in batches(stream, processor.batch_size, BATCH_WITHIN_S):
            batch, refetched = await _guarded(raw_continuity.complete([_Record(event) for event in events]))
            await _guarded(cleanse.process(batch))
            _acknowledge(app, refetched)
            raw_continuity.finished()

    @app.agent(identity)
    async def resolve_changes(stream: faust.StreamT) -> None:
        async for events in batches(stream, RESOLVE_FRAMES, BATCH_WITHIN_S):
            batch, refetched = await _guarded(identity_continuity.complete([_Record(event) for event in events]))
            await _guarded(resolve.process(batch))
            _acknowledge(app, refetched)
            identity_continuity.finished()

    return app


async def batches(stream: faust.StreamT, size: int, within: float) -> AsyncIterator[list[EventT]]:
    """The agent's events in lists of up to `size`, each as soon as it is full or `within` seconds after its first
    event; a list's events are acknowledged once the loop's body has run for it, not when it raised.

    Faust's `take_events` passes each event through the stream's iterator (a turn of the event loop, a coroutine
    and sensor calls each: an agent doing nothing spent 28 µs of CPU a record, 19 with this); this takes events
    from the stream's queue as they are, marking each in hand as Faust's iterator does, so a rebalance waits for them.
    An event of an earlier assignment, or taken while flow control holds the partitions, is dropped unacknowledged:
    Kafka has it again for whoever owns its partition (processors/continuity.py reads it back here)."""
    channel = stream.channel
    assert isinstance(stream, faust.Stream) and isinstance(channel, ChannelT), "an agent streams a topic's channel"
    app, loop = stream.app, asyncio.get_running_loop()
    consumer, queue = app.consumer, channel.queue

    def in_hand(event: EventT) -> bool:
        message = event.message
        if not app.flow_control.is_active() or message.generation_id != app.consumer_generation_id:
            return False
        if not message.tracked and app.topics.acks_enabled_for(message.topic):
            message.tracked = True
            consumer.track_message(message)
        return True

    started = await stream.maybe_start()
    try:
        while not stream.should_stop:
            first = await queue.get()
            events = [first] if in_hand(first) else []
            deadline = loop.time() + within
            while len(events) < size:
                if queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        event = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    event = queue.get_nowait()
                if in_hand(event):
                    events.append(event)
            if events:
                yield events
                for event in events:
                    event.ack()
    finally:
        if started:
            await stream.stop()


async def _read_stalled(app: faust.App, continuity: Continuity) -> None:
    """Seek the consumer back to where records of a partition stopped arriving, though there are more."""

    async def end_offsets(partitions: list[Partition]) -> Mapping[Partition, int]:
        highwaters = await app.consumer.highwaters(*(TP(*partition) for partition in partitions))
        return {(tp.topic, tp.partition): offset for tp, offset in highwaters.items()}

    offsets = await continuity.stalled(end_offsets)
    for (topic, partition), offset in offsets.items():
        log.warning(
            "%s[%d]: nothing arrived from offset %d on, though there is more; reading it again",
            topic,
            partition,
            offset,
        )
    if offsets:
        await app.consumer.seek_wait({TP(*partition): offset for partition, offset in offsets.items()})


def _acknowledge(app: faust.App, records: Sequence[Refetched]) -> None:
    """Acknowledge records read back from Kafka to Faust, so that its commits go on past them."""
    for record in records:
        tp = TP(record.topic, record.partition)
        message = Message(
            record.topic, record.partition, record.offset, 0.0, 0, None, record.key, record.value, None, tp=tp
        )
        app.consumer.ack(message)


def run_worker(app: faust.App) -> None:
    """Run the app's worker until SIGTERM (Faust's own signal handling); a crash raises its reason, whose kind
    (transient or a bug) seamline.runtime turns into the exit code."""
    worker = faust.Worker(app, loglevel="INFO", logging_config=logs.dict_config())
    try:
        worker.execute_from_commandline()
    except SystemExit as stopped:
        cause = worker.crash_reason or stopped.__context__  # Faust's worker ends every crash with exit 1
        if stopped.code != 0 and isinstance(cause, Exception):
            raise cause from None
        raise


async def _guarded(step: Awaitable[T]) -> T:
    """The step's result; a failure ends the process before Faust can acknowledge the batch in hand."""
    try:
        return await step
    except Exception as exc:
        exit_now(exc)
