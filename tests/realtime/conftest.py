"""Fixtures for the event bus: WebSocket clients on the real ASGI application and real Redis."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator

from config.asgi import application
from partners.services import api_token_issue


class Client:
    """A WebSocket client of ``/ws/events/``, authenticated with a bearer token."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def receive(self, timeout: float = 3.0) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def events(self, count: int, timeout: float = 5.0) -> list[dict]:
        """The next ``count`` event frames (heartbeats skipped)."""
        frames = []
        while len(frames) < count:
            frame = await self.receive(timeout)
            if frame.get("type") != "heartbeat":
                frames.append(frame)
        return frames

    async def nothing(self, wait: float = 0.5) -> bool:
        return await self.communicator.receive_nothing(timeout=wait)

    async def send(self, payload) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await self.communicator.send_to(text_data=text)

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
def connect():
    """``await connect(user, last_event_id=None, headers=None)`` → (connected, Client)."""
    opened: list[WebsocketCommunicator] = []

    async def _connect(user=None, *, last_event_id=None, headers=None, query=None):
        from channels.db import database_sync_to_async

        path = "/ws/events/"
        if last_event_id is not None:
            path += f"?last_event_id={last_event_id}"
        elif query:
            path += "?" + query
        hdrs = list(headers or [(b"origin", b"http://localhost")])
        if user is not None:
            raw, _ = await database_sync_to_async(api_token_issue)(user=user)
            hdrs.append((b"authorization", f"Bearer {raw}".encode()))
        communicator = WebsocketCommunicator(application, path, headers=hdrs)
        opened.append(communicator)
        connected, _ = await communicator.connect(timeout=5)
        return connected, Client(communicator)

    yield _connect
    for communicator in opened:
        try:
            asyncio.get_event_loop().run_until_complete(communicator.disconnect())
        except Exception:
            pass
