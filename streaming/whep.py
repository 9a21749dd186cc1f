"""WHEP (draft-ietf-wish-whep): what an offer must be, and the errors of the video endpoint.

A viewer POSTs an SDP offer (``application/sdp``) to ``/api/streaming/cameras/<id>/whep``
and gets the answer (201) with every ICE candidate in it (no trickle: the hub's
candidates are its host addresses, plus TURN/STUN when configured), and a
``Location`` to DELETE to hang up. Only what makes sense for a viewer is accepted:
an offer (``a=setup:actpass``), with a video m-line the hub may send on
(``recvonly`` or ``sendrecv``) offering H.264 in packetization mode 1, at most
64 KiB.
"""

from __future__ import annotations

from aiortc.sdp import SessionDescription
from django.utils.translation import gettext as _

from config.errors import DomainError

MAX_OFFER_BYTES = 64 * 1024
SDP_CONTENT_TYPE = "application/sdp"


class BadOffer(DomainError):
    """The body is not an SDP offer the hub can answer."""

    code = "bad_offer"
    status_code = 400


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status_code = 415


class VideoNotPermitted(DomainError):
    """``camera_view_denial`` refused: ``detail`` says why, in a sentence for the viewer."""

    code = "video_not_allowed"
    status_code = 403


class VideoUnavailable(DomainError):
    """The camera's source does not answer (the camera is marked offline), or the viewer
    could not be connected in time."""

    code = "video_unavailable"
    status_code = 503


class TooManyViewers(DomainError):
    code = "too_many_viewers"
    status_code = 503


def validate_offer(body: bytes) -> str:
    """The offer as text, or BadOffer saying what is wrong with it."""
    if len(body) > MAX_OFFER_BYTES:
        raise BadOffer(_("An SDP offer is at most %(bytes)d bytes.") % {"bytes": MAX_OFFER_BYTES})
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadOffer(_("The offer is not UTF-8 text.")) from exc
    text = text.replace("\r\n", "\n").replace("\n", "\r\n")
    if not text.lstrip().startswith("v=0"):
        raise BadOffer(_("Not an SDP document (it must start with v=0)."))
    try:
        parsed = SessionDescription.parse(text)
    except Exception as exc:  # noqa: BLE001 - aiortc's parser raises anything on garbage
        raise BadOffer(_("Unreadable SDP: %(error)s") % {"error": exc}) from exc
    videos = [m for m in parsed.media if m.kind == "video"]
    if not videos:
        raise BadOffer(_("The offer has no video m-line."))
    for media in parsed.media:
        if media.dtls is None or media.dtls.role != "auto":
            raise BadOffer(_("Not an offer: an offer's a=setup is actpass (this looks like an answer)."))
        if media.ice is None or not media.ice.usernameFragment or not media.ice.password:
            raise BadOffer(_("The offer has no ICE credentials (a=ice-ufrag, a=ice-pwd)."))
        if not media.dtls.fingerprints:
            raise BadOffer(_("The offer has no DTLS fingerprint."))
    video = videos[0]
    if video.direction not in (None, "recvonly", "sendrecv"):
        raise BadOffer(_("The video m-line must be recvonly (or sendrecv): the hub sends, it does not "
                         "receive."))
    if not any(codec.mimeType.lower() == "video/h264"
               and str(codec.parameters.get("packetization-mode", "0")) == "1"
               for codec in video.rtp.codecs):
        raise BadOffer(_("The offer does not accept H.264 (packetization-mode=1), the hub's video codec."))
    return text
