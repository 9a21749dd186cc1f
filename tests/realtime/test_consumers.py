"""``/ws/events/`` on the real ASGI application (origin check, auth, routing) and real Redis.

A client that must receive nothing is checked twice: nothing arrives for a
while, and then the first frame it gets is a marker published after the
events it must not see (the relay sends in id order, a channel delivers in order).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.test import Client as HttpClient
from django.utils import timezone
from prometheus_client import REGISTRY

from incidents.services.incidents import incident_share, incident_unshare
from incidents.services.journal import journal_append
from partners.models import ApiToken, Member
from partners.services import api_token_issue, api_token_revoke
from realtime import selectors, services
from realtime.models import GroupCursor
from tests import factories
from tests.pool import exhaust, restore
from tests.realtime import helpers
from tests.realtime.conftest import ORIGIN

db = database_sync_to_async


async def assert_hears_nothing_before_marker(clients: dict, *members) -> None:
    """Each client received nothing so far, then receives the marker, exactly once."""
    quiet = await asyncio.gather(*(client.nothing() for client in clients.values()))
    assert all(quiet), dict(zip(clients, quiet, strict=True))
    marker = await db(helpers.marker)(*members)
    for name, client in clients.items():
        frame = await client.frame()
        assert frame["id"] == marker, f"{name} received {frame!r} before the marker"
    # Once, although it was addressed to each group the member listens on.
    quiet = await asyncio.gather(*(client.nothing() for client in clients.values()))
    assert all(quiet), dict(zip(clients, quiet, strict=True))


# --- Who may open the stream


def session_cookie(member, *, active: bool = True) -> bytes:
    browser = HttpClient()
    browser.force_login(member.user)
    if not active:
        member.user.is_active = False
        member.user.save()
    return f"sessionid={browser.cookies['sessionid'].value}".encode()


@pytest.mark.django_db(transaction=True)
async def test_only_active_users_with_a_live_credential_from_our_origin_are_let_in(connect):
    member = await db(factories.make_member)(role="operator")
    ok, _ = await connect()
    assert not ok, "anonymous"
    ok, _ = await connect(token="not-a-token-we-issued")
    assert not ok, "unknown token"

    revoked, _ = await db(api_token_issue)(user=member.user)
    await db(api_token_revoke)(raw=revoked)
    ok, _ = await connect(token=revoked)
    assert not ok, "revoked token"

    expired, _ = await db(api_token_issue)(user=member.user)
    await db(ApiToken.objects.filter(digest=ApiToken.digest_of(expired)).update)(
        expires_at=timezone.now())
    ok, _ = await connect(token=expired)
    assert not ok, "expired token"

    live, _ = await db(api_token_issue)(user=member.user)
    for origin in (b"http://evil.example", b"http://localhost.evil.example"):
        ok, _ = await connect(token=live, headers=[(b"origin", origin)])
        assert not ok, origin  # a foreign page cannot ride on a good credential
    ok, _ = await connect(token=live)
    assert ok, "a live token from our origin"

    # A page: the session cookie.
    cookie = await db(session_cookie)(member)
    ok, client = await connect(headers=[ORIGIN, (b"cookie", cookie)])
    assert ok, "session cookie"
    incident = await db(helpers.open_incident)(member)
    assert (await client.frame())["data"]["incident"]["reference"] == incident.reference
    ok, _ = await connect(headers=[(b"origin", b"http://evil.example"), (b"cookie", cookie)])
    assert not ok, "session cookie from a foreign origin"
    # Programs send no Origin: a bearer token is enough; a bare cookie without an Origin
    # (not a browser, so not one of our pages) counts for nothing.
    ok, _ = await connect(token=live, headers=[])
    assert ok, "a program with a live token and no Origin"
    ok, _ = await connect(headers=[(b"cookie", cookie)])
    assert not ok, "session cookie without an Origin"

    # Deactivated: neither its token nor its session opens the stream any more.
    member.user.is_active = False
    await db(member.user.save)()
    ok, _ = await connect(token=live)
    assert not ok, "inactive user, token"
    ok, _ = await connect(headers=[ORIGIN, (b"cookie", cookie)])
    assert not ok, "inactive user, session"


@pytest.mark.django_db(transaction=True)
async def test_the_origin_must_be_ours_in_scheme_host_and_port(connect, settings):
    """The probe: the check compared host names only, so a page of another service on the same
    host (another port) or the plain-http twin of the site rode a signed-in operator's cookie.
    Now scheme, host and port must match the hub's own origin or ``HUB_ALLOWED_ORIGINS``."""
    settings.HUB_ALLOWED_ORIGINS = ["https://csu.example.org"]
    member = await db(factories.make_member)(role="operator")
    cookie = await db(session_cookie)(member)

    async def opens(origin: bytes, host: bytes = b"localhost:8000") -> bool:
        ok, client = await connect(headers=[(b"host", host), (b"origin", origin), (b"cookie", cookie)])
        await client.close()
        return ok

    assert await opens(b"http://localhost:8000"), "the hub's own origin"
    assert await opens(b"HTTP://LOCALHOST:8000"), "origins are compared case-insensitively"
    assert await opens(b"https://csu.example.org"), "a configured origin (behind the proxy)"
    assert await opens(b"https://csu.example.org:443"), "the default port, written out"
    for origin in (b"https://localhost:8000",  # another scheme
                   b"http://localhost:9000",  # another port: another service on the host
                   b"http://localhost",  # port 80
                   b"http://csu.example.org",  # the configured origin over plain http
                   b"https://csu.example.org:8443",
                   b"http://evil.example:8000", b"http://localhost.evil.example:8000",
                   b"null", b"", b"localhost:8000", b"http://[::1", b"http://localhost:99999"):
        assert not await opens(origin), origin
    # A host name we do not serve (DNS rebinding: the attacker's name pointed at the hub).
    assert not await opens(b"http://rebound.example:8000", host=b"rebound.example:8000")


# --- Frames and audiences


@pytest.mark.django_db(transaction=True)
async def test_each_agency_kind_hears_only_the_incidents_shared_with_it(connect):
    crew = await db(helpers.people)()
    clients = {}
    for name, member in crew.items():
        ok, clients[name] = await connect(member.user)
        assert ok, name
    author = crew["operator"]
    centre = {n: clients[n] for n in ("operator", "supervisor")}
    deaf = {n: clients[n] for n in ("pm", "gn", "sdis", "sdis_unit", "crf", "auditor")}

    incident = await db(helpers.open_incident)(author, shared_with=("PN",))
    for name, client in centre.items():
        frames = await client.events(4)
        assert [f["type"] for f in frames] == [
            "incident.created", "journal.appended", "journal.appended", "incident.shared"], name
        for frame in frames:  # every frame: {"id", "type", "at", "data"}
            assert set(frame) == {"id", "type", "at", "data"}
            assert isinstance(frame["id"], int) and isinstance(frame["data"], dict)
            assert timezone.datetime.fromisoformat(frame["at"]).tzinfo is not None
        assert [f["id"] for f in frames] == sorted({f["id"] for f in frames})
        assert frames[0]["data"]["incident"]["reference"] == incident.reference
    pn = await clients["pn"].events(2)
    assert [f["type"] for f in pn] == ["journal.appended", "incident.shared"]
    assert pn[1]["data"]["incident"]["reference"] == incident.reference
    assert pn[1]["data"]["agency"] == "pn-test"
    await assert_hears_nothing_before_marker(deaf, *(crew[n] for n in deaf))

    # Shared with the Croix-Rouge as well: its agent gets it.
    await db(incident_share)(incident=incident, agency_code="crf-test", member=author)
    crf = await clients["crf"].events(2)
    assert [f["type"] for f in crf] == ["journal.appended", "incident.shared"]
    assert crf[1]["data"]["agency"] == "crf-test"
    assert crf[1]["data"]["incident"]["shared_with"] == ["crf-test", "pn-test"]
    for name in ("operator", "supervisor", "pn"):  # the others learn who else has it
        assert [f["type"] for f in await clients[name].events(2)] == [
            "journal.appended", "incident.shared"], name
    deaf.pop("crf")
    await assert_hears_nothing_before_marker(deaf, *(crew[n] for n in deaf))

    # Unshared: the CRF agent is told to drop it, then hears nothing more of it.
    await db(incident_unshare)(incident=incident, agency_code="crf-test", member=author)
    unshared = await clients["crf"].frame()
    assert unshared["type"] == "incident.unshared"
    assert unshared["data"] == {"incident_id": incident.pk, "reference": incident.reference,
                                "agency": "crf-test"}
    await db(journal_append)(incident=incident, member=author, text="Patrouille sur place")
    pn = await clients["pn"].events(4)
    assert [f["type"] for f in pn] == ["incident.unshared", "incident.updated", "journal.appended",
                                       "journal.appended"]
    assert pn[1]["data"]["incident"]["shared_with"] == ["pn-test"]
    assert pn[3]["data"]["entry"]["text"] == "Patrouille sur place"
    deaf["crf"] = clients["crf"]
    await assert_hears_nothing_before_marker(deaf, *(crew[n] for n in deaf))

    # A field unit hears, like its agency's desk, what is shared with its agency.
    other = await db(helpers.open_incident)(author, shared_with=("SDIS",))
    for name in ("sdis", "sdis_unit"):
        frames = await clients[name].events(2)
        assert [f["type"] for f in frames] == ["journal.appended", "incident.shared"], name
        assert frames[1]["data"]["incident"]["reference"] == other.reference


# --- Resume


@pytest.mark.django_db(transaction=True)
async def test_resume_replays_exactly_the_missed_visible_events_in_order_then_goes_live(connect):
    crew = await db(helpers.people)()
    author, pn = crew["operator"], crew["pn"]
    mine = await db(helpers.open_incident)(author, shared_with=("PN",))
    ok, client = await connect(pn.user)
    assert ok
    await db(journal_append)(incident=mine, member=author, text="un")
    seen = await client.frame()
    assert seen["data"]["entry"]["text"] == "un"
    await client.close()

    # While it is away: three lines it may see, between events of another agency's incident.
    await db(journal_append)(incident=mine, member=author, text="deux")
    theirs = await db(helpers.open_incident)(author, shared_with=("GN",))
    await db(journal_append)(incident=mine, member=author, text="trois")
    await db(journal_append)(incident=theirs, member=author, text="pour la gendarmerie")
    await db(journal_append)(incident=mine, member=author, text="quatre")

    ok, client = await connect(pn.user, last_event_id=seen["id"])
    assert ok
    replayed = await client.events(3)
    assert [f["data"]["entry"]["text"] for f in replayed] == ["deux", "trois", "quatre"]
    assert [f["id"] for f in replayed] == await db(helpers.visible_ids)(pn, after=seen["id"])
    assert await client.nothing()

    await db(journal_append)(incident=mine, member=author, text="cinq")
    live = await client.frame()
    assert live["data"]["entry"]["text"] == "cinq" and live["id"] > replayed[-1]["id"]
    await assert_hears_nothing_before_marker({"pn": client}, pn)  # no duplicate at the seam

    # From 0: everything it may see, and nothing of the gendarmerie's incident.
    everything = await db(helpers.visible_ids)(pn)
    ok, client = await connect(pn.user, last_event_id=0)
    assert ok
    frames = await client.events(len(everything))
    assert [f["id"] for f in frames] == everything
    about = {f["data"]["incident_id"] if "incident_id" in f["data"] else f["data"]["incident"]["id"]
             for f in frames}
    assert mine.pk in about and theirs.pk not in about
    assert await client.nothing()


def rest_view(member) -> dict:
    """What the REST API shows ``member``: incident ids, the journal texts of each, grant ids."""
    api = factories.TokenClient().as_member(member)
    incidents = {i["id"] for i in api.get("/api/incidents/").json()}
    journals = {pk: {e["text"] for e in api.get(f"/api/incidents/{pk}/").json()["journal"]}
                for pk in incidents}
    grants = api.get("/api/streaming/grants/")
    return {"incidents": incidents, "journals": journals,
            "grants": {g["id"] for g in grants.json()} if grants.status_code == 200 else set()}


def shared_written_unshared() -> dict:
    """An incident shared with the PN, written in, then unshared (and written in again); another
    that stays shared, with a grant of a camera to the PN."""
    from streaming.services import grant_create

    crew = helpers.people()
    author = crew["operator"]
    crew["pn_unit"] = factories.make_member(role="field_unit", agency=helpers.agency("PN"))
    gone = helpers.open_incident(author, shared_with=("PN",),
                                 description="Différend familial, enfants présents")
    journal_append(incident=gone, member=author, text="Note écrite pendant le partage")
    incident_unshare(incident=gone, agency_code="pn-test", member=author)
    journal_append(incident=gone, member=author, text="Note écrite après la fin du partage")
    kept = helpers.open_incident(author, shared_with=("PN",), description="Rixe devant la gare")
    journal_append(incident=kept, member=author, text="Patrouille sur place")
    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera], recipients=["PN"])
    grant_create(camera=camera, agency_code="pn-test", incident=kept, granted_by=author.user)
    return {"crew": crew, "gone": gone, "kept": kept}


@pytest.mark.django_db(transaction=True)
async def test_a_replay_brings_only_what_rest_still_shows(connect):
    """The probe: ``?last_event_id=0`` sent the description and the notes of an incident shared,
    then unshared, which REST answers 404. A replay is filtered by what the member may see now,
    with the selectors REST uses, not by the groups it had."""
    scene = await db(shared_written_unshared)()
    gone, kept = scene["gone"], scene["kept"]
    for name in ("pn", "pn_unit", "gn"):
        member = scene["crew"][name]
        rest = await db(rest_view)(member)
        ok, client = await connect(member.user, last_event_id=0)
        assert ok
        await client.send({"type": "ping"})  # answered once the replay is sent
        frames = []
        while (frame := await client.frame())["type"] != "pong":
            frames.append(frame)

        wire = json.dumps(frames, ensure_ascii=False)
        assert "Différend familial" not in wire and "Note écrite" not in wire, (name, wire)
        about = {f["data"]["incident"]["id"] if "incident" in f["data"] else f["data"].get("incident_id")
                 for f in frames if f["type"] != "incident.unshared"} - {None}
        assert about == rest["incidents"], name
        for pk in rest["incidents"]:  # lines REST shows (those written before the share never
            texts = {f["data"]["entry"]["text"] for f in frames  # reached the agency: not replayed either)
                     if f["type"] == "journal.appended" and f["data"]["incident_id"] == pk}
            assert texts and texts <= rest["journals"][pk], (name, texts)
            assert "Patrouille sur place" in texts, name
        assert {f["data"]["grant"]["id"] for f in frames if f["type"].startswith("grant.")} == rest["grants"]
        # Its own agency is still told to drop the incident it no longer has.
        dropped = [f["data"] for f in frames if f["type"] == "incident.unshared"]
        assert dropped == ([{"incident_id": gone.pk, "reference": gone.reference, "agency": "pn-test"}]
                           if name in ("pn", "pn_unit") else []), name
        assert (kept.pk in about) == (name != "gn")


@pytest.mark.django_db(transaction=True)
async def test_resume_past_the_outbox_window_asks_for_a_resync(connect):
    operator = await db(factories.make_member)(role="operator")
    await db(helpers.open_incident)(operator)
    await db(helpers.open_incident)(operator)
    ids = await db(helpers.visible_ids)(operator)
    await db(helpers.age_all)(days=8)
    assert await db(services.outbox_prune)(keep_days=7) == 4
    purged = (await db(selectors.relay_position)())[1]
    assert purged == ids[-1]
    kept = await db(helpers.open_incident)(operator)

    ok, client = await connect(operator.user, last_event_id=ids[1])
    assert ok
    frame = await client.receive()
    assert frame["type"] == "resync"
    assert await client.nothing()  # no partial replay: the client reloads its snapshot
    await db(journal_append)(incident=kept, member=operator, text="après le resync")
    assert (await client.frame())["data"]["entry"]["text"] == "après le resync"  # and it stays live

    # A client that saw everything that was purged loses nothing: it is replayed the rest.
    ok, client = await connect(operator.user, last_event_id=purged)
    assert ok
    frames = await client.events(3)
    assert [f["type"] for f in frames] == ["incident.created", "journal.appended", "journal.appended"]
    assert frames[0]["data"]["incident"]["reference"] == kept.reference


@pytest.mark.django_db(transaction=True)
async def test_a_bad_last_event_id_is_an_error(connect):
    operator = await db(factories.make_member)(role="operator")
    await db(helpers.open_incident)(operator)
    for value in ["abc", "-1", "1.5", "0x10", "%20", "1;2"]:  # not a number: error, then close
        ok, client = await connect(operator.user, query=f"last_event_id={value}")
        assert ok
        frame = await client.receive()
        assert (frame["type"], frame["error"]) == ("error", "bad_last_event_id"), value
        assert await client.closed_with() == 4400, value

    # Ahead of the server (a client of another deployment, a restored database): the
    # client is told, asked to resync, and the stream goes on.
    ok, client = await connect(operator.user, last_event_id=10**12)
    assert ok
    error = await client.receive()
    assert (error["type"], error["error"]) == ("error", "last_event_id_in_future")
    assert (await client.receive())["type"] == "resync"
    incident = await db(helpers.open_incident)(operator)
    assert (await client.frame())["data"]["incident"]["reference"] == incident.reference


# --- Bad frames, heartbeat


@pytest.mark.django_db(transaction=True)
async def test_bad_frames_get_an_error_and_the_connection_stays(connect, settings):
    settings.HUB_WS_MAX_FRAME_BYTES = 1024
    operator = await db(factories.make_member)(role="operator")
    ok, client = await connect(operator.user)
    ok_other, other = await connect(operator.user)
    assert ok and ok_other

    for payload, code in [
        ("{not json", "malformed"),
        ("[" * 1020, "malformed"),  # deeper than Python's decoder recurses, within the size limit
        ('{"type": "subscribe", "to": "everything"}', "unknown_type"),
        ("[1, 2, 3]", "unknown_type"),
        ('"ping"', "unknown_type"),
        ('{"type": "ack"}', "malformed"),
        ('{"type": "ack", "last_event_id": "12"}', "malformed"),
        ('{"type": "ping", "pad": "' + "x" * 2000 + '"}', "frame_too_large"),
    ]:
        await client.send(payload)
        frame = await client.receive()
        assert (frame["type"], frame["error"]) == ("error", code), payload
        said = {"malformed": ("n'est pas du JSON", "ack demande un last_event_id entier"),
                "unknown_type": ("Type de message inconnu",),
                "frame_too_large": ("Un message est limité à 1024 octets",)}[code]
        assert any(words in frame["detail"] for words in said), frame  # in French, like REST
    await client.send_bytes(b"\x00\x01binary")
    frame = await client.receive()
    assert (frame["error"], frame["detail"]) == ("binary_not_supported",
                                                "Envoyez des messages texte en JSON.")
    await client.send_bytes(b"x" * 2000)
    assert (await client.receive())["error"] == "frame_too_large"

    await client.send({"type": "ping"})
    assert (await client.receive())["type"] == "pong"
    await client.send({"type": "ack", "last_event_id": 3})
    assert await client.nothing()  # a good ack has no answer

    incident = await db(helpers.open_incident)(operator)
    for each in (client, other):  # both still receive events
        assert (await each.frame())["data"]["incident"]["reference"] == incident.reference


@pytest.mark.django_db(transaction=True)
async def test_a_heartbeat_tells_the_last_event_id(connect, settings):
    settings.HUB_WS_HEARTBEAT_SECONDS = 0.2
    operator = await db(factories.make_member)(role="operator")
    ok, client = await connect(operator.user)
    assert ok
    await db(helpers.open_incident)(operator)
    last = (await client.events(2))[-1]["id"]
    while (frame := await client.receive())["type"] != "heartbeat":
        pass
    assert frame["last_event_id"] == last
    assert timezone.datetime.fromisoformat(frame["at"]).tzinfo is not None


# --- Rights change while connected


@pytest.mark.django_db(transaction=True)
async def test_deactivating_a_user_closes_its_open_sockets(connect):
    member = await db(factories.make_member)(role="operator")
    ok, client = await connect(member.user)
    ok_second, second = await connect(member.user)
    assert ok and ok_second
    member.user.is_active = False
    await db(member.user.save)()
    assert await client.closed_with() == 4401
    assert await second.closed_with() == 4401
    ok, _ = await connect(member.user)
    assert not ok


@pytest.mark.django_db(transaction=True)
async def test_changed_rights_rescope_the_open_socket(connect):
    crew = await db(helpers.people)()
    author, agent = crew["operator"], crew["pn"]
    ok, client = await connect(agent.user)
    assert ok

    # Moved from the police to the gendarmerie: it hears the GN's incidents, not the PN's.
    agent.agency = await db(helpers.agency)("GN")
    await db(agent.save)()
    assert (await client.frame())["type"] == "rescoped"
    await db(helpers.open_incident)(author, shared_with=("PN",))
    gn = await db(helpers.open_incident)(author, shared_with=("GN",))
    frames = await client.events(2)  # the PN's incident came first, and did not reach it
    assert [f["type"] for f in frames] == ["journal.appended", "incident.shared"]
    assert frames[1]["data"]["incident"]["reference"] == gn.reference

    # Made an auditor: it hears no incident at all.
    agent.role = "auditor"
    await db(agent.save)()
    assert (await client.frame())["type"] == "rescoped"
    await db(helpers.open_incident)(author, shared_with=("GN",))
    await assert_hears_nothing_before_marker({"agent": client}, agent)


# --- A socket lives no longer than its credential (docs/realtime.md, close codes)


def revoke_over_the_api(raw: str) -> int:
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client.post("/api/auth/token/revoke/").status_code


@pytest.mark.django_db(transaction=True)
async def test_revoking_a_token_closes_the_sockets_it_opened_at_once(connect):
    """The probe: after ``POST /api/auth/token/revoke/`` the REST API answered 401 but the
    socket kept receiving events and heartbeats. Now it is closed at once (the heartbeat is
    25 s away); the user's sockets opened with another token stay."""
    operator = await db(factories.make_member)(role="operator")
    raw, _ = await db(api_token_issue)(user=operator.user)
    ok, revoked = await connect(token=raw)
    ok_other, other = await connect(operator.user)
    assert ok and ok_other
    assert await db(revoke_over_the_api)(raw) == 204
    assert await revoked.closed_with() == 4401
    incident = await db(helpers.open_incident)(operator)
    assert (await other.frame())["data"]["incident"]["reference"] == incident.reference


@pytest.mark.django_db(transaction=True)
async def test_an_expired_token_closes_its_socket_within_a_heartbeat(connect, settings):
    settings.HUB_WS_HEARTBEAT_SECONDS = 0.2
    operator = await db(factories.make_member)(role="operator")
    raw, token = await db(api_token_issue)(user=operator.user)
    ok, client = await connect(token=raw)
    assert ok
    await db(ApiToken.objects.filter(pk=token.pk).update)(expires_at=timezone.now())
    assert await client.closed_with() == 4401


@pytest.mark.django_db(transaction=True)
async def test_the_heartbeat_checks_what_no_signal_announced(connect, settings):
    """Changes written straight to the database (a script, SQL) send no signal: the
    heartbeat finds them. A deactivated account is closed; changed rights re-scope."""
    settings.HUB_WS_HEARTBEAT_SECONDS = 0.2
    crew = await db(helpers.people)()
    author, agent, auditor = crew["operator"], crew["pn"], crew["auditor"]
    ok_agent, agent_socket = await connect(agent.user)
    ok_auditor, auditor_socket = await connect(auditor.user)  # hears no incident
    assert ok_agent and ok_auditor

    await db(Member.objects.filter(pk=agent.pk).update)(role="auditor")
    assert (await agent_socket.frame())["type"] == "rescoped"  # heartbeats skipped, 3 s at most
    await db(helpers.open_incident)(author, shared_with=("PN",))
    marker = await db(helpers.marker)(agent)
    assert (await agent_socket.frame())["id"] == marker  # heartbeats aside, nothing before it

    await db(get_user_model().objects.filter(pk=auditor.user.pk).update)(is_active=False)
    assert await auditor_socket.closed_with() == 4401


@pytest.mark.django_db(transaction=True)
async def test_a_session_past_its_maximum_life_closes_its_socket(connect, settings):
    """Pages keep a socket open for hours without a request: the session's absolute lifetime
    (``HUB_SESSION_MAX_HOURS``) is checked by the heartbeat too."""
    from django.contrib.sessions.backends.db import SessionStore

    from partners.middleware import STARTED

    settings.HUB_WS_HEARTBEAT_SECONDS = 0.2
    member = await db(factories.make_member)(role="operator")
    cookie = await db(session_cookie)(member)
    ok, client = await connect(headers=[ORIGIN, (b"cookie", cookie)])
    assert ok
    assert (await client.receive())["type"] == "heartbeat"  # alive, and checked

    def age_the_session() -> None:
        store = SessionStore(session_key=cookie.decode().split("=", 1)[1])
        store[STARTED] = time.time() - settings.HUB_SESSION_MAX_HOURS * 3600 - 5
        store.save()

    await db(age_the_session)()
    assert await client.closed_with() == 4401


# --- A message lost on the way is refilled from the outbox


def drop_relayed_messages(monkeypatch) -> None:
    """From now on the relay 'sends' into the void, as if Redis lost the messages."""
    monkeypatch.setattr(services, "group_send_many", lambda messages: None)


@pytest.mark.django_db(transaction=True)
async def test_a_lost_message_is_refilled_from_the_outbox(connect, monkeypatch):
    operator = await db(factories.make_member)(role="operator")
    ok, client = await connect(operator.user)
    assert ok
    drop_relayed_messages(monkeypatch)
    lost = await db(helpers.open_incident)(operator, description="perdu en route")
    assert await client.nothing()
    monkeypatch.undo()

    await db(journal_append)(incident=lost, member=operator, text="retrouvé")
    frames = await client.events(3)
    assert [f["type"] for f in frames] == ["incident.created", "journal.appended", "journal.appended"]
    assert frames[0]["data"]["incident"]["description"] == "perdu en route"
    assert frames[2]["data"]["entry"]["text"] == "retrouvé"
    await assert_hears_nothing_before_marker({"operator": client}, operator)

    # The cursor rows are bookkeeping: losing them must not make a client miss or repeat.
    await db(GroupCursor.objects.all().delete)()
    await db(journal_append)(incident=lost, member=operator, text="après")
    frame = await client.frame()
    assert frame["data"]["entry"]["text"] == "après"
    await assert_hears_nothing_before_marker({"operator": client}, operator)


@pytest.mark.django_db(transaction=True)
async def test_a_lost_message_is_refilled_even_before_the_relay_commits(connect, monkeypatch):
    """Another process (the beat, a second Daphne) relays: its messages can reach the consumer
    before its transaction commits ``published_through``. The refill must still send them."""
    operator = await db(factories.make_member)(role="operator")
    ok, client = await connect(operator.user)
    assert ok
    drop_relayed_messages(monkeypatch)
    lost = await db(helpers.open_incident)(operator, description="perdu en route")
    monkeypatch.undo()

    # The consumer's outbox read happens while the relay still holds its transaction open.
    consumer_read = threading.Event()
    real_events_after, real_send = selectors.events_after, services.group_send_many

    def events_after(*args, **kwargs):
        try:
            return real_events_after(*args, **kwargs)
        finally:
            consumer_read.set()

    def send_then_wait_for_the_consumer(messages):
        real_send(messages)
        consumer_read.wait(5)

    monkeypatch.setattr(selectors, "events_after", events_after)
    monkeypatch.setattr(services, "group_send_many", send_then_wait_for_the_consumer)

    def write_elsewhere() -> None:
        from django.db import connection

        try:  # in a thread of its own, as another process would
            journal_append(incident=lost, member=operator, text="retrouvé")
        finally:
            connection.close()

    thread = threading.Thread(target=write_elsewhere)
    thread.start()
    try:
        frames = await client.events(3)
    finally:
        await db(thread.join)(10)
    assert [f["type"] for f in frames] == ["incident.created", "journal.appended", "journal.appended"]
    assert frames[2]["data"]["entry"]["text"] == "retrouvé"


@pytest.mark.django_db(transaction=True)
async def test_a_message_lost_while_the_client_resumes_is_refilled(connect, monkeypatch):
    """The consumer reads where the relay stands while it starts; messages lost in that
    instant must still reach the client, from the replay or from the refill."""
    operator = await db(factories.make_member)(role="operator")
    first = await db(helpers.open_incident)(operator)
    seen = await db(helpers.latest_id)()

    dropping = False
    real_send, real_relay_position = services.group_send_many, selectors.relay_position

    def send(messages):
        if not dropping:
            real_send(messages)

    def relay_position_then_lose_a_write():
        # Right after the consumer read its starting point, an event is committed and
        # relayed, and its message lost.
        nonlocal dropping
        position = real_relay_position()
        monkeypatch.setattr(selectors, "relay_position", real_relay_position)
        dropping = True
        journal_append(incident=first, member=operator, text="perdu pendant la reprise")
        dropping = False
        return position

    monkeypatch.setattr(services, "group_send_many", send)
    monkeypatch.setattr(selectors, "relay_position", relay_position_then_lose_a_write)
    ok, client = await connect(operator.user, last_event_id=seen)
    assert ok
    await client.send({"type": "ping"})  # answered once the consumer has started
    frames = []
    while (frame := await client.frame())["type"] != "pong":
        frames.append(frame)
    await db(journal_append)(incident=first, member=operator, text="ensuite")
    while len(frames) < 2:  # from the replay or from the refill: the client cannot tell
        frames.append(await client.frame())
    assert [f["data"]["entry"]["text"] for f in frames] == ["perdu pendant la reprise", "ensuite"]
    await assert_hears_nothing_before_marker({"operator": client}, operator)


# --- The database pool exhausted: closed with 1013 ("try again later"), resumed without a loss

BUSY = "Service momentanément saturé : réessayez dans quelques secondes."
SATURATED = {"type": "error", "error": "saturated", "detail": BUSY}


def refused_sockets() -> float:
    """What /metrics says (its scrape reads the outbox: from a thread)."""
    return REGISTRY.get_sample_value("hub_db_pool_exhausted_total", {"where": "websocket"}) or 0.0


@pytest.mark.django_db(transaction=True)
async def test_a_heartbeat_the_pool_cannot_serve_closes_the_socket_and_the_client_resumes(connect, settings):
    settings.HUB_WS_HEARTBEAT_SECONDS = 0.2
    operator = await db(factories.make_member)(role="operator")
    ok, client = await connect(operator.user)
    assert ok
    await db(helpers.open_incident)(operator)
    last = (await client.events(2))[-1]["id"]
    before = await db(refused_sockets)()
    state = await db(exhaust)()
    try:
        # The next rights check finds no connection: the client is told, and the socket closed.
        assert await client.frame() == SATURATED
        assert await client.closed_with() == 1013
    finally:
        await db(restore)(state)
    assert await db(refused_sockets)() == before + 1
    missed = await db(helpers.open_incident)(operator, description="Pendant la coupure")
    ok, again = await connect(operator.user, last_event_id=last)
    assert ok
    replayed = await again.events(2)
    assert replayed[0]["data"]["incident"]["reference"] == missed.reference
    assert [f["id"] for f in replayed] == sorted(f["id"] for f in replayed) and replayed[0]["id"] > last


@pytest.mark.django_db(transaction=True)
async def test_a_handshake_the_pool_cannot_serve_is_closed_with_try_again_later(connect):
    member = await db(factories.make_member)(role="operator")
    raw, _ = await db(api_token_issue)(user=member.user)
    cookie = await db(session_cookie)(member)
    before = await db(refused_sockets)()
    state = await db(exhaust)()
    try:
        # A bearer token, then a page's session: both are read before the consumer runs.
        for credential in ({"token": raw}, {"headers": [ORIGIN, (b"cookie", cookie)]}):
            ok, client = await connect(last_event_id=0, **credential)
            assert ok, credential  # accepted, to be told why rather than refused
            assert await client.receive() == SATURATED
            assert await client.closed_with() == 1013
    finally:
        await db(restore)(state)
    assert await db(refused_sockets)() == before + 2
    ok, _ = await connect(token=raw)
    assert ok
