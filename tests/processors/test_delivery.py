"""How the processor's Faust consumer hands a fetched record to its stream: at once when the stream has room, else
through Faust's race against a stop of the flow, which cancels the delivery cleanly; a full stream buffer takes
records again once drained to half; the event carries the record's bytes as they are."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any

import faust
import pytest
from faust.types import Message
from mode.services import WaitResults
from mode.utils.queues import FlowControlEvent

from processors.app import BytesSchema, RefillingQueue, deliver


async def race(*coros: Coroutine[Any, Any, Any]) -> WaitResults:
    """As Faust's wait_first: the first to finish wins, the others are cancelled."""
    tasks = [asyncio.ensure_future(coro) for coro in coros]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return WaitResults([], [task.result() for task in done], False)


def test_a_delivery_that_need_not_wait_is_done_without_the_race() -> None:
    raced: list[int] = []

    async def counted(*coros: Coroutine[Any, Any, Any]) -> WaitResults:
        raced.append(len(coros))
        return await race(*coros)

    async def at_once() -> str:
        return "delivered"

    async def main() -> tuple[WaitResults, Coroutine[Any, Any, Any]]:
        flow_stopped = asyncio.Event().wait()
        return await deliver(at_once(), flow_stopped, counted), flow_stopped

    result, flow_stopped = asyncio.run(main())
    assert result.results == ["delivered"] and raced == []
    assert inspect.getcoroutinestate(flow_stopped) == inspect.CORO_CLOSED, "closed, not left unawaited"


def test_a_delivery_that_waits_for_room_finishes_through_the_race() -> None:
    async def main() -> WaitResults:
        room = asyncio.get_running_loop().create_future()

        async def into_a_full_buffer() -> str:
            await asyncio.sleep(0)
            return str(await room)

        asyncio.get_running_loop().call_later(0.01, room.set_result, "delivered")
        return await deliver(into_a_full_buffer(), asyncio.Event().wait(), race)

    assert asyncio.run(main()).results == ["delivered"]


def test_a_stop_of_the_flow_cancels_a_waiting_delivery_which_cleans_up() -> None:
    cleaned: list[str] = []

    async def main() -> WaitResults:
        stop = asyncio.Event()

        async def into_a_full_buffer() -> None:
            try:
                await asyncio.get_running_loop().create_future()  # no room ever comes
            except asyncio.CancelledError:
                cleaned.append("cancelled")
                raise

        asyncio.get_running_loop().call_later(0.01, stop.set)
        return await deliver(into_a_full_buffer(), stop.wait(), race)

    assert asyncio.run(main()).results == [True]
    assert cleaned == ["cancelled"]


def test_a_full_buffer_takes_records_again_once_drained_to_half() -> None:
    async def main() -> list[int]:
        queue = RefillingQueue(maxsize=4, flow_control=FlowControlEvent(initially_suspended=False))
        for n in range(4):
            queue.put_nowait(n)
        put = asyncio.ensure_future(queue.put(4))
        await asyncio.sleep(0)
        queue.get_nowait()
        await asyncio.sleep(0.01)
        assert not put.done(), "three records left of four: still waiting"
        queue.get_nowait()
        await asyncio.wait_for(put, 1)
        return [queue.get_nowait() for _ in range(queue.qsize())]

    assert asyncio.run(main()) == [2, 3, 4]


def test_a_cleared_buffer_cancels_the_waiting_delivery() -> None:
    async def main() -> None:
        queue = RefillingQueue(maxsize=2, flow_control=FlowControlEvent(initially_suspended=False))
        queue.put_nowait(0)
        queue.put_nowait(1)
        put = asyncio.ensure_future(queue.put(2))
        await asyncio.sleep(0)
        queue.clear()  # as Faust's flow control does on resuming after a rebalance
        with pytest.raises(asyncio.CancelledError):
            await put

    asyncio.run(main())


@pytest.mark.parametrize(("key", "value"), [(b"k", b"v"), (None, b"v"), (b"k", None), (None, None)])
def test_the_event_carries_the_records_bytes_as_fausts_raw_decoding_does(
    key: bytes | None, value: bytes | None
) -> None:
    app = faust.App("test-bytes-schema")
    fausts: faust.Schema[bytes, bytes] = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    message = Message("raw", 0, 7, 0.0, 0, None, key, value, None)

    async def main() -> tuple[Any, Any]:
        return await BytesSchema().compile(app)(message), await fausts.compile(app)(message)

    ours, theirs = asyncio.run(main())
    assert type(ours) is type(theirs)
    assert (ours.key, ours.value, ours.headers, ours.message) == (theirs.key, theirs.value, theirs.headers, message)
