"""`wait_for` on the system clock (the loop's own timer) and on a manual clock."""

from __future__ import annotations

import asyncio

import pytest

from keyslot.protocol.clock import ClockTimeout, ManualClock, SystemClock, wait_for


async def _answer() -> int:
    await asyncio.sleep(0)
    return 42


async def _own_timeout() -> None:
    await asyncio.sleep(0)
    raise TimeoutError("the device's own timeout")


def test_system_clock_returns_the_result() -> None:
    assert asyncio.run(wait_for(SystemClock(), _answer(), 5.0)) == 42


def test_system_clock_times_out() -> None:
    async def main() -> None:
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with pytest.raises(ClockTimeout, match=r"timed out after 0\.01 s"):
            await wait_for(SystemClock(), never, 0.01)
        assert never.cancelled()

    asyncio.run(main())


def test_system_clock_passes_on_a_timeout_error_of_the_awaited() -> None:
    async def main() -> None:
        with pytest.raises(TimeoutError, match="own timeout") as caught:
            await wait_for(SystemClock(), _own_timeout(), 5.0)
        assert not isinstance(caught.value, ClockTimeout)

    asyncio.run(main())


def test_manual_clock_times_out_when_advanced() -> None:
    async def main() -> None:
        clock = ManualClock()
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiting = asyncio.ensure_future(wait_for(clock, never, 3.0))
        for _ in range(100):  # let the wait start sleeping on the clock
            if clock.sleepers:
                break
            await asyncio.sleep(0)
        clock.advance(3.0)
        with pytest.raises(ClockTimeout):
            await waiting

    asyncio.run(main())
