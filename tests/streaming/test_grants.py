"""Grants of live images: who may be given what, and who may watch (the rights model)."""

import datetime as dt

import pytest
from django.utils import timezone

from partners.audit import Action
from partners.choices import AgencyKind
from partners.models import AuditRecord
from streaming.models import Grant
from streaming.selectors import camera_view_denial
from tests import factories

POINT = {"type": "Point", "coordinates": [2.3222, 48.9883]}


@pytest.fixture
def scene(db, area, operator):
    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera], recipients=["PN", "PM", "GN", "SDIS"])
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    agent = factories.make_member(role="partner_agent", agency=pn, habilitation_reference="HAB-1",
                                  habilitation_valid_until=timezone.localdate() + dt.timedelta(days=30))
    op_api = factories.TokenClient().as_member(operator)
    incident = op_api.post("/api/incidents/", {"nature": "rixe", "location": POINT,
                                               "description": "Rixe"}).json()
    return {"camera": camera, "agent": agent, "op_api": op_api, "incident": incident, "pn": pn}


def grant(scene, agency="pn-test", minutes=None):
    body = {"camera": scene["camera"].pk, "agency": agency, "incident": scene["incident"]["id"]}
    if minutes is not None:
        body["minutes"] = minutes
    return scene["op_api"].post("/api/streaming/grants/", body)


@pytest.mark.django_db
def test_a_partner_watches_only_under_an_active_grant(scene):
    agent, camera = scene["agent"], scene["camera"]
    assert camera_view_denial(agent, camera) == "no_active_grant"
    response = grant(scene)
    assert response.status_code == 201, response.json()
    assert camera_view_denial(agent, camera) is None
    # The incident was shared with the agency along the way.
    assert "pn-test" in response.json()["agency"]
    agent_api = factories.TokenClient().as_member(agent)
    assert [g["id"] for g in agent_api.get("/api/streaming/grants/").json()] == [response.json()["id"]]
    assert agent_api.get(f"/api/incidents/{scene['incident']['id']}/").status_code == 200
    revoke = scene["op_api"].post(f"/api/streaming/grants/{response.json()['id']}/revoke/", {"reason": "fin"})
    assert revoke.status_code == 200 and revoke.json()["active"] is False
    assert camera_view_denial(agent, camera) == "no_active_grant"
    actions = set(AuditRecord.objects.values_list("action", flat=True))
    assert {Action.GRANT_CREATED, Action.GRANT_REVOKED} <= actions


@pytest.mark.django_db
def test_an_expired_grant_lets_no_one_in(scene):
    grant(scene)
    Grant.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert camera_view_denial(scene["agent"], scene["camera"]) == "no_active_grant"


@pytest.mark.django_db
def test_an_expired_habilitation_removes_the_right_at_once(scene):
    grant(scene)
    member = scene["agent"]
    member.habilitation_valid_until = timezone.localdate() - dt.timedelta(days=1)
    member.save()
    assert camera_view_denial(member, scene["camera"]) == "no_valid_habilitation"


@pytest.mark.django_db
def test_the_croix_rouge_never_gets_video(scene):
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    crf_member = factories.make_member(role="partner_agent", agency=crf, habilitation_reference="X")
    response = grant(scene, agency="crf-test")
    assert response.status_code == 403 and response.json()["error"] == "video_not_allowed"
    assert not Grant.objects.exists()
    assert camera_view_denial(crf_member, scene["camera"]) == "crf_never_receives_video"


@pytest.mark.django_db
def test_a_service_not_listed_in_the_authorisation_gets_nothing(scene):
    factories.make_agency(kind=AgencyKind.SDIS, code="sdis-test")
    scene["camera"].authorisations.update(recipients=["PN"])
    assert grant(scene, agency="sdis-test").status_code == 403


@pytest.mark.django_db
def test_no_camera_without_an_authorisation_in_force(scene, operator):
    scene["camera"].authorisations.update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    assert camera_view_denial(operator, scene["camera"]) == "no_valid_authorisation"
    assert grant(scene).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(("minutes", "status"), [(0, 400), (10_000, 400), (15, 201)])
def test_grant_duration_is_bounded(scene, minutes, status):
    assert grant(scene, minutes=minutes).status_code == status


@pytest.mark.django_db
def test_partners_cannot_grant(scene):
    agent_api = factories.TokenClient().as_member(scene["agent"])
    response = agent_api.post("/api/streaming/grants/", {"camera": scene["camera"].pk, "agency": "pn-test",
                                                         "incident": scene["incident"]["id"]})
    assert response.status_code == 403
