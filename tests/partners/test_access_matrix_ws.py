"""The access matrix over the WebSocket (``/ws/events/``): the roles of test_access_matrix.py,
who may open the stream, who hears an incident shared with the PN only, and the sessions
that end: a cookie after logout, a socket open while its session is ended.

Real ASGI application (origin check, session and token middleware, consumer), real Redis.
A client that must hear nothing is checked the way tests/realtime does it: its first frame
is a marker published after the event it must not get (the relay sends in id order and a
channel delivers in order), so "nothing" does not depend on a timeout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid

import pyotp
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import Point
from django.db import transaction
from django.test import Client as HttpClient
from django.utils import timezone

from config.asgi import application
from incidents.events import JournalAppended, JournalEntryData
from incidents.services.incidents import incident_create, incident_share
from partners.choices import AgencyKind
from partners.models import UserSession
from partners.services import api_token_issue
from realtime.audiences import Audience, groups_of, user_group
from realtime.services import publish
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
db = database_sync_to_async

PASSWORD = "correct horse battery"
ORIGIN = (b"origin", b"http://localhost")
A, D = "allow", "deny"

#                 who may open the stream   who hears an incident shared with the PN only
MATRIX_WS = {
    "anonymous":        (D, D),
    "operator":         (A, A),
    "supervisor":       (A, A),
    "admin":            (A, A),
    "auditor":          (A, D),
    "pn_agent":         (A, A),
    "pm_agent":         (A, D),
    "gn_agent":         (A, D),
    "sdis_agent":       (A, D),
    "crf_agent":        (A, D),
    "pn_unit":          (A, A),
    "pn_agent_expired": (A, A),  # an expired habilitation takes images away, not incidents
    "no_profile":       (A, D),  # token from the shell: it hears its own user group only
}


# --- Builders (synchronous: called through database_sync_to_async) -----------------------------

def crew() -> dict:
    """One account per role of the matrix (the anonymous has none)."""
    factories.make_commune()
    factories.make_agency(kind=AgencyKind.CSU, code="csu")
    agency = {kind: factories.make_agency(kind=kind, code=f"{kind.lower()}-test")
              for kind in (AgencyKind.PN, AgencyKind.PM, AgencyKind.GN, AgencyKind.SDIS, AgencyKind.CRF)}
    today = timezone.localdate()
    habilitation = {"habilitation_reference": "HAB-TEST",
                    "habilitation_valid_until": today + dt.timedelta(days=30)}
    users = {role: factories.make_member(role=role, username=role).user
             for role in ("operator", "supervisor", "admin", "auditor")}
    for kind in agency:
        users[f"{kind.lower()}_agent"] = factories.make_member(
            role="partner_agent", agency=agency[kind], username=f"{kind.lower()}_agent", **habilitation).user
    users["pn_unit"] = factories.make_member(role="field_unit", agency=agency[AgencyKind.PN],
                                             username="pn_unit", **habilitation).user
    users["pn_agent_expired"] = factories.make_member(
        role="partner_agent", agency=agency[AgencyKind.PN], username="pn_agent_expired",
        habilitation_reference="HAB-OLD", habilitation_valid_from=today - dt.timedelta(days=400),
        habilitation_valid_until=today - dt.timedelta(days=1)).user
    users["no_profile"] = get_user_model().objects.create_user(username="no_profile", password=PASSWORD)
    return users


def open_incident(member, *, shared_with: tuple[str, ...] = ()):
    here = Point(factories.CENTRE.x, factories.CENTRE.y, srid=4326)
    incident = incident_create(member=member, nature="rixe", location=here, description="Rixe devant la gare")
    for code in shared_with:
        incident = incident_share(incident=incident, agency_code=code, member=member)
    return incident


def marker(users) -> int:
    """Publish one event every one of these users hears (their own groups); its id."""
    from partners.selectors import member_of

    groups = {group for user in users for group in groups_of(user, member_of(user))} | {
        user_group(user.pk) for user in users}
    with transaction.atomic():
        row = publish(JournalAppended(incident_id=0, entry=JournalEntryData(
            id=0, at=timezone.now().isoformat(), author="test", kind="note", text=f"marker {uuid.uuid4()}",
            corrects=None)), audience=Audience(groups))
    return row.id


def about(frame: dict) -> int | None:
    data = frame.get("data") or {}
    if "incident" in data:
        return data["incident"]["id"]
    return data.get("incident_id")


# --- A small client ---------------------------------------------------------------------------

class Socket:
    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def frame(self, timeout: float = 3.0) -> dict:
        """The next frame that is not a heartbeat."""
        while True:
            frame = json.loads(await self.communicator.receive_from(timeout=timeout))
            if frame.get("type") != "heartbeat":
                return frame

    async def until(self, event_id: int) -> list[dict]:
        """Every frame up to the one with this id (included)."""
        frames = []
        while not frames or frames[-1].get("id") != event_id:
            frames.append(await self.frame())
        return frames

    async def send(self, payload: dict) -> None:
        await self.communicator.send_to(text_data=json.dumps(payload))

    async def closed_with(self, timeout: float = 3.0) -> int | None:
        while True:
            output = await self.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output.get("code")
            assert json.loads(output.get("text") or "{}").get("type") == "heartbeat", output


@pytest.fixture
async def ws():
    """``await ws(token=..., cookie=..., query=...)`` → (connected, Socket); live once it returns."""
    opened: list[WebsocketCommunicator] = []

    async def _connect(*, token: str | None = None, cookie: str | None = None, query: str = ""):
        headers = [ORIGIN, (b"host", b"localhost")]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        if cookie:
            headers.append((b"cookie", f"sessionid={cookie}".encode()))
        communicator = WebsocketCommunicator(application, "/ws/events/" + (f"?{query}" if query else ""),
                                             headers=headers)
        opened.append(communicator)
        connected, _ = await communicator.connect(timeout=5)
        socket = Socket(communicator)
        if connected and not query:
            # Answered once the consumer has read its starting position: live from here.
            await socket.send({"type": "ping"})
            assert (await socket.frame(5))["type"] == "pong"
        return connected, socket

    yield _connect
    for communicator in opened:
        try:
            await asyncio.wait_for(communicator.disconnect(), 3)
        except (Exception, asyncio.CancelledError):  # closed already
            pass


# --- The matrix over the socket ------------------------------------------------------------------

async def test_the_stream_matrix(ws):
    users = await db(crew)()
    connects, hears, sockets = {}, {}, {}
    for role in MATRIX_WS:
        token = None if role == "anonymous" else (await db(api_token_issue)(user=users[role]))[0]
        ok, socket = await ws(token=token)
        connects[role] = A if ok else D
        if ok:
            sockets[role] = socket
    assert connects == {role: cells[0] for role, cells in MATRIX_WS.items()}

    incident = await db(open_incident)(users["operator"].member, shared_with=("pn-test",))
    last = await db(marker)([users[role] for role in sockets])
    for role, socket in sockets.items():
        frames = await socket.until(last)
        heard = [f for f in frames[:-1] if about(f) == incident.pk]
        assert len(frames) == len(heard) + 1, f"{role} got frames about something else: {frames}"
        hears[role] = A if heard else D
        if heard:  # what it hears says which incident, and with whom it is shared
            shared = [f for f in heard if f["type"] == "incident.shared"]
            assert shared and shared[-1]["data"]["incident"]["shared_with"] == ["pn-test"], role
    hears["anonymous"] = D
    assert hears == {role: cells[1] for role, cells in MATRIX_WS.items()}


async def test_a_partner_cannot_pull_another_agencys_incident_over_the_socket(ws):
    """The client names no incident and no group: it cannot subscribe, and a replay from the
    start of the outbox brings only what its agency may see."""
    users = await db(crew)()
    incident = await db(open_incident)(users["operator"].member, shared_with=("pn-test",))
    token = (await db(api_token_issue)(user=users["pm_agent"]))[0]
    ok, socket = await ws(token=token)
    assert ok
    for attempt in ({"type": "subscribe", "incident_id": incident.pk},
                    {"type": "subscribe", "group": "agency.pn-test"},
                    {"type": "subscribe", "group": "csu"}):
        await socket.send(attempt)
        frame = await socket.frame()
        assert (frame["type"], frame["error"]) == ("error", "unknown_type")
    ok, replayed = await ws(token=token, query="last_event_id=0")
    assert ok
    await replayed.send({"type": "ping"})  # answered once the replay is sent: it sent nothing
    assert (await replayed.frame())["type"] == "pong"
    last = await db(marker)([users["pm_agent"]])
    assert [f["id"] for f in await replayed.until(last)] == [last]
    assert [f["id"] for f in await socket.until(last)] == [last]


# --- Sessions that end ----------------------------------------------------------------------------

def sign_in(member, *, otp_secret: str | None = None) -> HttpClient:
    """Through the login pages, second factor included: a browser with a session cookie."""
    browser = HttpClient()
    step = browser.post("/accounts/login/", {"username": member.user.username, "password": PASSWORD})
    if otp_secret:
        assert step["Location"] == "/accounts/login/code/"
        step = browser.post("/accounts/login/code/", {"otp": pyotp.TOTP(otp_secret).now()})
    assert step.status_code == 302 and "_auth_user_id" in browser.session, step
    return browser


async def test_a_session_cookie_used_after_logout_is_refused(ws):
    secret = pyotp.random_base32()
    agent = await db(factories.make_member)(
        role="partner_agent", agency=await db(factories.make_agency)(kind=AgencyKind.PN, code="pn-test"),
        password=PASSWORD, totp_secret=secret, habilitation_reference="HAB-1")
    browser = await db(sign_in)(agent, otp_secret=secret)
    stolen = browser.cookies["sessionid"].value
    ok, _ = await ws(cookie=stolen)
    assert ok, "the cookie of a live session opens the stream"

    assert (await db(browser.post)("/accounts/logout/")).status_code == 302
    ok, _ = await ws(cookie=stolen)
    assert not ok, "the cookie of a logged-out session"
    assert (await db(UserSession.objects.get)(session_key=stolen)).ended_at is not None


async def test_an_open_socket_is_closed_when_its_session_ends(ws):
    """Logout, or ending the session from another one (« Mes sessions »), closes the sockets
    opened with that session at once; the other sessions' sockets stay open."""
    operator = await db(factories.make_member)(role="operator", password=PASSWORD)
    office, tablet = await db(sign_in)(operator), await db(sign_in)(operator)
    ok_office, office_socket = await ws(cookie=office.cookies["sessionid"].value)
    ok_tablet, tablet_socket = await ws(cookie=tablet.cookies["sessionid"].value)
    assert ok_office and ok_tablet

    # From the office, end the tablet's session.
    tablet_session = await db(UserSession.objects.get)(session_key=tablet.cookies["sessionid"].value)
    await db(office.post)("/compte/sessions/", {"session_id": tablet_session.pk})
    assert await tablet_socket.closed_with() == 4401
    last = await db(marker)([operator.user])
    assert [f["id"] for f in await office_socket.until(last)] == [last], "the office stays open"

    # Logout at the office closes the office's socket.
    await db(office.post)("/accounts/logout/")
    assert await office_socket.closed_with() == 4401


@pytest.mark.django_db(transaction=False)  # reads a file: no need for the transactional flush
def test_docs_security_md_shows_this_matrix():
    from tests.partners.test_access_matrix import ROLES, documented_rows

    assert tuple(MATRIX_WS) == ROLES
    symbols = {A: "✓", D: "✗"}
    assert documented_rows({"ws_connect", "ws_hears_pn_incident"}) == {
        "ws_connect": [symbols[MATRIX_WS[role][0]] for role in ROLES],
        "ws_hears_pn_incident": [symbols[MATRIX_WS[role][1]] for role in ROLES],
    }
