"""How the processor's Faust consumer hands a fetched record to its stream: at once when the stream has room, else
through Faust's race against a stop of the flow, which cancels the delivery cleanly."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Coroutine
from typing import Any

from mode.services import WaitResults

from processors.app import deliver


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
