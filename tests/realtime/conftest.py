"""Fixtures for the event bus: WebSocket clients on the real ASGI application and real Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from partners.services import api_token_issue

ORIGIN = (b"origin", b"http://localhost")
HOST = (b"host", b"localhost")


# How long to wait for a frame or a close on a busy machine (the wait ends when it comes); a test
# that something does *not* come uses ``nothing``.
BUSY = 15.0


class Client:
    """A WebSocket client of ``/ws/events/``, authenticated with a bearer token."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def receive(self, timeout: float = BUSY) -> dict:
        """The next frame, whatever it is (heartbeats included)."""
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def frame(self, timeout: float = BUSY) -> dict:
        """The next frame that is not a heartbeat, within ``timeout`` in all (frequent heartbeats
        do not extend it)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError
            frame = await self.receive(remaining)
            if frame.get("type") != "heartbeat":
                return frame

    async def events(self, count: int, timeout: float = BUSY) -> list[dict]:
        """The next ``count`` frames (heartbeats skipped)."""
        return [await self.frame(timeout) for _ in range(count)]

    async def nothing(self, wait: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout=wait)

    async def closed_with(self, timeout: float = BUSY) -> int | None:
        """Wait for the server to close the socket, ``timeout`` in all; its close code
        (heartbeats skipped)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError
            output = await self.communicator.receive_output(remaining)
            if output["type"] == "websocket.close":
                return output.get("code")
            if json.loads(output.get("text") or "{}").get("type") != "heartbeat":
                raise AssertionError(f"expected a close, got {output!r}")

    async def send(self, payload) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await self.communicator.send_to(text_data=text)

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_to(bytes_data=data)

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
async def connect():
    """``await connect(user, last_event_id=None, headers=None)`` → (connected, Client).

    Without ``last_event_id``, it returns once the stream is live: what is published
    afterwards reaches the client.

    ``user`` gets a fresh bearer token; ``token`` passes a raw one as is; ``headers``
    replaces the default (a same-site ``Origin``).
    """
    opened: list[WebsocketCommunicator] = []

    async def _connect(user=None, *, last_event_id=None, headers=None, query=None, token=None):
        from channels.db import database_sync_to_async

        path = "/ws/events/"
        if last_event_id is not None:
            path += f"?last_event_id={last_event_id}"
        elif query:
            path += "?" + query
        hdrs = list(headers if headers is not None else [ORIGIN])
        if not any(name == b"host" for name, _ in hdrs):
            hdrs.append(HOST)  # a browser always names the host it connects to
        if user is not None:
            token, _ = await database_sync_to_async(api_token_issue)(user=user)
        if token is not None:
            hdrs.append((b"authorization", f"Bearer {token}".encode()))
        communicator = WebsocketCommunicator(application, path, headers=hdrs)
        opened.append(communicator)
        connected, _ = await communicator.connect(timeout=5)
        client = Client(communicator)
        if connected and last_event_id is None and not query:
            # The consumer reads its starting position after the handshake; it handles a
            # client frame only once that is done, so a pong means "live from here".
            await client.send({"type": "ping"})
            assert (await client.receive(5))["type"] == "pong"
        return connected, client

    yield _connect
    # In the test's own loop, so that no consumer task outlives it.
    for communicator in opened:
        try:
            await asyncio.wait_for(communicator.disconnect(), 3)
        except (Exception, asyncio.CancelledError):  # closed already (server, test, or a timeout)
            pass
