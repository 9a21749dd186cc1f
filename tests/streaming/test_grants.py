"""Grants of live images (*renvoi d'images*): who may be given what, the refusals (in French,
nothing written), what the API and the events tell the screens, how a grant ends and who
watches it."""

import datetime as dt

import pytest
from django.utils import timezone

from incidents.models import Incident
from incidents.services.incidents import incident_share, incident_transition, incident_unshare
from partners.audit import Action
from partners.choices import AgencyKind
from partners.models import AuditRecord
from realtime.models import Event
from recordings.models import RecordingPlan, RecordingSegment
from streaming.models import Grant, Viewing
from streaming.selectors import active_grants, camera_view_denial
from streaming.services import grant_create, grants_end_sweep, viewing_end, viewing_start
from tests import factories

POINT = {"type": "Point", "coordinates": [2.3222, 48.9883]}
PN_GROUP, CENTRE_GROUP = "agents.pn-test", "csu"  # a grant's news: the agency's agents, not its tablets


@pytest.fixture
def scene(db, area, operator):
    camera = factories.make_camera(code="95428-s001-ptz")
    factories.make_authorisation(cameras=[camera], recipients=["PN", "PM", "GN", "SDIS"])
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    agent = factories.make_member(role="partner_agent", agency=pn, habilitation_reference="HAB-1",
                                  habilitation_valid_until=timezone.localdate() + dt.timedelta(days=30))
    op_api = factories.TokenClient().as_member(operator)
    incident = op_api.post("/api/incidents/", {"nature": "rixe", "location": POINT,
                                               "description": "Rixe"}).json()
    shared = op_api.post(f"/api/incidents/{incident['id']}/shares/", {"agency": "pn-test"})
    assert shared.status_code in {200, 201}
    return {"camera": camera, "agent": agent, "op_api": op_api, "incident": incident, "pn": pn,
            "operator": operator}


def grant(scene, agency="pn-test", minutes=None, reason=None, camera=None):
    body = {"camera": (camera or scene["camera"]).pk, "agency": agency, "incident": scene["incident"]["id"]}
    if minutes is not None:
        body["minutes"] = minutes
    if reason is not None:
        body["reason"] = reason
    return scene["op_api"].post("/api/streaming/grants/", body)


def grant_events(since: int = 0) -> list[Event]:
    return list(Event.objects.filter(type__startswith="grant.", id__gt=since).order_by("id"))


def last_event_id() -> int:
    last = Event.objects.order_by("-id").first()
    return last.pk if last else 0


def nothing_written(before: int) -> None:
    assert not Grant.objects.exists()
    assert not AuditRecord.objects.filter(action=Action.GRANT_CREATED).exists()
    assert grant_events(before) == []


@pytest.mark.django_db
def test_a_partner_watches_only_under_an_active_grant(scene):
    agent, camera = scene["agent"], scene["camera"]
    assert camera_view_denial(agent, camera) == "no_active_grant"
    response = grant(scene, reason="Suivi des individus")
    assert response.status_code == 201, response.json()
    assert camera_view_denial(agent, camera) is None
    agent_api = factories.TokenClient().as_member(agent)
    assert [g["id"] for g in agent_api.get("/api/streaming/grants/").json()] == [response.json()["id"]]
    revoke = scene["op_api"].post(f"/api/streaming/grants/{response.json()['id']}/revoke/", {"reason": "fin"})
    assert revoke.status_code == 200 and revoke.json()["active"] is False
    assert camera_view_denial(agent, camera) == "no_active_grant"
    actions = set(AuditRecord.objects.values_list("action", flat=True))
    assert {Action.GRANT_CREATED, Action.GRANT_REVOKED} <= actions


@pytest.mark.django_db
def test_the_grant_says_what_the_console_shows(scene, settings):
    answer = grant(scene, reason="Suivi des individus").json()
    assert answer["reason"] == "Suivi des individus"
    assert answer["granted_by"] == scene["operator"].user.username
    assert (answer["agency"], answer["agency_name"]) == ("pn-test", "Agency pn-test")
    assert (answer["camera_code"], answer["incident_reference"]) == ("95428-s001-ptz",
                                                                     scene["incident"]["reference"])
    assert answer["active"] is True and answer["ended_at"] is None and answer["end_reason"] is None
    assert answer["viewers"] == []
    created = dt.datetime.fromisoformat(answer["created_at"])
    expires = dt.datetime.fromisoformat(answer["expires_at"])
    assert expires - created == dt.timedelta(minutes=settings.HUB_GRANT_DEFAULT_MINUTES)
    (event,) = grant_events()
    assert event.type == "grant.created" and event.audience == [PN_GROUP, CENTRE_GROUP]
    assert event.data["grant"]["reason"] == "Suivi des individus"
    assert event.data["grant"]["granted_by"] == scene["operator"].user.username


@pytest.mark.django_db
def test_the_incident_s_grants_are_listed_for_the_console(scene):
    first = grant(scene).json()
    other = scene["op_api"].post("/api/incidents/", {"nature": "rixe", "location": POINT,
                                                      "description": "Autre"}).json()
    scene["op_api"].post(f"/api/incidents/{other['id']}/shares/", {"agency": "pn-test"})
    scene["op_api"].post("/api/streaming/grants/", {"camera": scene["camera"].pk, "agency": "pn-test",
                                                    "incident": other["id"]})
    listed = scene["op_api"].get(f"/api/streaming/grants/?incident={scene['incident']['id']}").json()
    assert [g["id"] for g in listed] == [first["id"]]
    bad = scene["op_api"].get("/api/streaming/grants/?incident=abc")
    assert bad.status_code == 400 and bad.json()["detail"] == {"incident": ["Un nombre entier."]}


# --- Refusals: a French message naming the field, and nothing written (no grant, no journal, no event).


@pytest.mark.django_db
def test_no_grant_to_a_service_the_incident_is_not_shared_with(scene):
    factories.make_agency(kind=AgencyKind.GN, code="gn-test")
    before = last_event_id()
    response = grant(scene, agency="gn-test")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "incident_not_shared"
    assert body["detail"]["agency"] == [f"L'incident {scene['incident']['reference']} n'est pas partagé avec "
                                        "Agency gn-test : partagez-le d'abord avec ce service."]
    nothing_written(before)
    # Nor is the incident shared on the way.
    assert not Incident.objects.filter(pk=scene["incident"]["id"], shared_with__code="gn-test").exists()


@pytest.mark.django_db
def test_the_croix_rouge_never_gets_video(scene):
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    crf_member = factories.make_member(role="partner_agent", agency=crf, habilitation_reference="X")
    incident_share(incident=Incident.objects.get(pk=scene["incident"]["id"]), agency_code="crf-test",
                   member=scene["operator"])
    before = last_event_id()
    response = grant(scene, agency="crf-test")
    assert response.status_code == 403 and response.json()["error"] == "video_not_allowed"
    assert response.json()["detail"]["agency"] == [
        "La Croix-Rouge ne reçoit jamais d'images de vidéoprotection (article L252-3 du code de la "
        "sécurité intérieure)."]
    nothing_written(before)
    assert camera_view_denial(crf_member, scene["camera"]) == "crf_never_receives_video"


@pytest.mark.django_db
def test_no_grant_past_the_end_of_the_camera_s_authorisation(scene, settings):
    # The authorisation ends tonight; a grant of more than a day cannot fit, whatever the hour.
    settings.HUB_GRANT_MAX_MINUTES = 3 * 24 * 60
    today = timezone.localdate()
    scene["camera"].authorisations.update(valid_until=today)
    before = last_event_id()
    response = grant(scene, minutes=25 * 60)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "beyond_authorisation"
    (message,) = body["detail"]["minutes"]
    assert message.startswith(f"L'autorisation préfectorale de la caméra 95428-s001-ptz est valable "
                              f"jusqu'au {today:%d/%m/%Y} inclus : un renvoi d'images ne peut pas aller "
                              "au-delà (")
    nothing_written(before)


@pytest.mark.django_db
def test_no_grant_of_a_camera_without_an_authorisation_in_force(scene, operator):
    scene["camera"].authorisations.update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    assert camera_view_denial(operator, scene["camera"]) == "no_valid_authorisation"
    before = last_event_id()
    response = grant(scene)
    assert response.status_code == 403
    assert response.json()["detail"]["camera"] == [
        "Aucune autorisation préfectorale en vigueur ne couvre la caméra 95428-s001-ptz : ses images ne "
        "peuvent pas être partagées."]
    nothing_written(before)


@pytest.mark.django_db
def test_a_service_not_listed_in_the_authorisation_gets_nothing(scene):
    sdis = factories.make_agency(kind=AgencyKind.SDIS, code="sdis-test")
    incident_share(incident=Incident.objects.get(pk=scene["incident"]["id"]), agency_code=sdis.code,
                   member=scene["operator"])
    scene["camera"].authorisations.update(recipients=["PN"])
    before = last_event_id()
    response = grant(scene, agency="sdis-test")
    assert response.status_code == 403
    assert response.json()["detail"]["agency"] == [
        "L'autorisation préfectorale de la caméra 95428-s001-ptz ne compte pas « Service départemental "
        "d'incendie et de secours » parmi les destinataires de ses images."]
    nothing_written(before)


@pytest.mark.django_db
def test_no_grant_for_an_incident_that_is_over(scene):
    incident = Incident.objects.get(pk=scene["incident"]["id"])
    incident_transition(incident=incident, status="closed", member=scene["operator"])
    before = last_event_id()
    response = grant(scene)
    assert response.status_code == 409
    assert response.json()["detail"]["incident"] == [
        f"L'incident {incident.reference} est terminé : ses images ne peuvent plus être partagées."]
    nothing_written(before)


@pytest.mark.django_db
def test_unknown_camera_and_incident_are_said_in_french(scene):
    response = scene["op_api"].post("/api/streaming/grants/", {"camera": 999999, "agency": "pn-test",
                                                               "incident": scene["incident"]["id"]})
    assert response.status_code == 400 and response.json()["detail"] == {"camera": ["Caméra inconnue."]}
    response = scene["op_api"].post("/api/streaming/grants/", {"camera": scene["camera"].pk,
                                                               "agency": "pn-test", "incident": 999999})
    assert response.status_code == 400 and response.json()["detail"] == {"incident": ["Incident inconnu."]}
    assert not Grant.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("minutes", "status"), [(0, 400), (10_000, 400), (15, 201)])
def test_grant_duration_is_bounded(scene, minutes, status, settings):
    response = grant(scene, minutes=minutes)
    assert response.status_code == status
    if status == 400:
        expected = f"Entre 1 et {settings.HUB_GRANT_MAX_MINUTES} minutes."
        assert response.json()["detail"] == {"minutes": [expected]}


@pytest.mark.django_db
def test_partners_cannot_grant(scene):
    agent_api = factories.TokenClient().as_member(scene["agent"])
    response = agent_api.post("/api/streaming/grants/", {"camera": scene["camera"].pk, "agency": "pn-test",
                                                         "incident": scene["incident"]["id"]})
    assert response.status_code == 403
    assert response.json()["detail"] == "Seuls les opérateurs du centre partagent des images de caméras."
    assert not Grant.objects.exists()


# --- Extending and revoking.


@pytest.mark.django_db
def test_extending_moves_the_end_within_the_authorisation(scene, settings):
    made = grant(scene, minutes=10).json()
    extended = scene["op_api"].post(f"/api/streaming/grants/{made['id']}/extend/", {"minutes": 60})
    assert extended.status_code == 200
    later = dt.datetime.fromisoformat(extended.json()["expires_at"])
    assert later > dt.datetime.fromisoformat(made["expires_at"])
    assert [e.type for e in grant_events()] == ["grant.created", "grant.created"]

    settings.HUB_GRANT_MAX_MINUTES = 3 * 24 * 60
    scene["camera"].authorisations.update(valid_until=timezone.localdate())
    before = last_event_id()
    refused = scene["op_api"].post(f"/api/streaming/grants/{made['id']}/extend/", {"minutes": 25 * 60})
    assert refused.status_code == 400 and refused.json()["error"] == "beyond_authorisation"
    assert grant_events(before) == []
    assert Grant.objects.get().expires_at == dt.datetime.fromisoformat(extended.json()["expires_at"])


@pytest.mark.django_db
def test_a_revocation_tells_the_agency_why(scene):
    made = grant(scene).json()
    answer = scene["op_api"].post(f"/api/streaming/grants/{made['id']}/revoke/",
                                  {"reason": "Fin de l'intervention"}).json()
    assert (answer["active"], answer["end_reason"], answer["revoke_reason"]) == (
        False, "revoked", "Fin de l'intervention")
    assert answer["ended_at"] == answer["revoked_at"]
    revoked = grant_events()[-1]
    assert revoked.type == "grant.revoked" and revoked.audience == [PN_GROUP, CENTRE_GROUP]
    data = revoked.data["grant"]
    assert (data["revoke_reason"], data["end_reason"]) == ("Fin de l'intervention", "revoked")
    assert data["ended_at"] is not None
    # Once is enough: revoking again changes and announces nothing.
    before = last_event_id()
    again = scene["op_api"].post(f"/api/streaming/grants/{made['id']}/revoke/", {"reason": "encore"})
    assert again.json()["revoke_reason"] == "Fin de l'intervention" and grant_events(before) == []
    refused = scene["op_api"].post(f"/api/streaming/grants/{made['id']}/extend/", {"minutes": 10})
    assert refused.status_code == 409
    assert refused.json()["detail"] == {"grant": ["Ce renvoi d'images a pris fin : faites-en un nouveau."]}


# --- A grant ends by itself: expired, incident closed, no longer shared. The images stop at once
# (the rule the video watchdog applies), and the sweep tells the screens why.


def _ended(scene):
    return [e for e in grant_events() if e.type == "grant.ended"]


@pytest.mark.django_db
def test_closing_the_incident_ends_its_grants(scene):
    grant(scene)
    incident = Incident.objects.get(pk=scene["incident"]["id"])
    incident_transition(incident=incident, status="closed", member=scene["operator"])
    assert camera_view_denial(scene["agent"], scene["camera"]) == "no_active_grant"
    listed = scene["op_api"].get(f"/api/streaming/grants/?incident={incident.pk}").json()
    assert (listed[0]["active"], listed[0]["end_reason"]) == (False, "incident_closed")
    assert grants_end_sweep() == 1
    (ended,) = _ended(scene)
    assert ended.audience == [PN_GROUP, CENTRE_GROUP]
    assert ended.data["grant"]["end_reason"] == "incident_closed"
    assert grants_end_sweep() == 0 and len(_ended(scene)) == 1  # announced once


@pytest.mark.django_db
def test_unsharing_the_incident_ends_the_agency_s_grants(scene):
    grant(scene)
    incident = Incident.objects.get(pk=scene["incident"]["id"])
    incident_unshare(incident=incident, agency_code="pn-test", member=scene["operator"])
    assert not active_grants().exists()
    assert camera_view_denial(scene["agent"], scene["camera"]) == "no_active_grant"
    assert grants_end_sweep() == 1
    assert _ended(scene)[0].data["grant"]["end_reason"] == "unshared"


@pytest.mark.django_db
def test_an_expired_grant_lets_no_one_in_and_is_announced(scene):
    made = grant(scene).json()
    Grant.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert camera_view_denial(scene["agent"], scene["camera"]) == "no_active_grant"
    assert grants_end_sweep() == 1
    (ended,) = _ended(scene)
    assert (ended.data["grant"]["id"], ended.data["grant"]["end_reason"]) == (made["id"], "expired")
    assert ended.data["grant"]["ended_at"] == ended.data["grant"]["expires_at"]


@pytest.mark.django_db
def test_an_end_long_past_is_recorded_without_news(scene):
    grant(scene)
    Grant.objects.update(expires_at=timezone.now() - dt.timedelta(days=2))
    assert grants_end_sweep() == 1
    assert Grant.objects.get().end_reason == "expired" and _ended(scene) == []


@pytest.mark.django_db
def test_an_active_grant_is_left_alone_by_the_sweep(scene):
    grant(scene)
    assert grants_end_sweep() == 0
    assert Grant.objects.get().ended_at is None


@pytest.mark.django_db
def test_an_expired_habilitation_removes_the_right_at_once(scene):
    grant(scene)
    member = scene["agent"]
    member.habilitation_valid_until = timezone.localdate() - dt.timedelta(days=1)
    member.save()
    assert camera_view_denial(member, scene["camera"]) == "no_valid_habilitation"


# --- Who watches a grant: the viewings the video side journals, seen from any process.


@pytest.mark.django_db
def test_the_viewers_of_a_grant_are_listed_and_announced(scene):
    made = Grant.objects.get(pk=grant(scene).json()["id"])
    agent = scene["agent"].user
    agent.first_name, agent.last_name = "Julie", "Martin"
    agent.save()
    before = last_event_id()
    viewing_start(viewer=agent, camera=scene["camera"], grant=made, session="s1")
    listed = scene["op_api"].get(f"/api/streaming/grants/?incident={made.incident_id}").json()
    assert [(v["username"], v["name"]) for v in listed[0]["viewers"]] == [(agent.username, "Julie Martin")]
    (joined,) = grant_events(before)
    assert joined.type == "grant.viewers" and joined.audience == [PN_GROUP, CENTRE_GROUP]
    assert joined.data["grant_id"] == made.pk
    assert [v["name"] for v in joined.data["viewers"]] == ["Julie Martin"]

    viewing_end(viewer_id=agent.pk, camera_id=scene["camera"].pk, grant_id=made.pk, session="s1",
                reason="hangup", seconds=12)
    left = grant_events(before)[-1]
    assert left.type == "grant.viewers" and left.data["viewers"] == []
    assert scene["op_api"].get("/api/streaming/grants/").json()[0]["viewers"] == []
    assert Viewing.objects.get().end_reason == "hangup"
    # A second end of the same session (the journal of a cut viewing) is not news, nor journalled.
    assert viewing_end(viewer_id=agent.pk, camera_id=scene["camera"].pk, grant_id=made.pk, session="s1",
                       reason="connection_closed", seconds=13) is None
    assert len(grant_events(before)) == 2
    ends = AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END)
    assert list(ends.values_list("reason", flat=True)) == ["hangup"]
    assert Viewing.objects.get().end_reason == "hangup"


@pytest.mark.django_db
def test_a_hang_up_of_a_viewing_that_ended_is_done_for_its_viewer_only(scene):
    """The viewing ended in a process that is gone (its memory with it): the journal says it
    ended, so its viewer's DELETE is done; anyone else's, and an unknown session, are 404."""
    operator = scene["operator"]
    viewing_start(viewer=operator.user, camera=scene["camera"], grant=None, session="c2")
    url = "/api/streaming/whep/c2"
    assert scene["op_api"].delete(url).status_code == 404  # open, but held by no process here
    viewing_end(viewer_id=operator.user.pk, camera_id=scene["camera"].pk, grant_id=None, session="c2",
                reason="server_stopped", seconds=3)
    assert scene["op_api"].delete(url).status_code == 204
    other = factories.TokenClient().as_member(factories.make_member(role="operator"))
    assert other.delete(url).status_code == 404
    assert scene["op_api"].delete("/api/streaming/whep/c3").status_code == 404
    assert AuditRecord.objects.filter(action=Action.CAMERA_VIEW_END).count() == 1


@pytest.mark.django_db
def test_the_centre_s_own_viewings_announce_nothing(scene):
    viewing_start(viewer=scene["operator"].user, camera=scene["camera"], grant=None, session="c1")
    viewing_end(viewer_id=scene["operator"].user.pk, camera_id=scene["camera"].pk, grant_id=None,
                session="c1", reason="hangup", seconds=3)
    assert grant_events() == []


# --- What the console reads about cameras before acting on their images.


@pytest.mark.django_db
def test_camera_facts_say_whether_it_is_recorded_and_until_when_it_may_be_shared(scene, settings):
    recorded = scene["camera"]
    planned = factories.make_camera(code="95428-s002-pano")
    bare = factories.make_camera(code="95428-s003-fixe")
    today = timezone.localdate()
    factories.make_authorisation(cameras=[planned], recipients=["GN"],
                                 valid_until=today + dt.timedelta(days=3))
    now = timezone.now()
    RecordingSegment.objects.create(camera=recorded, start=now - dt.timedelta(minutes=1), end=now,
                                    path="x.ts")
    RecordingPlan.objects.create(camera=planned)
    answer = scene["op_api"].get(f"/api/streaming/cameras/?ids={bare.pk},{recorded.pk},{planned.pk}").json()
    assert (answer["grant_default_minutes"], answer["grant_max_minutes"]) == (
        settings.HUB_GRANT_DEFAULT_MINUTES, settings.HUB_GRANT_MAX_MINUTES)
    facts = {c["code"]: c for c in answer["cameras"]}
    assert [c["id"] for c in answer["cameras"]] == [bare.pk, recorded.pk, planned.pk]
    assert (facts["95428-s001-ptz"]["recorded"], facts["95428-s002-pano"]["recorded"],
            facts["95428-s003-fixe"]["recorded"]) == (True, True, False)
    assert facts["95428-s003-fixe"]["authorised"] is False
    assert facts["95428-s003-fixe"]["authorisation_ends"] == {}
    assert set(facts["95428-s001-ptz"]["authorisation_ends"]) == {"PN", "PM", "GN", "SDIS"}
    end = dt.datetime.fromisoformat(facts["95428-s002-pano"]["authorisation_ends"]["GN"])
    # Valid until the 3rd day included: it ends at the midnight that starts the 4th.
    assert timezone.localtime(end) == timezone.make_aware(
        dt.datetime.combine(today + dt.timedelta(days=4), dt.time.min))
    # Written in Paris time, with its offset, like every other time of the API.
    assert facts["95428-s002-pano"]["authorisation_ends"]["GN"] == timezone.localtime(end).isoformat()

    bad = scene["op_api"].get("/api/streaming/cameras/?ids=1,x")
    assert bad.status_code == 400
    agent_api = factories.TokenClient().as_member(scene["agent"])
    assert agent_api.get(f"/api/streaming/cameras/?ids={recorded.pk}").status_code == 403


@pytest.mark.django_db
def test_a_grant_made_in_the_service_stops_at_the_authorisation_s_midnight(scene):
    today = timezone.localdate()
    scene["camera"].authorisations.update(valid_until=today)
    # Eleven o'clock at night, Paris time: one hour left, so 60 minutes fit and 61 do not.
    late = timezone.make_aware(dt.datetime.combine(today, dt.time(23, 0)))
    incident = Incident.objects.get(pk=scene["incident"]["id"])
    made = grant_create(camera=scene["camera"], agency_code="pn-test", incident=incident,
                        granted_by=scene["operator"].user, minutes=60, now=late)
    assert timezone.localtime(made.expires_at).time() == dt.time(0, 0)
    from streaming.services import BeyondAuthorisation

    with pytest.raises(BeyondAuthorisation, match="60 minutes au plus"):
        grant_create(camera=scene["camera"], agency_code="pn-test", incident=incident,
                     granted_by=scene["operator"].user, minutes=61, now=late)
