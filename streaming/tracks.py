"""A viewer's track: the packets of one pipeline output, handed to an aiortc sender as they are.

aiortc's ``RTCRtpSender`` encodes what a track's ``recv()`` returns when it is a
frame, but only packetises it when it is an ``av.Packet`` (with ``pts`` and
``time_base``). So every viewer of an output gets the same packet objects and the
encoder runs once, in the pipeline, whatever the number of viewers.

A new viewer starts at once: on its first ``recv()`` it gets the output's current
group of pictures (from its last key frame), retimed one 90 kHz tick apart so that
its decoder shows the latest picture at once instead of replaying two seconds, then
the live packets. A viewer that does not keep up (its queue fills) loses what waits
and starts again at the next key frame, which it asks the encoder for: it never
makes the others wait, nor the server's memory grow.

Runs on the media event loop only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from streaming.pipeline import Output

# Packets waiting for a viewer's sender, at most (about 6 s at 25 fps, one packet a frame).
MAX_QUEUE = 150


def _retimed(packet: av.Packet, pts: int) -> av.Packet:
    copy = av.Packet(bytes(packet))
    copy.pts = copy.dts = pts
    copy.time_base = packet.time_base
    return copy


class PacketTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, output: Output, *, max_queue: int = MAX_QUEUE) -> None:
        super().__init__()
        self.output = output
        self.max_queue = max_queue
        self._queue: asyncio.Queue = asyncio.Queue()
        self._burst: list[av.Packet] = []
        self._primed = False
        self._waiting_key = False
        self._hole = False
        self.sent = 0
        self.dropped = 0
        self.on_packet: Callable[[], None] | None = None

    def push(self, seq: int, packet: av.Packet, key: bool) -> None:
        if self.readyState != "live":
            return
        if not self._primed:
            if self._queue.qsize() >= self.max_queue:
                self._queue.get_nowait()
                self._hole = True
            self._queue.put_nowait((seq, packet, key))
            return
        if self._waiting_key:
            if not key:
                self.dropped += 1
                return
            self._waiting_key = False
        if self._queue.qsize() >= self.max_queue:
            self.dropped += self._queue.qsize()
            self._drain()
            self.output.request_keyframe()
            if not key:
                self._waiting_key = True
                return
        self._queue.put_nowait((seq, packet, key))

    def _drain(self) -> list:
        items = []
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if item is not None:
                items.append(item)
        return items

    def _prime(self) -> None:
        """Start this viewer: the current GOP at once, then what came since it subscribed."""
        self._primed = True
        pending = self._drain()
        gop = list(self.output.gop)
        if gop and not self._hole:
            last_seq, last = gop[-1][0], gop[-1][1]
            self._burst = [_retimed(p, last.pts - (len(gop) - 1 - i)) for i, (_, p, *_) in enumerate(gop)]
            pending = [item for item in pending if item[0] > last_seq]
        else:
            # Nothing to start from (no key frame yet, or packets were lost): the next key frame.
            while pending and not pending[0][2]:
                pending.pop(0)
            self._waiting_key = not pending
            if self._waiting_key:
                self.output.request_keyframe()
        for item in pending:
            self._queue.put_nowait(item)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if not self._primed:
            self._prime()
        if self._burst:
            packet = self._burst.pop(0)
        else:
            item = await self._queue.get()
            if item is None or self.readyState != "live":
                raise MediaStreamError
            packet = item[1]
        self.sent += 1
        if self.on_packet is not None:
            self.on_packet()
        return packet

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            self._queue.put_nowait(None)  # wake a sender waiting in recv()
