"""Video nodes: several ``manage.py video --node NAME`` processes share the cameras' live pipelines,
and every WHEP offer is answered by the node that holds its camera (docs/video.md, §8).

A video node is a Daphne process that is also a node of role ``video`` (``streaming.nodes``): it
holds cameras through the same leases as the recorders, in PostgreSQL, renewed and rebalanced
every ``HUB_NODE_RENEW_SECONDS`` by a thread beside Daphne; a node that dies loses its cameras to
the others within ``HUB_NODE_LEASE_SECONDS``. The cameras shared are those with a live source.

Routing (:func:`whep_route`): a node that gets an offer for a camera another live node holds
answers 307 to the same path with ``?node=HOLDER&hop=N``; HAProxy's video backend sends a
request naming a node to that server (``use-server``), and the browser repeats its POST there
with the same body. So a camera is encoded once across the cluster, whichever node the proxy
chose first. The holder serves the offer and names itself in the session's ``Location``
(``?node=``) so that the ``DELETE`` reaches the process that holds the session.

- No live holder (the camera's node just died, no video node holds it yet, the camera has no
  source): the node that got the offer serves it itself rather than fail.
- An offer naming another node (``?node=B``) that reached this one: the proxy could not send it
  to B (B down for HAProxy, not yet for the leases): served here, not bounced back.
- The holder changed while the offer travelled: it is sent on again, ``HUB_VIDEO_MAX_HOPS``
  times at most, then 503 ``video_route_loop``.

A process that is not a video node (``HUB_VIDEO_NODE`` empty: plain Daphne, the tests' hub,
``HUB_TOPOLOGY=single``) serves every offer itself, as one video process always did.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import urlencode

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from cameras.models import Camera
from config.errors import DomainError
from streaming.models import CameraLease, Node, NodeRole, Viewing
from streaming.nodes import NodeGone, NodeNameTaken, live_nodes, node_join, node_leave, rebalance

log = logging.getLogger(__name__)

# What HAProxy accepts as a server name, which a video node's name is (``use-server NAME``), and
# what goes into a URL's query unescaped (``urlp(node) -m str NAME`` compares the raw text).
NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class VideoRouteLoop(DomainError):
    """The camera's holder kept changing while the offer was sent on from node to node."""

    code = "video_route_loop"
    status_code = 503


def video_cameras() -> QuerySet[Camera]:
    """The cameras the video nodes share: every camera with a live source (a stream address)."""
    return Camera.objects.exclude(stream_uri="")


# The session of the video node this process is now ("" when it is none): it names the process
# on the viewings it serves, so that they are closed when the node is declared lost.
_node_session = ""


def this_node_session() -> str:
    return _node_session


def this_node() -> str:
    """The name of the video node this process is, or ``""`` when it is none."""
    return str(getattr(settings, "HUB_VIDEO_NODE", "") or "")


def camera_holder(camera_id: int, *, now: dt.datetime | None = None) -> str | None:
    """The name of the live video node that holds the camera now (its lease renewed within
    ``HUB_NODE_LEASE_SECONDS``), or None."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(seconds=float(settings.HUB_NODE_LEASE_SECONDS))
    return (CameraLease.objects
            .filter(camera_id=camera_id, role=NodeRole.VIDEO, renewed_at__gte=cutoff,
                    node__in=live_nodes(NodeRole.VIDEO, now))
            .values_list("node__name", flat=True).first())


def hop_count(raw: str) -> int:
    """The ``hop`` of an offer's URL: how many times it was sent on already (0 when absent)."""
    raw = (raw or "").strip()
    if not raw:
        return 0
    if not raw.isdigit() or len(raw) > 3:
        raise DomainError(_("The number of hops is a whole number."), field="hop")
    return int(raw)


def whep_route(camera_id: int, *, asked: str = "", hop: int = 0,
               now: dt.datetime | None = None) -> str | None:
    """Where an offer for ``camera_id`` is answered: None here, else the name of the node to send
    it on to. ``asked``: the node the URL names (``?node=``), ``hop``: how many times it was sent
    on. Raises :class:`VideoRouteLoop` when it was sent on ``HUB_VIDEO_MAX_HOPS`` times already."""
    here = this_node()
    if not here:
        return None
    if asked and asked != here:
        log.warning("video offer for camera %s asked for node %s, reached %s: served here", camera_id,
                    asked, here)
        return None
    holder = camera_holder(camera_id, now=now)
    if holder is None or holder == here:
        return None
    if hop >= int(settings.HUB_VIDEO_MAX_HOPS):
        raise VideoRouteLoop(_(
            "The video of this camera could not be reached: the server that holds it changed while "
            "the request was sent to it (%(hops)d times). Try again in a few seconds.") % {"hops": hop})
    return holder


def with_node(path: str, node: str, *, hop: int | None = None) -> str:
    """``path`` naming ``node`` (and the hop count) in its query, for HAProxy to route."""
    query = {"node": node} if hop is None else {"node": node, "hop": hop}
    return f"{path}?{urlencode(query)}"


# --- The node process (``manage.py video --node NAME``) --------------------------------------------


def streamed_cameras() -> set[int]:
    """The cameras this process has a pipeline for: when its share shrinks, the node gives the
    others the cameras nobody watches here first, so that a watched camera is not encoded by
    two nodes (its viewers here, the new ones at its new holder)."""
    from streaming.runtime import current_runtime

    runtime = current_runtime()
    return {pipeline.feed.camera_id for pipeline in runtime.pipelines()} if runtime else set()


class _Current:
    """The node this process is now (it changes when the node joins again after being lost)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @property
    def node(self) -> Node:
        return self._node

    @node.setter
    def node(self, node: Node) -> None:
        global _node_session
        self._node = node
        _node_session = node.session


def video_node_run(*, name: str, weight: int, serve: Callable[[], None],
                   on_change: Callable[[str], None] | None = None) -> None:
    """Join as video node ``name``, take its share of the cameras, then run ``serve()`` (Daphne,
    until it is stopped) while a thread renews and rebalances every ``HUB_NODE_RENEW_SECONDS``;
    when ``serve()`` returns, hang every viewer up and leave (give the cameras back).

    Raises :class:`~streaming.nodes.NodeNameTaken` when a live node runs under ``name``, and
    :class:`DomainError` for a name HAProxy cannot use as a server name.
    """
    say = on_change or (lambda line: log.info("%s", line))
    if not NODE_NAME.fullmatch(name or ""):
        raise DomainError(_("A video node's name is 1 to 100 letters, digits, dots, dashes or "
                            "underscores (it is the name of its server in HAProxy)."), field="name")
    current = _Current(node_join(name=name, role=NodeRole.VIDEO, weight=weight))
    held = len(rebalance(current.node, busy=streamed_cameras()).held)
    say(f"video node {name} joined (weight {weight}, {held} cameras)")
    stop = threading.Event()
    keeper = threading.Thread(target=_keep_leases, args=(current, weight, stop, say),
                              name=f"video-node-{name}", daemon=True)
    keeper.start()
    try:
        serve()
    finally:
        stop.set()
        keeper.join(10)
        from streaming.runtime import reset_runtime

        reset_runtime()  # every viewer hung up and journalled (server_stopped) before leaving
        close_old_connections()
        try:
            node_leave(current.node)
        except DatabaseError:
            log.exception("video node %s: could not give its cameras back (they expire by themselves)", name)
        say(f"video node {name} left")


def _hang_up_lost_viewings() -> None:
    from streaming.runtime import current_runtime

    runtime = current_runtime()
    if runtime is None:
        return
    closed = set(Viewing.objects.filter(session__in=[s.id for s in runtime.sessions()],
                                        ended_at__isnull=False).values_list("session", flat=True))
    for session_id in closed:
        runtime.end_viewing(session_id, "node_lost")


def _keep_leases(current: _Current, weight: int, stop: threading.Event, say: Callable[[str], None]) -> None:
    renew = float(settings.HUB_NODE_RENEW_SECONDS)
    name = current.node.name
    try:
        while not stop.is_set():
            # One renewal every ``renew`` seconds, whatever the round took.
            next_round = time.monotonic() + renew
            close_old_connections()
            try:
                balance = rebalance(current.node, busy=streamed_cameras())
                if balance.taken or balance.released:
                    say(f"video node {name}: {len(balance.held)} cameras (+{len(balance.taken)}, of which "
                        f"{len(balance.taken_over)} from lost nodes; -{len(balance.released)})")
            except NodeGone:
                # Declared lost (a long pause): the offers it gets meanwhile are served here or
                # sent on to the cameras' new holders; it takes a share again once it has joined.
                # Its viewings were closed and journalled when it was declared lost: they end here
                # too, so that nobody watches past what the journal says.
                say(f"video node {name} was declared lost: hanging its viewers up and joining again")
                _hang_up_lost_viewings()
                try:
                    current.node = node_join(name=name, role=NodeRole.VIDEO, weight=weight)
                except (NodeNameTaken, DatabaseError):
                    log.warning("video node %s: cannot join again yet", name)
            except DatabaseError:
                log.exception("video node %s: cannot renew its leases", name)
            stop.wait(max(0.0, next_round - time.monotonic()))
    finally:
        connection.close()
