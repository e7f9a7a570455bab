"""The Faust app, built in one place: raw change topics in, golden table, canonical topics out.

Faust acknowledges a batch's offsets even when the agent raises; so a transient failure (Kafka or
the registry unreachable) ends the process at once, before any commit, and the batch is re-read on restart.
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Sequence
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import EventT

from processors.batch import BatchProcessor
from seamline.config import Config
from seamline.kafka_settings import faust_settings
from seamline.metrics import Metrics
from seamline.processor_config import ProcessorConfig
from seamline.publisher import Publisher
from seamline.serde import AvroSerde
from seamline.topics import canonical_topic, dlq_topic, ensure_topics, source_topic

log = logging.getLogger(__name__)

EXIT_TRANSIENT = 75  # EX_TEMPFAIL: a supervisor should restart the process


class _Record:
    """The fields BatchProcessor needs, read off a Faust event."""

    __slots__ = ("topic", "partition", "offset", "key", "value")

    def __init__(self, event: EventT) -> None:
        message = event.message
        self.topic = message.topic
        self.partition = message.partition
        self.offset = message.offset
        self.key = message.key
        self.value = message.value


def input_topics(config: Config, processor: ProcessorConfig) -> list[str]:
    """The raw change topics the processor reads."""
    return sorted({source_topic(config.kafka, *mapping.source.split(".", 1)) for mapping in processor.mappings})


def build_app(config: Config, metrics: Metrics) -> faust.App:
    """The processor's Faust app; topics are created before it starts."""
    processor = config.processor
    if processor is None:
        raise ValueError("the configuration file has no 'processor' section: add one to run `seamline process`")
    kafka = config.kafka
    topics = input_topics(config, processor)
    entities = sorted({mapping.entity for mapping in processor.mappings})
    ensure_topics(kafka, [*topics, *(canonical_topic(kafka, e) for e in entities), dlq_topic(kafka, "cleanse")])

    app = faust.App(
        processor.app_id,
        **faust_settings(kafka),
        store="rocksdb://",
        datadir=str(processor.data_dir),
        web_enabled=False,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=3.0,
        stream_wait_empty=False,
        consumer_auto_offset_reset="earliest",
        key_serializer="json",
        value_serializer="json",
    )
    raw = app.topic(*topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    golden = app.Table(
        "golden",
        default=None,
        key_type=str,
        partitions=kafka.partitions,
    )
    batches = BatchProcessor(kafka, processor.mappings, AvroSerde(kafka), Publisher(kafka), metrics, processor.lookups)

    @app.agent(raw)
    async def process(stream: faust.Stream) -> None:
        async for events in stream.take_events(processor.batch_size, within=0.1):
            await _process_batch(batches, golden, events)

    return app


async def _process_batch(batches: BatchProcessor, golden: Any, events: Sequence[EventT]) -> None:
    def in_context(index: int) -> None:
        # The table picks its partition from the task's current event. Only the context variable is set:
        # the stream's own current_event belongs to take_events(), which is filling the next batch meanwhile.
        _current_event.set(weakref.ref(events[index]))

    try:
        await batches.process([_Record(event) for event in events], golden, in_context)
    except Exception:
        log.exception("processing stopped on a transient failure; exiting without committing this batch")
        logging.shutdown()
        os._exit(EXIT_TRANSIENT)
