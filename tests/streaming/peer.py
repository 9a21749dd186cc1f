"""A WHEP viewer for the tests: an aiortc peer connection in its own event loop thread.

    peer = WhepPeer()
    response = client.post(url, peer.offer(), content_type="application/sdp")
    peer.accept(response.content.decode())
    peer.wait_frames(5, timeout=5)
    peer.close()

It decodes what it receives (aiortc's own H.264 decoder) and keeps the latest frame
as RGB, so that a test can look at the pixels a viewer gets.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


class WhepPeer:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-peer", daemon=True)
        self.thread.start()
        self.pc: RTCPeerConnection | None = None
        self.frames = 0
        self.last_rgb: np.ndarray | None = None
        self.last_frame_at: float | None = None
        self.ended = threading.Event()
        self.states: list[str] = []
        self._lock = threading.Lock()

    def _run(self, coro, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def offer(self, *, video: bool = True) -> str:
        return self._run(self._offer(video))

    async def _offer(self, video: bool) -> str:
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        if video:
            pc.addTransceiver("video", direction="recvonly")
        else:
            pc.addTransceiver("audio", direction="recvonly")

        @pc.on("connectionstatechange")
        def on_state() -> None:
            self.states.append(pc.connectionState)
            if pc.connectionState in ("failed", "closed"):
                self.ended.set()

        @pc.on("track")
        def on_track(track) -> None:
            asyncio.ensure_future(self._consume(track))

        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp

    async def _consume(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                rgb = frame.to_ndarray(format="rgb24")
                with self._lock:
                    self.frames += 1
                    self.last_rgb = rgb
                    self.last_frame_at = time.monotonic()
        except MediaStreamError:
            self.ended.set()

    def accept(self, answer: str) -> None:
        self._run(self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer")))

    def wait_frames(self, count: int, *, timeout: float) -> int:
        """Wait until ``count`` more frames were decoded; returns how many came."""
        start = self.frames
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.frames - start < count:
            time.sleep(0.02)
        return self.frames - start

    def frames_stop_within(self, seconds: float, *, quiet: float = 0.5) -> float | None:
        """Seconds until no frame arrived for ``quiet`` s (measured from now), or None if frames
        still flowed after ``seconds``."""
        start = time.monotonic()
        while time.monotonic() - start < seconds + quiet:
            last = self.last_frame_at or 0
            if time.monotonic() - last >= quiet:
                return max(0.0, last - start)
            time.sleep(0.02)
        return None

    def vanish(self) -> None:
        """Disappear without hanging up: stop answering on the network (no DTLS close)."""
        def _silence() -> None:
            for transceiver in self.pc.getTransceivers():
                ice = transceiver.receiver.transport.transport
                for protocol in list(ice._connection._protocols):
                    if protocol.transport is not None:
                        protocol.transport.close()
        self.loop.call_soon_threadsafe(_silence)

    async def _shutdown(self) -> None:
        if self.pc is not None:
            await self.pc.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        if not self.thread.is_alive():
            return
        try:
            self._run(self._shutdown(), 5)
        except Exception:  # noqa: BLE001 - a broken peer still goes away
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(2)
        if not self.thread.is_alive():
            self.loop.close()
