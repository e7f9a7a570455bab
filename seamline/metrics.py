"""The one metrics module: every Prometheus metric seamline exports, on an injected registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


@dataclass(frozen=True)
class Metrics:
    """Metrics of one process. Labels carry stage, topic, entity or error kind, never record data."""

    registry: CollectorRegistry
    events_in: Counter
    events_out: Counter
    errors: Counter
    end_to_end_lag: Histogram
    batch_seconds: Histogram
    position_committed_at: Gauge
    source_lag_bytes: Gauge
    source_lag_seconds: Gauge
    poll_seconds: Histogram
    publish_errors: Counter
    webhook_requests: Counter
    held_records: Gauge
    merges: Counter
    field_invalid: Counter
    sink_writes: Counter
    sink_retries: Counter
    sink_batch_size: Histogram
    sink_write_seconds: Histogram
    sink_circuit_open: Gauge
    sink_failing: Gauge
    consumer_lag: Gauge
    reconcile_misaligned: Gauge
    notifications: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None, prefix: str = "seamline") -> Metrics:
        """Define every metric on `registry` (a fresh one by default)."""
        registry = registry or CollectorRegistry()
        return cls(
            registry=registry,
            events_in=Counter(f"{prefix}_events_in", "Records read by a stage.", ["stage", "topic"], registry=registry),
            events_out=Counter(
                f"{prefix}_events_out", "Records written by a stage.", ["stage", "topic"], registry=registry
            ),
            errors=Counter(
                f"{prefix}_errors",
                "Records a stage could not process, by error kind (each one went to the DLQ or was retried).",
                ["stage", "kind"],
                registry=registry,
            ),
            end_to_end_lag=Histogram(
                f"{prefix}_end_to_end_lag_seconds",
                "Time from the source commit of a change to its write into the target.",
                ["sink", "entity"],
                buckets=_LAG_BUCKETS,
                registry=registry,
            ),
            batch_seconds=Histogram(
                f"{prefix}_batch_seconds", "Time to process one batch.", ["stage"], registry=registry
            ),
            position_committed_at=Gauge(
                f"{prefix}_source_position_committed_timestamp_seconds",
                "When a source last committed its position (all changes before it acknowledged by Kafka).",
                ["source"],
                registry=registry,
            ),
            source_lag_bytes=Gauge(
                f"{prefix}_source_lag_bytes",
                "Source log not yet confirmed as published (e.g. WAL held by a replication slot).",
                ["source"],
                registry=registry,
            ),
            source_lag_seconds=Gauge(
                f"{prefix}_source_lag_seconds",
                "Age of the source's position: now minus the source time of its newest captured change or cursor.",
                ["source"],
                registry=registry,
            ),
            poll_seconds=Histogram(
                f"{prefix}_source_poll_seconds",
                "Duration of one poll (query, API call page) of a polling source.",
                ["source"],
                registry=registry,
            ),
            publish_errors=Counter(
                f"{prefix}_source_publish_errors",
                "Changes of a source that Kafka refused or did not acknowledge in time.",
                ["source"],
                registry=registry,
            ),
            webhook_requests=Counter(
                f"{prefix}_webhook_requests",
                "HTTP requests a webhook source answered, by configured endpoint path and status code.",
                ["source", "endpoint", "status"],
                registry=registry,
            ),
            held_records=Gauge(
                f"{prefix}_processor_held_records",
                "Changes held because a record they reference (customer, product, order header) has not arrived.",
                registry=registry,
            ),
            merges=Counter(
                f"{prefix}_processor_merges",
                "Golden records absorbed into another because a change linked them.",
                ["entity"],
                registry=registry,
            ),
            field_invalid=Counter(
                f"{prefix}_field_invalid",
                "Fields whose value could not be normalised in records that went on all the same (without the field, "
                "or with the value as written), by reason (malformed, invalid, unknown, ambiguous, out_of_range); "
                "each is on dq.<entity>, `seamline dq list` shows them.",
                ["entity", "field", "reason"],
                registry=registry,
            ),
            sink_writes=Counter(
                f"{prefix}_sink_writes",
                "Records a sink handled, by outcome: written, unchanged (the target held that version or newer, or "
                "its own values came back), rejected (to the DLQ).",
                ["sink", "entity", "outcome"],
                registry=registry,
            ),
            sink_retries=Counter(
                f"{prefix}_sink_retries",
                "Batch writes a sink tried again after a transient failure (its input paused meanwhile).",
                ["sink"],
                registry=registry,
            ),
            sink_batch_size=Histogram(
                f"{prefix}_sink_batch_size",
                "Records per batch a sink wrote.",
                ["sink"],
                buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
                registry=registry,
            ),
            sink_write_seconds=Histogram(
                f"{prefix}_sink_write_seconds",
                "Time a sink took to write one batch into its target, retries included.",
                ["sink"],
                registry=registry,
            ),
            sink_circuit_open=Gauge(
                f"{prefix}_sink_circuit_open",
                "1 while a sink's circuit breaker is open (the target failing; calls held back), else 0.",
                ["sink"],
                registry=registry,
            ),
            sink_failing=Gauge(
                f"{prefix}_sink_failing",
                "1 while a sink's target refuses its writes (its input paused, the batch retried until the target "
                "takes it; the log says why), else 0.",
                ["sink"],
                registry=registry,
            ),
            consumer_lag=Gauge(
                f"{prefix}_consumer_lag",
                "Records a consumer group (a sink, the processor) has yet to read in a topic, past its committed "
                "offsets.",
                ["group", "topic"],
                registry=registry,
            ),
            reconcile_misaligned=Gauge(
                f"{prefix}_reconcile_misaligned",
                "Records a connector (sink.<name>, source.<name>) lacks (missing), holds without a live canonical "
                "record (extra) or holds with other values (differs), at the last `seamline reconcile`.",
                ["connector", "entity", "kind"],
                registry=registry,
            ),
            notifications=Counter(
                f"{prefix}_notifications",
                "What `seamline notify` did per channel: sent (a message or digest the channel took), failed (an "
                "attempt the channel refused or missed, retried), suppressed (a record that failed again within the "
                "repeat window), digested (a record announced in its route's digest instead of a message of its own).",
                ["channel", "outcome"],
                registry=registry,
            ),
        )

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        """Expose /metrics on addr:port in a background thread."""
        start_http_server(port, addr=addr, registry=self.registry)
