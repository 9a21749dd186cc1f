"""The PTZ side of one hub process: an event loop in its own thread that holds one ONVIF
driver per camera (its connections kept alive, its capabilities cached), and the joystick's
coalescing.

Django's threads (and its event loop) only hand work to this loop: :meth:`PtzRuntime.call`
waits for one request's answer (with a deadline), :meth:`PtzRuntime.joystick` hands over a
velocity and returns at once.

**Joystick commands are coalesced per camera**: at most ``HUB_PTZ_MAX_COMMANDS_PER_SECOND``
reach a camera; a command that arrives while another waits replaces it (the last one wins),
so a stuck key sending 50 moves a second costs the camera 10 and the last (a stop, when the
key is released) is never lost nor delayed by more than one interval. The interval is measured
on :attr:`PtzRuntime.clock` (``time.perf_counter``; a test may hold it still and move it).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ptz.driver import OnvifPtzDriver, PtzDriverError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EndpointConf:
    """What the loop needs to reach a camera (read from the database by the caller)."""

    camera_id: int
    host: str
    port: int
    user: str
    password: str
    timeout: float

    @property
    def key(self) -> tuple:
        return (self.host, self.port, self.user, self.password, self.timeout)


@dataclass
class _Stick:
    """One camera's joystick: the command waiting to be sent, and when the last one left."""

    pending: tuple[float, float, float] | None = None
    waiters: list[concurrent.futures.Future] = field(default_factory=list)
    last_sent: float = 0.0
    task: asyncio.Task | None = None
    # When each command was handed over and when the camera had answered it (benchmarks).
    sent: list[tuple[float, float]] = field(default_factory=list)
    handed: float = 0.0


class PtzRuntime:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="ptz-loop", daemon=True)
        self._drivers: dict[int, tuple[tuple, OnvifPtzDriver]] = {}
        self._sticks: dict[int, _Stick] = {}
        # What the joystick's interval is measured on (seconds, monotonic).
        self.clock: Callable[[], float] = time.perf_counter
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    # --- drivers

    def _driver(self, conf: EndpointConf) -> OnvifPtzDriver:
        current = self._drivers.get(conf.camera_id)
        if current is not None and current[0] == conf.key:
            return current[1]
        if current is not None:  # credentials or address changed: a new client
            self.loop.create_task(current[1].close())
        driver = OnvifPtzDriver(host=conf.host, port=conf.port, user=conf.user, password=conf.password,
                                timeout=conf.timeout)
        self._drivers[conf.camera_id] = (conf.key, driver)
        return driver

    def call(self, conf: EndpointConf, operation: Callable[[OnvifPtzDriver], Awaitable[Any]],
             *, timeout: float | None = None) -> Any:
        """Run ``operation(driver)`` on the loop and wait for its result (its errors raise here)."""

        async def run() -> Any:
            return await operation(self._driver(conf))

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        # The driver's own deadline applies per request; this one bounds a whole operation
        # (setup included) so that no caller waits forever.
        return future.result(timeout=timeout if timeout is not None else conf.timeout * 6 + 1)

    # --- joystick

    def joystick(self, conf: EndpointConf, velocity: tuple[float, float, float], *,
                 max_per_second: float) -> concurrent.futures.Future:
        """Hand over a joystick velocity (pan, tilt, zoom; all 0 = stop). The future resolves
        to ``"sent"`` once its request reached the camera, ``"coalesced"`` when a later command
        replaced it, or raises the driver's error."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        handed = time.perf_counter()
        self.loop.call_soon_threadsafe(self._queue, conf, velocity, future, handed, max_per_second)
        return future

    def _queue(self, conf: EndpointConf, velocity: tuple[float, float, float],
               future: concurrent.futures.Future, handed: float, max_per_second: float) -> None:
        stick = self._sticks.setdefault(conf.camera_id, _Stick())
        for waiter in stick.waiters:
            if not waiter.done():
                waiter.set_result("coalesced")
        stick.pending, stick.waiters = velocity, [future]
        stick.handed = handed
        if stick.task is None or stick.task.done():
            stick.task = self.loop.create_task(self._send(conf, stick, 1.0 / max(1.0, max_per_second)))

    async def _send(self, conf: EndpointConf, stick: _Stick, interval: float) -> None:
        while stick.pending is not None:
            while (wait := stick.last_sent + interval - self.clock()) > 0:
                await asyncio.sleep(wait)
            velocity, waiters = stick.pending, stick.waiters
            handed = stick.handed
            stick.pending, stick.waiters = None, []
            driver = self._driver(conf)
            stick.last_sent = self.clock()
            try:
                pan, tilt, zoom = velocity
                if pan == 0 and tilt == 0 and zoom == 0:
                    await driver.stop()
                else:
                    await driver.continuous_move(pan=pan, tilt=tilt, zoom=zoom)
                stick.sent.append((handed, time.perf_counter()))
            except PtzDriverError as exc:
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(exc)
                continue
            except Exception as exc:  # noqa: BLE001 - told to the caller, never kills the loop
                log.exception("PTZ joystick command failed")
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_exception(PtzDriverError(str(exc)[:200]))
                continue
            del stick.sent[:-1000]
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result("sent")

    def waiting(self, camera_id: int) -> int:
        """How many joystick commands of ``camera_id`` wait for their interval (0 or 1)."""
        stick = self._sticks.get(camera_id)
        return len([w for w in stick.waiters if not w.done()]) if stick and stick.pending is not None else 0

    def sent_timings(self, camera_id: int) -> list[tuple[float, float]]:
        stick = self._sticks.get(camera_id)
        return list(stick.sent) if stick else []

    def forget(self, camera_id: int) -> None:
        """Drop a camera's driver (its address or credentials changed)."""
        current = self._drivers.pop(camera_id, None)
        if current is not None:
            asyncio.run_coroutine_threadsafe(current[1].close(), self.loop)

    def shutdown(self) -> None:
        async def close_all() -> None:
            for _key, driver in list(self._drivers.values()):
                try:
                    await driver.close()
                except Exception:  # noqa: BLE001
                    pass

        try:
            asyncio.run_coroutine_threadsafe(close_all(), self.loop).result(5)
        except Exception:  # noqa: BLE001
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(2)


_runtime: PtzRuntime | None = None
_lock = threading.Lock()


def get_runtime() -> PtzRuntime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = PtzRuntime()
        return _runtime


def reset_runtime() -> None:
    global _runtime
    with _lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.shutdown()
