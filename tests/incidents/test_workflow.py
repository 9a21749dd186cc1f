"""Incident lifecycle over the REST API: transitions, versions, idempotency, the journal."""

import pytest
from django.db import IntegrityError, InternalError, ProgrammingError, transaction

from incidents.models import Incident, JournalEntry
from partners.choices import AgencyKind
from tests import factories

POINT = {"type": "Point", "coordinates": [2.3222, 48.9883]}


def create(api, **overrides):
    body = {"nature": "rixe", "priority": 2, "location": POINT, "address": "Place du marché",
            "description": "Rixe, cinq individus", **overrides}
    return api.post("/api/incidents/", body)


@pytest.fixture
def op_api(api, area, operator):
    return api.as_member(operator)


@pytest.mark.django_db
def test_create_gives_reference_commune_and_an_opening_journal_line(op_api):
    response = create(op_api)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["reference"].startswith("CSU-20") and len(body["reference"]) == 15
    assert body["commune_name"] == "Montmorency"
    detail = op_api.get(f"/api/incidents/{body['id']}/").json()
    assert [e["kind"] for e in detail["journal"]] == ["opened"]
    assert "suggested_cameras" in detail


@pytest.mark.django_db
def test_references_follow_each_other(op_api):
    first = create(op_api).json()["reference"]
    second = create(op_api).json()["reference"]
    assert int(second[-6:]) == int(first[-6:]) + 1


@pytest.mark.django_db
@pytest.mark.parametrize(("overrides", "field"), [
    ({"nature": "licorne"}, "nature"),
    ({"location": {"type": "Point", "coordinates": [2.0, 48.5]}}, "location"),
    ({"description": ""}, "description"),
    ({"description": "x" * 20_000}, "description"),
    ({"priority": 7}, "priority"),
])
def test_bad_input_is_refused_and_writes_nothing(op_api, overrides, field):
    response = create(op_api, **overrides)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert Incident.objects.count() == 0
    assert JournalEntry.objects.count() == 0


@pytest.mark.django_db
def test_allowed_transitions_only(op_api):
    incident = create(op_api).json()
    url = f"/api/incidents/{incident['id']}/transitions/"
    assert op_api.post(url, {"status": "engaged"}).json()["status"] == "engaged"
    refused = op_api.post(url, {"status": "open"})
    assert refused.status_code == 409 and refused.json()["error"] == "transition_not_allowed"
    closed = op_api.post(url, {"status": "closed", "comment": "Fin d'intervention"}).json()
    assert closed["status"] == "closed"
    assert [e["kind"] for e in closed["journal"]] == ["opened", "status", "closed"]
    assert op_api.post(url, {"status": "cancelled"}).status_code == 409


@pytest.mark.django_db
def test_concurrent_update_with_a_stale_version_is_refused(op_api):
    incident = create(op_api).json()
    url = f"/api/incidents/{incident['id']}/"
    first = op_api.patch(url, {"version": incident["version"], "priority": 1})
    assert first.status_code == 200 and first.json()["priority"] == 1
    second = op_api.patch(url, {"version": incident["version"], "priority": 3})
    assert second.status_code == 409 and second.json()["error"] == "stale_version"
    assert Incident.objects.get(pk=incident["id"]).priority == 1


@pytest.mark.django_db
def test_idempotency_key_replays_the_same_answer_without_a_second_write(op_api):
    headers = {"HTTP_IDEMPOTENCY_KEY": "tablet-42-0001"}
    body = {"nature": "vol", "location": POINT, "description": "Vol à l'arraché"}
    first = op_api.post("/api/incidents/", body, **headers)
    again = op_api.post("/api/incidents/", body, **headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Incident.objects.count() == 1
    other = op_api.post("/api/incidents/", {"nature": "vol", "location": POINT, "description": "Autre"},
                        **headers)
    assert other.status_code == 422
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_journal_append_is_idempotent_too(op_api):
    incident = create(op_api).json()
    url = f"/api/incidents/{incident['id']}/journal/"
    for _ in range(3):
        assert op_api.post(url, {"text": "PM sur place"}, HTTP_IDEMPOTENCY_KEY="k1").status_code == 201
    assert JournalEntry.objects.filter(incident_id=incident["id"], kind="note").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_database_refuses_to_edit_or_delete_a_journal_entry(area, operator, api):
    incident = create(api.as_member(operator)).json()
    entry = JournalEntry.objects.get(incident_id=incident["id"])
    with pytest.raises((InternalError, ProgrammingError, IntegrityError)), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).update(text="réécrit")
    with pytest.raises((InternalError, ProgrammingError, IntegrityError)), transaction.atomic():
        JournalEntry.objects.filter(pk=entry.pk).delete()
    assert JournalEntry.objects.get(pk=entry.pk).text == "Rixe, cinq individus"


@pytest.mark.django_db
def test_a_correction_is_a_new_entry_pointing_at_the_old_one(op_api):
    incident = create(op_api).json()
    url = f"/api/incidents/{incident['id']}/journal/"
    wrong = op_api.post(url, {"text": "Véhicule bleu"}).json()
    fixed = op_api.post(url, {"text": "Véhicule vert, pas bleu", "corrects": wrong["id"]}).json()
    assert fixed["corrects"] == wrong["id"]
    assert JournalEntry.objects.get(pk=wrong["id"]).text == "Véhicule bleu"


@pytest.mark.django_db
def test_filters(op_api):
    create(op_api, nature="vol", description="Vol de scooter rue Carnot")
    create(op_api, nature="rixe")
    assert [i["nature"] for i in op_api.get("/api/incidents/?nature=vol").json()] == ["vol"]
    assert len(op_api.get("/api/incidents/?q=scooter").json()) == 1
    assert len(op_api.get("/api/incidents/?bbox=2.31,48.98,2.33,48.99&status=open").json()) == 2
    assert op_api.get("/api/incidents/?bbox=2.0,48.0,2.1,48.1").json() == []
    assert op_api.get("/api/incidents/?status=bogus").status_code == 400
    assert op_api.get("/api/incidents/?since=yesterday").status_code == 400


@pytest.mark.django_db
def test_sharing_and_the_crf_never_sees_camera_lines(op_api, api):
    camera = factories.make_camera()
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    crf_member = factories.make_member(role="partner_agent", agency=crf)
    incident = create(op_api).json()
    assert op_api.post(f"/api/incidents/{incident['id']}/shares/", {"agency": "nope"}).status_code == 400
    assert op_api.post(f"/api/incidents/{incident['id']}/shares/", {"agency": "crf-test"}).status_code == 201
    assert op_api.post(f"/api/incidents/{incident['id']}/cameras/", {"camera": camera.pk}).status_code == 201
    crf_api = factories.TokenClient().as_member(crf_member)
    seen = crf_api.get(f"/api/incidents/{incident['id']}/").json()
    assert "camera" not in [e["kind"] for e in seen["journal"]]
    assert "suggested_cameras" not in seen and "cameras" not in seen
    other = factories.TokenClient().as_member(factories.make_member(role="partner_agent"))
    assert other.get(f"/api/incidents/{incident['id']}/").status_code == 404


@pytest.mark.django_db
def test_a_correction_points_only_at_a_line_its_author_may_see(op_api):
    """The Croix-Rouge does not see camera lines: it cannot correct one either (nor learn it
    exists); a line of another incident is refused the same way."""
    from incidents.services.journal import journal_camera_note

    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    crf_api = factories.TokenClient().as_member(factories.make_member(role="partner_agent", agency=crf))
    incident = create(op_api).json()
    assert op_api.post(f"/api/incidents/{incident['id']}/shares/", {"agency": "crf-test"}).status_code == 201
    camera_line = journal_camera_note(incident=Incident.objects.get(pk=incident["id"]),
                                      member=factories.make_member(role="operator"),
                                      text="Capture de la caméra 95428-s042-ptz")
    note = crf_api.post(f"/api/incidents/{incident['id']}/journal/", {"text": "Maraude sur place"}).json()
    journal = f"/api/incidents/{incident['id']}/journal/"

    hidden = crf_api.post(journal, {"text": "Correction", "corrects": camera_line.pk})
    missing = crf_api.post(journal, {"text": "Correction", "corrects": 999_999})
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert not JournalEntry.objects.filter(corrects=camera_line).exists()

    assert crf_api.post(journal, {"text": "Correction", "corrects": note["id"]}).status_code == 201
    # The centre sees camera lines, and may correct them.
    assert op_api.post(journal, {"text": "Correction", "corrects": camera_line.pk}).status_code == 201
