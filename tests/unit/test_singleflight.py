"""SingleFlight: concurrent callers of one key share one run, its result or its error."""

from __future__ import annotations

import asyncio

from aiplayground.singleflight import SingleFlight


def test_concurrent_callers_share_one_run_and_later_callers_run_again() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    runs: list[str] = []

    async def make(key: str) -> int:
        runs.append(key)
        await asyncio.sleep(0.05)
        return len(runs)

    async def main() -> tuple[list[int], int]:
        together = await asyncio.gather(
            *(flight.run("a", lambda: make("a")) for _ in range(16)),
            flight.run("b", lambda: make("b")),
        )
        later = await flight.run("a", lambda: make("a"))
        return list(together), later

    together, later = asyncio.run(main())
    assert runs == ["a", "b", "a"]
    assert together[:16] == [together[0]] * 16
    assert later == 3


def test_an_error_reaches_every_waiter_and_a_cancelled_waiter_does_not_cancel_the_run() -> None:
    flight: SingleFlight[str, int] = SingleFlight()
    calls = 0

    async def failing() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        raise LookupError("no such model")

    async def main() -> list[BaseException | int]:
        impatient = asyncio.ensure_future(flight.run("k", failing))
        waiters = [asyncio.ensure_future(flight.run("k", failing)) for _ in range(3)]
        await asyncio.sleep(0.01)
        impatient.cancel()
        return await asyncio.gather(*waiters, return_exceptions=True)

    results = asyncio.run(main())
    assert calls == 1
    assert all(isinstance(r, LookupError) for r in results)
