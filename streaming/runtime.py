"""The video side of one hub process: a media event loop, the camera pipelines, the viewers.

Live video runs beside Django, not inside its event loop:

- **the media loop** (a thread running its own asyncio loop) holds every aiortc peer
  connection and the pipelines' outputs. Packetising and encrypting (SRTP) for each
  viewer happen there, so a busy video process never delays the WebSocket events of
  Daphne's loop;
- **one worker thread per camera** (``streaming.pipeline``) reads, decodes, masks and
  encodes;
- **the watchdog** (a thread) checks every viewer again every
  ``HUB_VIDEO_WATCHDOG_SECONDS`` with ``camera_view_denial`` (a revoked or expired
  grant, an expired habilitation or authorisation, a deactivated account), with its
  credential (a session ended by logout, a revoked token), and that the peer is still
  there (RTCP); the first failure hangs the viewer up. It also reads the masks in
  force (and the PTZ preset) of every running camera once a second;
- **a database thread** writes what the media side reports: the end of each viewing in
  the access journal, a camera going offline or back online.

Views call in from their own threads (``VideoRuntime.open_viewing`` blocks, bounded
by timeouts). Sessions live in this process's memory: the ``Location`` of a viewing
must reach the same process (see docs/video.md, "Scaling out").
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils.translation import gettext as _

from streaming.pipeline import CENTRE, CameraFeed, CameraPipeline, Output, PipelineSettings
from streaming.selectors import MasksInForce
from streaming.tracks import PacketTrack
from streaming.whep import BadOffer, TooManyViewers, VideoUnavailable

if TYPE_CHECKING:
    from aiortc import RTCPeerConnection  # imported when a viewer connects: it is slow to load

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # answering an offer (ICE gathering included), at most
# The sessions that ended lately, remembered with their viewer so that a hang-up arriving after
# the end (the peer's own close often comes first) is answered as done: bounded, oldest forgotten.
ENDED_REMEMBERED = 10_000


@dataclass(frozen=True)
class Viewer:
    """Who watches, as the view established it (rights are checked again by the watchdog)."""

    user_id: int
    username: str
    grant_id: int | None = None
    # ("session", session key) | ("token", token digest) | ("none", ""): checked while watching.
    credential: tuple[str, str] = ("none", "")
    address: str | None = None
    # The output this viewer shares: "centre", or "agency:<code>" (watermarked with ``label``).
    output_key: str = CENTRE
    output_label: str = ""


@dataclass(eq=False)
class ViewerSession:
    id: str
    viewer: Viewer
    feed: CameraFeed
    created: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    answer: str = ""
    pc: RTCPeerConnection | None = None
    track: PacketTrack | None = None
    output: Output | None = None
    pipeline: CameraPipeline | None = None
    connected_at: float | None = None
    last_rtcp: float | None = None
    ended: bool = False
    counted: bool = False
    end_reason: str = ""
    journalled: bool = False
    closed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _ice_servers() -> list:
    from aiortc import RTCIceServer

    servers = []
    for entry in settings.HUB_WEBRTC_ICE_SERVERS:
        servers.append(RTCIceServer(urls=entry["urls"], username=entry.get("username"),
                                    credential=entry.get("credential")))
    return servers


def _restrict_host_addresses(addresses: list[str]) -> None:
    """Gather ICE host candidates on these addresses only (aioice offers every interface
    but loopback): a multi-homed server shows viewers its video interface, a test its loopback."""
    if not addresses:
        return
    import aioice.ice

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in addresses if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = host_addresses


class VideoRuntime:
    def __init__(self, *, config: PipelineSettings | None = None, watchdog: bool = True,
                 journal: bool = True) -> None:
        self.config = config or PipelineSettings.from_django()
        self.journal = journal
        self.loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._run_loop, name="video-loop", daemon=True)
        self._pipelines: dict[int, CameraPipeline] = {}  # media loop only
        self._sessions: dict[str, ViewerSession] = {}
        self._ended: OrderedDict[str, int] = OrderedDict()  # session id -> viewer's user id
        self._lock = threading.Lock()
        self._viewers = 0
        self._pending = 0
        self._stopping = threading.Event()
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="video-db")
        _restrict_host_addresses(list(settings.HUB_WEBRTC_HOST_ADDRESSES))
        self._loop_thread.start()
        self._watchdog: threading.Thread | None = None
        if watchdog:
            self._watchdog = threading.Thread(target=self._watch, name="video-watchdog", daemon=True)
            self._watchdog.start()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro, timeout: float):
        """Run ``coro`` on the media loop from another thread and wait for it (bounded)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    # --- Admission.

    def admit(self) -> None:
        """Reserve a viewer's place, or refuse (503) beyond the limits (nothing is started)."""
        with self._lock:
            if self._stopping.is_set() or self._viewers + self._pending >= settings.HUB_VIDEO_MAX_VIEWERS \
                    or self._pending >= settings.HUB_VIDEO_MAX_PENDING_OFFERS:
                raise TooManyViewers(_("Too many viewers at once: try again shortly."))
            self._pending += 1

    def _admitted(self, *, viewing: bool) -> None:
        with self._lock:
            self._pending -= 1

    # --- Viewings (called from a view's thread).

    def open_viewing(self, *, feed: CameraFeed, viewer: Viewer, offer: str, masks: MasksInForce,
                     start_timeout: float) -> ViewerSession:
        """Admitted already (``admit``): start or join the camera's pipeline, wait for its source
        (bounded), connect the viewer. Returns the session with its SDP answer."""
        session = ViewerSession(id=uuid.uuid4().hex, viewer=viewer, feed=feed)
        try:
            pipeline = self.call(self._acquire(feed, masks), 5)
            session.pipeline = pipeline
            if not pipeline.wait_ready(start_timeout):
                self.call(self._release(pipeline), 5)
                why = pipeline.detail or "timeout"
                raise VideoUnavailable(_("The camera's video source does not answer (%(why)s).")
                                       % {"why": why})
            try:
                session.answer = self.call(self._connect(session, offer), CONNECT_TIMEOUT)
            except BaseException:
                self.call(self._end(session, "connect_failed"), 5)
                raise
        except concurrent.futures.TimeoutError as exc:
            self._admitted(viewing=False)
            raise VideoUnavailable(_("The viewer could not be connected in time.")) from exc
        except BaseException:
            self._admitted(viewing=False)
            raise
        with self._lock:
            self._pending -= 1
            if not session.ended:
                self._viewers += 1
                session.counted = True
        return session

    def mark_journalled(self, session: ViewerSession) -> bool:
        """The start is in the journal: its end will be. False when it already ended meanwhile
        (the caller journals the end itself)."""
        with session.lock:
            session.journalled = True
            return not session.ended

    def session(self, session_id: str) -> ViewerSession | None:
        with self._lock:
            return self._sessions.get(session_id)

    def ended_viewer(self, session_id: str) -> int | None:
        """The user id of the viewer of ``session_id`` if it ended lately in this process."""
        with self._lock:
            return self._ended.get(session_id)

    def sessions(self) -> list[ViewerSession]:
        with self._lock:
            return list(self._sessions.values())

    def end_viewing(self, session_id: str, reason: str, *, wait: float = 5) -> bool:
        session = self.session(session_id)
        if session is None:
            return False
        try:
            self.call(self._end(session, reason), wait)
        except concurrent.futures.TimeoutError:
            log.warning("video session %s: closing took more than %s s", session_id, wait)
        return True

    def pipelines(self) -> list[CameraPipeline]:
        return list(self._pipelines.values())

    def stats(self) -> dict:
        with self._lock:
            viewers, pending = self._viewers, self._pending
        return {"viewers": viewers, "pending": pending,
                "pipelines": [p.stats() for p in self.pipelines()]}

    # --- Media loop side.

    async def _acquire(self, feed: CameraFeed, masks: MasksInForce) -> CameraPipeline:
        pipeline = self._pipelines.get(feed.camera_id)
        if pipeline is None or pipeline.state == CameraPipeline.CLOSED:
            pipeline = CameraPipeline(feed, loop=self.loop, config=self.config, on_status=self._report_status)
            pipeline.set_masks(masks)  # in force before the first frame
            self._pipelines[feed.camera_id] = pipeline
            pipeline.start()
        if pipeline.linger is not None:
            pipeline.linger.cancel()
            pipeline.linger = None
        pipeline.holds += 1
        return pipeline

    async def _release(self, pipeline: CameraPipeline) -> None:
        pipeline.holds -= 1
        if pipeline.holds <= 0 and pipeline.linger is None:
            if self._stopping.is_set():
                await self._close_pipeline(pipeline)
            else:
                pipeline.linger = self.loop.call_later(
                    settings.HUB_VIDEO_LINGER_SECONDS,
                    lambda: asyncio.ensure_future(self._close_pipeline(pipeline)))

    async def _close_pipeline(self, pipeline: CameraPipeline) -> None:
        pipeline.linger = None
        if pipeline.holds > 0:
            return
        if self._pipelines.get(pipeline.feed.camera_id) is pipeline:
            del self._pipelines[pipeline.feed.camera_id]
        pipeline.stop()
        await self.loop.run_in_executor(None, pipeline.join, 5)

    async def _connect(self, session: ViewerSession, offer: str) -> str:
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription
        from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError

        viewer, pipeline = session.viewer, session.pipeline
        assert pipeline is not None
        pc = RTCPeerConnection(RTCConfiguration(iceServers=_ice_servers()))
        session.pc = pc
        with self._lock:
            self._sessions[session.id] = session

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            state = pc.connectionState
            if state == "connected":
                session.connected_at = session.last_rtcp = time.monotonic()
            elif state in ("failed", "closed"):
                await self._end(session, f"connection_{state}")

        output = pipeline.output(viewer.output_key, viewer.output_label)
        track = PacketTrack(output)
        session.output, session.track = output, track
        # Our transceiver first, restricted to H.264: the offer's video m-line binds to it.
        transceiver = pc.addTransceiver(track, direction="sendonly")
        h264 = [c for c in RTCRtpSender.getCapabilities("video").codecs
                if c.mimeType.lower() == "video/h264" and str(c.parameters.get("packetization-mode")) == "1"]
        # Constrained baseline first: what our encoder makes and every browser decodes.
        h264.sort(key=lambda c: c.parameters.get("profile-level-id") != "42e01f")
        rtx = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == "video/rtx"]
        transceiver.setCodecPreferences(h264 + rtx)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        except (ValueError, OperationError, InvalidAccessError, InvalidStateError) as exc:
            raise BadOffer(_("The offer was refused: %(error)s") % {"error": exc}) from exc
        sender = transceiver.sender
        # A viewer's picture-loss request asks the shared encoder (not the sender's own,
        # which never runs: the sender only packs our packets).
        sender._send_keyframe = output.request_keyframe  # type: ignore[method-assign]  # patched on purpose
        original = sender._handle_rtcp_packet

        async def on_rtcp(packet, _original=original) -> None:
            session.last_rtcp = time.monotonic()
            await _original(packet)

        sender._handle_rtcp_packet = on_rtcp  # type: ignore[method-assign]  # patched on purpose (above)
        output.subscribers.add(track)
        self._name_viewers(output)
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, OperationError, InvalidAccessError, InvalidStateError) as exc:
            raise BadOffer(_("No answer to this offer: %(error)s") % {"error": exc}) from exc
        return pc.localDescription.sdp

    def _name_viewers(self, output: Output) -> None:
        with self._lock:
            names = {s.viewer.username for s in self._sessions.values() if s.output is output and not s.ended}
        output.viewer_names = tuple(sorted(names))

    async def _end(self, session: ViewerSession, reason: str) -> None:
        with session.lock:
            if session.ended:
                return
            session.ended, session.end_reason = True, reason
            journalled = session.journalled
        with self._lock:
            self._sessions.pop(session.id, None)
            self._ended[session.id] = session.viewer.user_id
            while len(self._ended) > ENDED_REMEMBERED:
                self._ended.popitem(last=False)
            if session.counted:
                self._viewers -= 1
                session.counted = False
        track, output, pipeline = session.track, session.output, session.pipeline
        if track is not None:
            track.stop()
        if output is not None and pipeline is not None:
            output.subscribers.discard(track)
            self._name_viewers(output)
            pipeline.drop_output(output)
        if pipeline is not None:
            await self._release(pipeline)
        log.info("video session %s (%s, camera %s) ended: %s", session.id, session.viewer.username,
                 session.feed.code, reason)
        if journalled:
            self.journal_end(session)
        if session.pc is not None:
            try:
                await asyncio.wait_for(session.pc.close(), 5)
            except Exception:  # noqa: BLE001 - closing a broken connection must not raise
                pass
        session.closed.set()

    # --- The database thread.

    def _db_job(self, fn: Callable, *args, **kwargs):
        from django.db import connection

        try:
            return fn(*args, **kwargs)
        except Exception:
            log.exception("video: database job %s failed", getattr(fn, "__name__", fn))
            raise
        finally:
            connection.close()  # back to the pool: this thread may idle for hours

    def journal_end(self, session: ViewerSession) -> concurrent.futures.Future | None:
        if not self.journal:
            return None
        from streaming.services import viewing_end

        return self._db.submit(self._db_job, viewing_end, viewer_id=session.viewer.user_id,
                               camera_id=session.feed.camera_id, grant_id=session.viewer.grant_id,
                               session=session.id, reason=session.end_reason,
                               seconds=time.time() - session.started_wall, address=session.viewer.address)

    def _report_status(self, camera_id: int, online: bool, detail: str) -> None:
        if not self.journal:
            return
        from streaming.services import camera_status_set

        try:
            self._db.submit(self._db_job, camera_status_set, camera_id=camera_id, online=online,
                            detail=detail)
        except RuntimeError:  # the executor is shut down: the process is stopping
            pass

    # --- The watchdog thread.

    def _watch(self) -> None:
        from django.db import connection

        last_masks = 0.0
        try:
            while not self._stopping.wait(settings.HUB_VIDEO_WATCHDOG_SECONDS):
                try:
                    self._check_viewers()
                    if time.monotonic() - last_masks >= 1.0:
                        last_masks = time.monotonic()
                        self._refresh_masks()
                except Exception:  # noqa: BLE001 - a failed round is retried at the next
                    log.exception("video watchdog round failed")
                    connection.close()
        finally:
            connection.close()

    def _check_viewers(self) -> None:
        from streaming.watchdog import credential_valid, viewing_denial

        sessions = self.sessions()
        if not sessions:
            return
        now = time.monotonic()
        verdicts: dict[tuple[int, int], str | None] = {}
        credentials: dict[tuple[str, str, int], bool] = {}
        for session in sessions:
            viewer = session.viewer
            key = (viewer.user_id, session.feed.camera_id)
            if key not in verdicts:
                verdicts[key] = viewing_denial(viewer.user_id, session.feed.camera_id)
            reason = verdicts[key]
            if reason is None:
                ckey = (*viewer.credential, viewer.user_id)
                if ckey not in credentials:
                    credentials[ckey] = credential_valid(viewer.credential, viewer.user_id)
                if not credentials[ckey]:
                    reason = "credential_ended"
            timeout = settings.HUB_VIDEO_PEER_TIMEOUT_SECONDS
            if reason is None and session.connected_at is None and now - session.created > timeout:
                reason = "never_connected"
            if reason is None and session.last_rtcp is not None and now - session.last_rtcp > timeout:
                reason = "peer_timeout"
            if reason is not None and not session.ended:
                asyncio.run_coroutine_threadsafe(self._end(session, reason if reason in {
                    "credential_ended", "never_connected", "peer_timeout"} else f"denied:{reason}"),
                    self.loop)

    def _refresh_masks(self) -> None:
        from streaming.selectors import masks_now

        for pipeline in self.pipelines():
            pipeline.set_masks(masks_now(pipeline.feed.camera_id))

    def refresh_masks(self, camera_id: int) -> None:
        """Read a camera's masks now (a PTZ camera reached a preset or started to move): the next
        frame that leaves its pipeline in this process is painted with them."""
        from streaming.selectors import masks_now

        for pipeline in self.pipelines():
            if pipeline.feed.camera_id == camera_id:
                pipeline.set_masks(masks_now(camera_id))

    # --- Stopping.

    async def _stop_all(self, reason: str) -> None:
        for session in self.sessions():
            await self._end(session, reason)
        for pipeline in list(self._pipelines.values()):
            if pipeline.linger is not None:
                pipeline.linger.cancel()
            pipeline.holds = 0
            await self._close_pipeline(pipeline)

    def shutdown(self, reason: str = "server_stopped", timeout: float = 10) -> None:
        """End every viewing (journalled), close every pipeline, stop the threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        try:
            self.call(self._stop_all(reason), timeout)
        except Exception:  # noqa: BLE001 - stop what can be stopped
            log.exception("video runtime: stopping the viewings failed")
        if self._watchdog is not None:
            self._watchdog.join(2)
        self._db.shutdown(wait=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._loop_thread.join(2)


_runtime: VideoRuntime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> VideoRuntime:
    """This process's video runtime, started on first use."""
    global _runtime
    with _runtime_lock:
        if _runtime is None or _runtime._stopping.is_set():
            _runtime = VideoRuntime()
        return _runtime


def current_runtime() -> VideoRuntime | None:
    return _runtime


def reset_runtime() -> None:
    """Stop this process's runtime (tests; process exit)."""
    global _runtime
    with _runtime_lock:
        runtime, _runtime = _runtime, None
    if runtime is not None:
        runtime.shutdown()


atexit.register(reset_runtime)
