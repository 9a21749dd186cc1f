"""The relay's loop: a send that overruns its time is stopped before the caller hears of it."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest

from realtime import transport


def test_a_send_past_its_time_is_stopped_before_the_caller_retries():
    steps: list[str] = []

    async def slow_send() -> None:
        try:
            for n in range(100):
                steps.append(f"frame {n}")
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    with pytest.raises(concurrent.futures.TimeoutError):
        transport.run(slow_send(), timeout=0.2)
    # Stopped by the time the caller (the relay, about to send the batch again) goes on:
    # nothing more is sent behind its back.
    assert steps[-1] == "cancelled"
    sent = len(steps)
    transport.run(asyncio.sleep(0.3))
    assert len(steps) == sent


def test_a_send_in_time_answers_its_result():
    async def send() -> str:
        await asyncio.sleep(0)
        return "sent"

    assert transport.run(send(), timeout=5) == "sent"
