"""A minimal WebSocket client (RFC 6455) for tests against real Daphne processes.

Neither ``websockets`` nor ``aiohttp`` is a dependency of the project; this is the
least a test needs: the handshake with headers, masked text frames out, text,
ping and close frames in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import struct

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Refused(Exception):
    """The server answered the handshake with something else than 101."""

    def __init__(self, status: int) -> None:
        super().__init__(f"handshake refused with HTTP {status}")
        self.status = status


class Closed(Exception):
    """The server closed the connection (``code`` is None when the TCP stream just ended)."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"closed with code {code}")
        self.code = code


class WebSocket:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, path: str, *, token: str | None = None,
                      origin: str | None = None, host: str = "127.0.0.1") -> WebSocket:
        reader, writer = await asyncio.open_connection(host, port)
        key = base64.b64encode(os.urandom(16)).decode()
        headers = {"Host": f"{host}:{port}", "Upgrade": "websocket", "Connection": "Upgrade",
                   "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13",
                   "Origin": origin or f"http://{host}:{port}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write((request + "\r\n").encode())
        await writer.drain()
        status = int((await reader.readline()).split()[1])
        answer = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            answer[name.strip().lower()] = value.strip()
        if status != 101:
            writer.close()
            raise Refused(status)
        expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert answer.get("sec-websocket-accept") == expected
        return cls(reader, writer)

    async def _frame(self) -> tuple[int, bytes]:
        try:
            b1, b2 = await self.reader.readexactly(2)
        except asyncio.IncompleteReadError:
            raise Closed(None) from None
        length = b2 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        mask = await self.reader.readexactly(4) if b2 & 0x80 else None
        payload = await self.reader.readexactly(length)
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return b1, payload

    async def _message(self) -> str:
        parts: list[bytes] = []
        while True:
            b1, payload = await self._frame()
            opcode = b1 & 0x0F
            if opcode == 0x8:
                raise Closed(struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None)
            if opcode == 0x9:
                await self._send(0xA, payload)
                continue
            if opcode in (0x1, 0x2, 0x0):
                parts.append(payload)
                if b1 & 0x80:
                    return b"".join(parts).decode()

    async def receive(self, timeout: float = 5.0) -> dict:
        """The next frame, parsed."""
        return json.loads(await asyncio.wait_for(self._message(), timeout))

    async def frame(self, timeout: float = 5.0) -> dict:
        """The next frame that is not a heartbeat."""
        while (frame := await self.receive(timeout)).get("type") == "heartbeat":
            pass
        return frame

    async def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        self.writer.write(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
        await self.writer.drain()

    async def send(self, message: dict) -> None:
        await self._send(0x1, json.dumps(message).encode())

    async def live(self) -> None:
        """Wait until the server handles this client's frames (its stream has started)."""
        await self.send({"type": "ping"})
        while (await self.receive())["type"] != "pong":
            pass

    async def close(self) -> None:
        try:
            await self._send(0x8, struct.pack("!H", 1000))
        except (ConnectionError, RuntimeError):
            pass
        self.writer.close()
