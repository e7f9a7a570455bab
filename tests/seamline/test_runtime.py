"""The process runtime: a signal stops gracefully, a failure's exit code says whether a restart cures it."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Iterator

import httpx
import pytest

from seamline import runtime
from seamline.connectors.source import SourceSetupError
from seamline.runtime import EXIT_BUG, EXIT_SETUP, EXIT_TRANSIENT, Stop


@pytest.fixture
def signal_handlers() -> Iterator[None]:
    """Put back the test process's SIGTERM and SIGINT handlers after a test installs its own."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


def raising(failure: BaseException) -> Callable[[], None]:
    def failing() -> None:
        raise failure

    return failing


def exit_code(failure: Exception) -> int:
    """The exit code of a process whose main loop fails with `failure`."""
    with pytest.raises(SystemExit) as exited:
        runtime.run(raising(failure))
    assert isinstance(exited.value.code, int)
    return exited.value.code


@pytest.mark.usefixtures("signal_handlers")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_requests_a_graceful_stop_and_tells_the_loops(signum: signal.Signals) -> None:
    stop, heard = Stop(), []
    stop.on_request(lambda: heard.append("loop"))
    stop.on_signals()
    signal.raise_signal(signum)
    signal.raise_signal(signum)  # a second signal changes nothing: the loop is already finishing its step
    assert stop.requested and heard == ["loop"]
    late = []
    stop.on_request(lambda: late.append("late"))  # a loop that starts listening after the request hears it at once
    assert late == ["late"]


@pytest.mark.usefixtures("signal_handlers")
def test_before_a_loop_handles_sigterm_it_exits_through_the_exit_hooks() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    runtime.exit_on_sigterm()
    with pytest.raises(SystemExit) as exited:
        signal.raise_signal(signal.SIGTERM)
    assert exited.value.code == 128 + signal.SIGTERM
    stop = Stop()
    stop.on_signals()  # a loop's own graceful stop takes over, and exit_on_sigterm leaves it alone
    runtime.exit_on_sigterm()
    assert getattr(signal.getsignal(signal.SIGTERM), "__self__", None) is stop


def test_the_idle_wait_ends_at_once_on_a_stop() -> None:
    stop = Stop()
    waiting = stop.idle(3600)
    assert next(waiting) is None  # the runner may commit or stop right away
    stop.request()
    assert list(waiting) == []
    assert list(stop.idle(3600)) == [None]  # a stop requested before the wait: one chance to stop, no waiting


def test_an_idle_wait_of_nothing_yields_once() -> None:
    assert list(Stop().idle(0)) == [None]


def test_a_normal_end_is_exit_0() -> None:
    runtime.run(lambda: None)


def test_a_transient_failure_exits_75_in_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    assert exit_code(httpx.ConnectError("connection refused")) == EXIT_TRANSIENT
    (record,) = [r for r in caplog.records if r.name == "seamline.runtime"]
    assert record.levelno == logging.ERROR and record.exc_info is None
    assert record.getMessage() == "stopping on a transient failure, to be restarted: ConnectError: connection refused"


def test_a_bug_exits_1_with_its_traceback_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    assert exit_code(KeyError("customer_id")) == EXIT_BUG
    (record,) = [r for r in caplog.records if r.name == "seamline.runtime"]
    assert record.levelno == logging.CRITICAL and "KeyError: 'customer_id'" in record.getMessage()
    assert "Traceback (most recent call last)" in caplog.text and "in failing" in caplog.text


@pytest.mark.parametrize("refusal", [SourceSetupError("source erp: no table nowhere"), PermissionError("ACL")])
def test_what_the_user_must_fix_exits_2_with_its_one_line(
    refusal: Exception, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert exit_code(refusal) == EXIT_SETUP
    assert capsys.readouterr().err == f"{refusal}\n"
    assert "Traceback" not in caplog.text


def test_an_interrupt_passes_through() -> None:
    with pytest.raises(KeyboardInterrupt):
        runtime.run(raising(KeyboardInterrupt()))


@pytest.mark.parametrize(
    ("failure", "code"), [(TimeoutError("Kafka did not acknowledge"), EXIT_TRANSIENT), (ValueError("bug"), EXIT_BUG)]
)
def test_exit_now_ends_the_process_with_the_failures_code_and_no_cleanup(
    failure: Exception, code: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class Exited(BaseException):
        pass

    def exit_at_once(status: int) -> None:
        raise Exited(status)

    monkeypatch.setattr(os, "_exit", exit_at_once)
    monkeypatch.setattr(logging, "shutdown", lambda: None)  # the test process's logging goes on
    with pytest.raises(Exited) as exited:
        try:
            raising(failure)()
        except Exception as caught:
            runtime.exit_now(caught)
    assert exited.value.args == (code,)
    assert ("Traceback" in caplog.text) == (code == EXIT_BUG)
