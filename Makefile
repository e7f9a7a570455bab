# Two entry points for a fresh machine: `make demo` and `make test`.
# Each creates the virtualenv on first use; the stack (Kafka, registry,
# PostgreSQL) is installed and started by seamline itself.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo lint test test-unit fuzz chaos bench bench-processor bench-postgres-sink bench-http-sink bench-zendesk-sink bench-mailchimp-sink bench-replay bench-restart clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/seamline demo

# The gates CI runs before the tests: ruff, and mypy with the pydantic plugin (0 errors).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# Every test, unit and integration, against the real stack (started if it is not running), in about 15 minutes:
# first all but the `exclusive` ones on $(TEST_WORKERS) pytest-xdist workers (a test file per worker at a time;
# every worker shares the one stack), then the `exclusive` ones (a restarted PostgreSQL, more brokers, fixed ports)
# one at a time with nothing beside them. Fails if either part does.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -ra --durations=30 -n $(TEST_WORKERS) --dist loadfile -m "not exclusive"; shared=$$?; \
	$(PY) -m pytest -ra --durations=10 -m exclusive; alone=$$?; \
	test $$shared -eq 0 && test $$alone -eq 0

# The fast loop: the tests that need no stack (marked `unit` by tests/conftest.py), in well under a minute.
test-unit: $(STAMP)
	$(PY) -m pytest -q --durations=10 -n 2 -m unit

# The webhook receiver fuzzed for 10 minutes (CI runs the same test for 5 seconds); docs/RELIABILITY.md.
fuzz: $(STAMP)
	SEAMLINE_FUZZ_SECONDS=600 $(PY) -m pytest -s --timeout 900 tests/producers/test_webhook_fuzz.py

# The fault suite at full size (CI runs it reduced), about 40 minutes; docs/RELIABILITY.md.
chaos: $(STAMP)
	SEAMLINE_CHAOS=full $(PY) -m pytest -s --timeout 2400 tests/chaos

# Every stage alone and the whole path, one table against the aims (BENCHMARKS.md); about 15 minutes.
bench: $(STAMP)
	$(PY) bench/suite.py

# The stream processor alone: events/s per worker and where the time goes (docs/performance.md).
bench-processor: $(STAMP)
	$(PY) bench/processor_bench.py

# The postgres sink's write paths: version-guarded upserts/s (docs/sinks.md).
bench-postgres-sink: $(STAMP)
	$(PY) bench/postgres_sink_bench.py

# The http sink against the S/4HANA simulation at 20 ms per call: records/s per concurrency (docs/sinks.md).
bench-http-sink: $(STAMP)
	$(PY) bench/http_sink_bench.py

# The zendesk sink against the Zendesk simulation at 20 ms per call, jobs run after 200 ms: records/s and CPU µs per
# record per batch size (docs/sinks.md).
bench-zendesk-sink: $(STAMP)
	$(PY) bench/zendesk_sink_bench.py

# The mailchimp sink against the Mailchimp simulation at 20 ms per call, by single calls and by batch operations:
# records/s and CPU µs per record (docs/sinks.md).
bench-mailchimp-sink: $(STAMP)
	$(PY) bench/mailchimp_sink_bench.py

# A processor worker holding 1,000,000 golden customers restarted: seconds until it resolves again (docs/performance.md).
bench-restart: $(STAMP)
	$(PY) bench/restart_bench.py

# seamline replay rebuilding an empty PostgreSQL target from 1,000,000 canonical customers (docs/performance.md).
bench-replay: $(STAMP)
	$(PY) bench/replay_bench.py

clean:
	rm -rf $(VENV)
