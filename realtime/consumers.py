"""``/ws/events/``: the live event stream (protocol in docs/realtime.md).

The consumer authenticates, joins the groups the member's rights give, replays
what the client missed and forwards live events, in id order and once. Rights
are decided by the publishers and by :func:`realtime.audiences.groups_of`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext
from prometheus_client import Counter

from config.errors import POOL_EXHAUSTED_DETAIL, pool_exhausted, pool_exhausted_note
from partners.selectors import member_of, session_expiry, token_expiry
from realtime import selectors
from realtime.audiences import groups_of
from realtime.inbound import inbound_handler, inbound_types, reply_id
from realtime.metrics import FRAMES_CONTROL, FRAMES_LIVE, FRAMES_REFILL, FRAMES_REPLAY, WS_CLIENTS, WS_GAPS

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's own; docs/realtime.md).
CLOSE_BAD_REQUEST = 4400
# The credential the socket was opened with no longer stands: the session ended or passed its
# lifetime, the token was revoked or expired, the account was deactivated or deleted.
CLOSE_UNAUTHORISED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408
# No database connection came free within the pool's wait (RFC 6455's registry: "Try Again
# Later"): the client reconnects after its backoff and resumes from its last event, losing nothing.
CLOSE_TRY_AGAIN_LATER = 1013
# Client messages handled at once per socket (a position being written, say); past it, refused.
MAX_INBOUND_IN_FLIGHT = 16


@dataclass(frozen=True)
class Standing:
    """What a socket's credential gives now: the groups to listen on, and when the credential
    ends by itself (a token's expiry, a session's lifetime), to check again right then."""

    groups: list[str]
    ends_at: dt.datetime | None
    # The member's agency code, for /metrics (hub_ws_clients); "none" for an account without one.
    agency: str = "none"


def _standing(user, *, token_id: int | None, session_key: str | None) -> Standing | None:
    """The rights of a socket now, read fresh (two queries, three for a field unit), or None
    when its credential no longer stands."""
    fresh = (get_user_model().objects.select_related("member__agency")
             .filter(pk=user.pk, is_active=True).first())
    if fresh is None:  # deactivated, or deleted
        return None
    if token_id is not None:
        ends_at = token_expiry(token_id)
    elif session_key is not None:
        ends_at = session_expiry(session_key)
    else:
        ends_at = None
    if ends_at is None and (token_id is not None or session_key is not None):
        return None
    try:
        member = fresh.member
    except ObjectDoesNotExist:
        member = None
    return Standing(groups=groups_of(fresh, member), ends_at=ends_at,
                    agency=member.agency.code if member is not None else "none")


class EventConsumer(AsyncWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self) -> None:
        self.accepted = False
        self.saturated = False
        self.groups_joined = []
        self.heartbeat_task: asyncio.Task | None = None
        self.inbound_tasks: set[asyncio.Task] = set()
        self.counted_as: str | None = None  # the agency label this socket is counted under
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close()  # before accept: the handshake is refused (HTTP 403)
            return
        self.user = user
        self.token_id = self.scope.get("token_id") if self.scope.get("auth_method") == "token" else None
        standing = await self.standing()
        if standing is None:
            await self.close()
            return
        self.ends_at = standing.ends_at
        await self.join(standing.groups)
        await self.accept()
        self.accepted = True
        self.counted_as = standing.agency
        WS_CLIENTS.labels(standing.agency).inc()
        self.unacked = 0
        raw = parse_qs(self.scope.get("query_string", b"").decode("latin-1")).get("last_event_id")
        await self.start_stream(raw[-1] if raw else None)
        # Only once the replay is sent: a heartbeat reports the last id the client has.
        self.heartbeat_task = asyncio.create_task(self.heartbeat())

    async def join(self, groups: list[str]) -> None:
        for group in set(self.groups_joined) - set(groups):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in set(groups) - set(self.groups_joined):
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups

    async def start_stream(self, raw_last_id: str | None) -> None:
        """Replay from ``raw_last_id`` (when given), then go live with no gap and no duplicate.

        The groups are joined before the outbox is read: a live message that
        arrives meanwhile waits in the channel and is dropped if the replay
        already sent it.
        """
        # Group positions first: a relay that commits between the two reads then shows
        # as a gap (refilled from the outbox) rather than as events already known.
        self.group_last = await database_sync_to_async(selectors.group_positions)(self.groups_joined)
        published, purged = await database_sync_to_async(selectors.relay_position)()
        self.last_sent = published
        if raw_last_id is None:
            return
        try:
            last_id = int(raw_last_id)
            if last_id < 0:
                raise ValueError
        except ValueError:
            await self.send_error("bad_last_event_id", gettext("last_event_id must be a whole number ≥ 0."))
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        if last_id > published:
            await self.send_error("last_event_id_in_future",
                                  gettext("last_event_id %(asked)d is ahead of the server (%(published)d).")
                                  % {"asked": last_id, "published": published})
            await self.send_json({"type": "resync", "last_event_id": published})
            return
        if last_id < purged:
            await self.send_json({"type": "resync", "last_event_id": published})
            return
        await self.replay(last_id, upto=published)

    async def replay(self, after: int, *, upto: int) -> None:
        """Every event after ``after`` (up to ``upto``) that the socket's groups received and
        that the member may still see now (an incident unshared since is not replayed)."""
        member = await database_sync_to_async(member_of)(self.user)
        while True:
            frames, after, more = await database_sync_to_async(selectors.replay_page)(
                after, self.groups_joined, member, through=upto or None)
            for frame in frames:
                await self.send_json(frame, counter=FRAMES_REPLAY)
            if not more:
                break
        self.last_sent = max(self.last_sent, upto)

    async def disconnect(self, code: int) -> None:
        if self.heartbeat_task:
            self.heartbeat_task.cancel()
        for task in list(getattr(self, "inbound_tasks", ())):
            task.cancel()  # a write already under way in the database thread still commits
        if getattr(self, "counted_as", None) is not None:
            WS_CLIENTS.labels(self.counted_as).dec()
            self.counted_as = None
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def dispatch(self, message: dict) -> None:
        if getattr(self, "saturated", False) and message.get("type") != "websocket.disconnect":
            return  # closing for want of a database connection: nothing more to do but clean up
        try:
            await self.dispatch_one(message)
        except Exception as exc:
            if not pool_exhausted(exc):
                raise
            await self.close_saturated(message.get("type", ""))

    async def close_saturated(self, during: str) -> None:
        """The database pool had no connection to give in time: tell the client and close with
        1013, to be reconnected after the client's backoff (resuming from its last event id).
        Before the handshake is accepted, it is accepted first, so that the client gets the
        code rather than a refused handshake. ``disconnect`` then cleans up as for any close."""
        if getattr(self, "saturated", False):
            return  # the heartbeat and a handler met it together: closed once
        self.saturated = True
        pool_exhausted_note("websocket", f"socket {self.scope.get('path', '')} ({during})")
        if not getattr(self, "accepted", False):
            await self.accept()
            self.accepted = True
        await self.send_error("saturated", str(POOL_EXHAUSTED_DETAIL))
        await self.close(code=CLOSE_TRY_AGAIN_LATER)

    async def dispatch_one(self, message: dict) -> None:
        # Channels closes stale database connections before every handler, a thread hop
        # per recipient per event (half of Daphne's CPU per frame in benchmarks/fanout.py).
        # hub_event and receive touch the database only through database_sync_to_async,
        # which does that itself.
        if message.get("type") == "hub.event":
            await self.hub_event(message)
            return
        if message.get("type") == "websocket.receive":
            # The same for the client's frames (a tablet's position, a ping): a burst of
            # positions must reach the coalescer without queueing behind the write under way.
            await self.websocket_receive(message)
            return
        await super().dispatch(message)

    # --- From the channel layer.

    async def hub_event(self, message: dict) -> None:
        frame, group, prev = message["event"], message["group"], message["prev"]
        known = self.group_last.get(group, 0)
        self.group_last[group] = max(known, frame["id"])
        if frame["id"] <= self.last_sent:
            return  # sent already: by the replay, or through another of the user's groups
        if prev > known:
            # A message of this group never reached us (the channel was full, or
            # Redis restarted): fill the gap from the outbox, which holds them all.
            WS_GAPS.inc()
            await self.catch_up(upto=frame["id"])
            return
        # The relay serialised the frame once for every recipient.
        await self.send(text_data=message.get("text") or json.dumps(frame, separators=(",", ":")))
        FRAMES_LIVE.inc()
        self.last_sent = frame["id"]
        await self.count_unacked(1)

    async def catch_up(self, *, upto: int) -> None:
        after = self.last_sent
        while after < upto:
            # Bounded by the event in hand, not by published_through: a relay in another
            # process may not have committed that yet, and its events would be skipped.
            frames = await database_sync_to_async(selectors.events_after)(
                after, self.groups_joined, through=upto)
            if not frames:
                break
            for frame in frames:
                await self.send_json(frame, counter=FRAMES_REFILL)
            after = frames[-1]["id"]
            await self.count_unacked(len(frames))
        self.last_sent = max(self.last_sent, upto)

    async def hub_resync(self, message: dict) -> None:
        """The channel layer may have lost messages for this socket (its Redis connection came
        back after a restart, or the socket's queue was full, realtime.layers): send from the
        outbox every event after the last one sent, up to the newest committed. Live messages
        of those events, if they still come, are dropped as sent already."""
        if not hasattr(self, "group_last"):
            return  # not streaming yet (or refused): the stream's start reads the outbox itself
        positions, newest = await database_sync_to_async(selectors.resync_point)(self.groups_joined)
        self.group_last = {g: max(self.group_last.get(g, 0), p) for g, p in positions.items()}
        await self.catch_up(upto=newest)

    async def hub_control(self, message: dict) -> None:
        """Rights changed, or a credential ended (account, session, token): re-scope or close
        at once."""
        action = message.get("action")
        if action == "close":
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        if action == "close_session":
            if message.get("session_key") == self.session_key():
                await self.close(code=CLOSE_UNAUTHORISED)
            return
        if action == "close_token":
            if self.token_id is not None and message.get("token_id") == self.token_id:
                await self.close(code=CLOSE_UNAUTHORISED)
            return
        standing = await self.standing()
        if standing is None:
            await self.close(code=CLOSE_UNAUTHORISED)
            return
        await self.rescope(standing.groups)

    async def rescope(self, groups: list[str]) -> None:
        await self.join(groups)
        positions = await database_sync_to_async(selectors.group_positions)(groups)
        self.group_last = {g: max(self.group_last.get(g, 0), p) for g, p in positions.items()}
        await self.send_json({"type": "rescoped"})

    # --- From the client.

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.HUB_WS_MAX_FRAME_BYTES:
            await self.send_error("frame_too_large",
                                  gettext("Frames are limited to %(bytes)d bytes.")
                                  % {"bytes": settings.HUB_WS_MAX_FRAME_BYTES})
            return
        if text_data is None:
            await self.send_error("binary_not_supported", gettext("Send JSON text frames."))
            return
        try:
            message = json.loads(text_data)
        except (ValueError, RecursionError):  # a frame of 1,000 nested "[" is within the size limit
            await self.send_error("malformed", gettext("Not JSON."))
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong", "at": timezone.now().isoformat()})
        elif kind == "ack":
            last = message.get("last_event_id")
            if isinstance(last, int) and not isinstance(last, bool):
                self.unacked = 0
            else:
                await self.send_error("malformed", gettext("ack needs an integer last_event_id."))
        elif (handler := inbound_handler(kind)) is not None:
            if len(self.inbound_tasks) >= MAX_INBOUND_IN_FLIGHT:
                await self.send_json({"type": "error", "error": "too_many", "id": reply_id(message),
                                      "detail": gettext("Too many messages at once; send it again shortly.")})
                return
            # Beside the stream: events keep flowing, and the client's next messages are read
            # (a burst of positions from one tablet is coalesced by the handler).
            task = asyncio.create_task(self.inbound(handler, message))
            self.inbound_tasks.add(task)
            task.add_done_callback(self.inbound_tasks.discard)
        else:
            said = gettext("Unknown message type %(type)r; clients send %(types)s.")
            await self.send_error("unknown_type", said % {
                "type": kind, "types": ", ".join(["ping", "ack", *inbound_types()])})

    async def inbound(self, handler, message: dict) -> None:
        try:
            reply = await handler(self.user, message)
        except Exception as exc:
            if pool_exhausted(exc):
                # Nothing was written: the client sends it again, the socket stays.
                pool_exhausted_note("websocket", f"message {message.get('type')}")
                await self.send_json({"type": "error", "error": "saturated", "id": reply_id(message),
                                      "detail": str(POOL_EXHAUSTED_DETAIL)})
                return
            log.exception("inbound %s failed", message.get("type"))
            reply = {"type": "error", "error": "server_error", "id": reply_id(message),
                     "detail": gettext("The hub could not handle this message; send it again.")}
        await self.send_json(reply)

    # --- Helpers.

    async def count_unacked(self, count: int) -> None:
        """A client that stops reading must not grow the server's memory: past a bound
        of unacknowledged events, it is disconnected and resumes from the outbox."""
        self.unacked += count
        if self.unacked > settings.HUB_WS_MAX_UNACKED:
            await self.close(code=CLOSE_TOO_SLOW)

    def session_key(self) -> str | None:
        """The key of the browser session this socket was opened with (None for a token)."""
        if self.scope.get("auth_method") == "token":
            return None
        session = self.scope.get("session")
        return getattr(session, "session_key", None)

    async def standing(self) -> Standing | None:
        return await database_sync_to_async(_standing)(self.user, token_id=self.token_id,
                                                       session_key=self.session_key())

    def next_check_in(self) -> float:
        """Seconds to the next check: the heartbeat's period, or sooner when the credential
        ends by itself before it (the socket closes right at the token's expiry)."""
        delay = settings.HUB_WS_HEARTBEAT_SECONDS
        if self.ends_at is not None:
            delay = min(delay, (self.ends_at - timezone.now()).total_seconds() + 0.05)
        return max(delay, 0.05)

    async def heartbeat(self) -> None:
        """Every heartbeat re-reads the socket's rights, fresh: a credential that ended without
        a message reaching us (a lost message, a token that expired, an account changed by
        SQL) closes the socket; rights that changed re-scope it. A check the database pool
        cannot serve closes it too (1013), rather than leave it open unchecked."""
        while True:
            await asyncio.sleep(self.next_check_in())
            try:
                if not await self.beat():
                    return
            except Exception as exc:
                if not pool_exhausted(exc):
                    raise
                await self.close_saturated("heartbeat")
                return

    async def beat(self) -> bool:
        """One heartbeat; False when the socket was closed."""
        standing = await self.standing()
        if standing is None:
            await self.close(code=CLOSE_UNAUTHORISED)
            return False
        ends_at = standing.ends_at
        self.ends_at = ends_at if ends_at is not None and ends_at > timezone.now() else None
        if sorted(standing.groups) != sorted(self.groups_joined):
            await self.rescope(standing.groups)
        await self.send_json({"type": "heartbeat", "at": timezone.now().isoformat(),
                              "last_event_id": self.last_sent})
        return True

    async def send_json(self, content: dict, *, counter: Counter = FRAMES_CONTROL) -> None:
        await self.send(text_data=json.dumps(content, separators=(",", ":")))
        counter.inc()

    async def send_error(self, code: str, detail: str) -> None:
        await self.send_json({"type": "error", "error": code, "detail": detail})
