"""The ONVIF PTZ driver: one camera's PTZ service (Profile S), over onvif-zeep-async.

Why onvif-zeep-async: it is the ONVIF client Home Assistant ships to drive thousands of
camera models, kept up to date, asynchronous (aiohttp: one event loop drives every camera
without a thread each), with the ONVIF WSDLs bundled (no download at run time) and
WS-Security UsernameToken digests. python-onvif-zeep (sync, unmaintained) and aonvif (a
release candidate) were the alternatives.

What the driver adds around it:

- **Capabilities read once and cached**: device services, the first media profile that has a
  PTZ configuration, the PTZ node (which move spaces it supports, home, preset count), the
  stream URI. A camera without absolute positioning is driven by its presets.
- **Timeouts and retries**: every request has a deadline (``timeout``, 2 s by default); a
  request that could not connect is tried again once (``retries``); a camera that does not
  answer raises :class:`CameraUnreachable`, wrong credentials :class:`CameraAuthFailed`.
- **A tolerant reply parser**: real cameras (and ipycam) answer with namespace prefixes they
  never declare and with unfilled template placeholders. :func:`repair_reply` declares the
  known ONVIF prefixes that a reply uses without declaring, and drops elements whose whole
  text is a ``{{placeholder}}``, before zeep parses the reply. zeep's plugins see a reply only
  once it is parsed, which is too late: the repair sits in the transport.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# The ONVIF prefixes cameras use without declaring them, and what they stand for.
KNOWN_NAMESPACES = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "SOAP-ENV": "http://www.w3.org/2003/05/soap-envelope",
    "env": "http://www.w3.org/2003/05/soap-envelope",
    "tt": "http://www.onvif.org/ver10/schema",
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "ptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "timg": "http://www.onvif.org/ver20/imaging/wsdl",
    "ter": "http://www.onvif.org/ver10/error",
    "xs": "http://www.w3.org/2001/XMLSchema",
    "xsd": "http://www.w3.org/2001/XMLSchema",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}

_PREFIX_USE = re.compile(rb"<\/?([A-Za-z_][\w.-]*):[A-Za-z_]|\s([A-Za-z_][\w.-]*):[A-Za-z_][\w.-]*=")
_PREFIX_DECL = re.compile(rb"xmlns:([A-Za-z_][\w.-]*)\s*=")
_PLACEHOLDER_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]*)(\s[^>]*)?>\s*\{\{\s*\w+\s*\}\}\s*</\1\s*>")
_ROOT = re.compile(rb"<(?!\?|!)([A-Za-z_][\w.:-]*)")


def repair_reply(content: bytes) -> bytes:
    """A SOAP reply that a strict XML parser accepts, from one a camera sent.

    Declares, on the root element, every known ONVIF prefix the reply uses and does not
    declare; removes every element whose text is an unfilled ``{{placeholder}}`` (the value is
    unknown: an absent optional element says so, a made-up value would lie). A reply that
    needs nothing is returned as it is.
    """
    repaired = _PLACEHOLDER_ELEMENT.sub(b"", content)
    used = {m.group(1) or m.group(2) for m in _PREFIX_USE.finditer(repaired)}
    used.discard(b"xmlns")
    used.discard(b"xml")
    declared = set(_PREFIX_DECL.findall(repaired))
    missing = sorted(p for p in used - declared if p.decode() in KNOWN_NAMESPACES)
    if missing:
        root = _ROOT.search(repaired)
        if root is not None:
            declarations = b"".join(b' xmlns:%s="%s"' % (p, KNOWN_NAMESPACES[p.decode()].encode())
                                    for p in missing)
            repaired = repaired[:root.end()] + declarations + repaired[root.end():]
    return repaired


class PtzDriverError(Exception):
    """The camera could not do what was asked."""

    code = "ptz_error"


class CameraUnreachable(PtzDriverError):
    """No answer in time (or no connection)."""

    code = "camera_unreachable"


class CameraAuthFailed(PtzDriverError):
    """The camera refused the credentials."""

    code = "camera_auth_failed"


class OperationUnsupported(PtzDriverError):
    """The camera's PTZ node does not offer this operation."""

    code = "ptz_unsupported"


class CameraFault(PtzDriverError):
    """The camera answered with a SOAP fault (an unknown preset, a value out of range...)."""

    code = "camera_fault"


@dataclass(frozen=True)
class Capabilities:
    """What a camera's PTZ node can do, read once."""

    profile_token: str
    node_token: str
    absolute: bool
    relative: bool
    continuous: bool
    home: bool
    max_presets: int
    stream_uri: str


@dataclass(frozen=True)
class Position:
    pan: float | None
    tilt: float | None
    zoom: float | None


@dataclass(frozen=True)
class Status:
    """Where the camera is; ``moving`` is None when the camera does not say."""

    position: Position
    moving: bool | None


@dataclass(frozen=True)
class Preset:
    token: str
    name: str
    position: Position | None


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, float(value)))


def _position_of(ptz_vector: Any) -> Position:
    pan_tilt = getattr(ptz_vector, "PanTilt", None) if ptz_vector is not None else None
    zoom = getattr(ptz_vector, "Zoom", None) if ptz_vector is not None else None

    def num(obj: Any, attr: str) -> float | None:
        value = getattr(obj, attr, None) if obj is not None else None
        try:
            return float(value) if value is not None else None
        except (TypeError, ValueError):
            return None

    return Position(pan=num(pan_tilt, "x"), tilt=num(pan_tilt, "y"), zoom=num(zoom, "x"))


def _tolerant_transport(transport: Any) -> None:
    """Make an onvif-zeep-async service transport repair every reply before zeep parses it."""
    original = transport.post_xml

    async def post_xml(address: str, envelope: Any, headers: dict[str, str]) -> Any:
        response = await original(address, envelope, headers)
        content = getattr(response, "_content", None)
        if isinstance(content, bytes):
            response._content = repair_reply(content)
        return response

    transport.post_xml = post_xml


class OnvifPtzDriver:
    """The PTZ service of one ONVIF camera. Async: call it from one event loop
    (:mod:`ptz.runtime` runs one for the process)."""

    def __init__(self, *, host: str, port: int, user: str = "", password: str = "",
                 timeout: float = 2.0, retries: int = 1) -> None:
        self.host, self.port = host, int(port)
        self.user, self.password = user, password
        self.timeout, self.retries = timeout, retries
        self._camera: Any = None
        self._ptz: Any = None
        self._capabilities: Capabilities | None = None
        self._setup_lock = asyncio.Lock()

    async def _call(self, coro_factory, *, what: str) -> Any:
        """Run one ONVIF request with a deadline; retry once a request that could not connect."""
        import aiohttp
        from onvif.exceptions import ONVIFError
        from zeep.exceptions import Fault, TransportError

        attempt = 0
        while True:
            try:
                return await asyncio.wait_for(coro_factory(), self.timeout)
            except TimeoutError as exc:
                raise CameraUnreachable(f"{what}: no answer within {self.timeout:g} s") from exc
            except Fault as exc:
                text = f"{exc.message or ''} {exc.code or ''}"
                if "authoriz" in text.lower() or "NotAuthorized" in text:
                    raise CameraAuthFailed(f"{what}: credentials refused") from exc
                raise CameraFault(f"{what}: {exc.message}") from exc
            except TransportError as exc:
                if exc.status_code in (401, 403):
                    raise CameraAuthFailed(f"{what}: credentials refused") from exc
                raise CameraFault(f"{what}: HTTP {exc.status_code}") from exc
            except (aiohttp.ClientConnectionError, OSError) as exc:
                if attempt < self.retries:
                    attempt += 1
                    await asyncio.sleep(0.05)
                    continue
                raise CameraUnreachable(f"{what}: {exc.__class__.__name__}") from exc
            except ONVIFError as exc:
                reason = str(exc)
                if "401" in reason or "authoriz" in reason.lower():
                    raise CameraAuthFailed(f"{what}: credentials refused") from exc
                if any(w in reason for w in ("Cannot connect", "Connection refused", "Timeout", "timed out")):
                    raise CameraUnreachable(f"{what}: {reason[:200]}") from exc
                raise CameraFault(f"{what}: {reason[:200]}") from exc

    async def _setup(self) -> None:
        if self._ptz is not None:
            return
        async with self._setup_lock:
            if self._ptz is not None:
                return
            from onvif import ONVIFCamera

            camera = ONVIFCamera(self.host, self.port, self.user, self.password,
                                 no_cache=True)
            try:
                await self._call(camera.update_xaddrs, what="GetCapabilities")
                media = await camera.create_media_service()
                ptz = await camera.create_ptz_service()
                for service in (media, ptz, camera.services.get(("devicemgmt", None))):
                    if service is not None:
                        _tolerant_transport(service.transport)
                profiles = await self._call(media.GetProfiles, what="GetProfiles")
                profile = next((p for p in profiles if getattr(p, "PTZConfiguration", None) is not None),
                               profiles[0] if profiles else None)
                if profile is None:
                    raise OperationUnsupported("the camera has no media profile")
                nodes = await self._call(ptz.GetNodes, what="GetNodes")
                node_token = getattr(profile.PTZConfiguration, "NodeToken", None) \
                    if getattr(profile, "PTZConfiguration", None) is not None else None
                node = next((n for n in nodes or [] if n.token == node_token), (nodes or [None])[0])
                if node is None:
                    raise OperationUnsupported("the camera has no PTZ node")
                spaces = node.SupportedPTZSpaces
                stream = await self._call(lambda: media.GetStreamUri({
                    "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
                    "ProfileToken": profile.token}), what="GetStreamUri")
            except BaseException:
                await camera.close()
                raise
            self._capabilities = Capabilities(
                profile_token=profile.token, node_token=node.token,
                absolute=bool(getattr(spaces, "AbsolutePanTiltPositionSpace", None)),
                relative=bool(getattr(spaces, "RelativePanTiltTranslationSpace", None)),
                continuous=bool(getattr(spaces, "ContinuousPanTiltVelocitySpace", None)),
                home=bool(getattr(node, "HomeSupported", False)),
                max_presets=int(getattr(node, "MaximumNumberOfPresets", 0) or 0),
                stream_uri=str(getattr(stream, "Uri", "") or ""))
            self._camera, self._ptz = camera, ptz

    async def capabilities(self) -> Capabilities:
        await self._setup()
        assert self._capabilities is not None
        return self._capabilities

    async def _profile(self) -> str:
        return (await self.capabilities()).profile_token

    async def continuous_move(self, *, pan: float, tilt: float, zoom: float) -> None:
        """Move at a velocity (-1..1 each) until :meth:`stop`."""
        caps = await self.capabilities()
        if not caps.continuous:
            raise OperationUnsupported("ContinuousMove")
        velocity = {"PanTilt": {"x": _clamp(pan, -1, 1), "y": _clamp(tilt, -1, 1)},
                    "Zoom": {"x": _clamp(zoom, -1, 1)}}
        await self._call(lambda: self._ptz.ContinuousMove({"ProfileToken": caps.profile_token,
                                                            "Velocity": velocity}),
                         what="ContinuousMove")

    async def relative_move(self, *, pan: float, tilt: float, zoom: float) -> None:
        caps = await self.capabilities()
        if not caps.relative:
            raise OperationUnsupported("RelativeMove")
        translation = {"PanTilt": {"x": _clamp(pan, -1, 1), "y": _clamp(tilt, -1, 1)},
                       "Zoom": {"x": _clamp(zoom, -1, 1)}}
        await self._call(lambda: self._ptz.RelativeMove({"ProfileToken": caps.profile_token,
                                                          "Translation": translation}),
                         what="RelativeMove")

    async def absolute_move(self, *, pan: float, tilt: float, zoom: float | None = None) -> None:
        """Go to a position in the generic spaces: pan and tilt -1..1, zoom 0..1."""
        caps = await self.capabilities()
        if not caps.absolute:
            raise OperationUnsupported("AbsoluteMove")
        position: dict[str, Any] = {"PanTilt": {"x": _clamp(pan, -1, 1), "y": _clamp(tilt, -1, 1)}}
        if zoom is not None:
            position["Zoom"] = {"x": _clamp(zoom, 0, 1)}
        await self._call(lambda: self._ptz.AbsoluteMove({"ProfileToken": caps.profile_token,
                                                          "Position": position}),
                         what="AbsoluteMove")

    async def stop(self) -> None:
        profile = await self._profile()
        await self._call(lambda: self._ptz.Stop({"ProfileToken": profile, "PanTilt": True, "Zoom": True}),
                         what="Stop")

    async def status(self) -> Status:
        profile = await self._profile()
        reply = await self._call(lambda: self._ptz.GetStatus({"ProfileToken": profile}), what="GetStatus")
        move = getattr(reply, "MoveStatus", None)
        states = [str(getattr(move, attr, "") or "").upper() for attr in ("PanTilt", "Zoom")] if move else []
        known = [s for s in states if s in ("IDLE", "MOVING")]
        moving = ("MOVING" in known) if known else None
        return Status(position=_position_of(getattr(reply, "Position", None)), moving=moving)

    async def presets(self) -> list[Preset]:
        profile = await self._profile()
        reply = await self._call(lambda: self._ptz.GetPresets({"ProfileToken": profile}), what="GetPresets")
        return [Preset(token=str(p.token), name=str(getattr(p, "Name", "") or ""),
                       position=_position_of(getattr(p, "PTZPosition", None)))
                for p in reply or []]

    async def goto_preset(self, token: str) -> None:
        profile = await self._profile()
        await self._call(lambda: self._ptz.GotoPreset({"ProfileToken": profile, "PresetToken": token}),
                         what="GotoPreset")

    async def set_preset(self, *, name: str, token: str | None = None) -> str:
        profile = await self._profile()
        request: dict[str, Any] = {"ProfileToken": profile, "PresetName": name}
        if token:
            request["PresetToken"] = token
        reply = await self._call(lambda: self._ptz.SetPreset(request), what="SetPreset")
        return str(reply)

    async def goto_home(self) -> None:
        caps = await self.capabilities()
        if not caps.home:
            raise OperationUnsupported("GotoHomePosition")
        await self._call(lambda: self._ptz.GotoHomePosition({"ProfileToken": caps.profile_token}),
                         what="GotoHomePosition")

    async def close(self) -> None:
        camera, self._camera, self._ptz = self._camera, None, None
        if camera is not None:
            await camera.close()
