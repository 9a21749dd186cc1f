"""The requisitions' REST API: record (holds at once), validation, extraction, files, hand-over,
hold release; who may do what."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import time_machine
from django.utils import timezone

from partners.models import AuditRecord
from realtime.models import Event
from recordings.manifest import verify_export
from recordings.models import LegalHold, Requisition
from recordings.requisitions import requisition_extract, requisition_handover
from recordings.storage import recording_store
from tests import factories
from tests.recordings.test_export import centre_fingerprint, record
from tests.recordings.test_retention_exports import extract

URL = "/api/streaming/requisitions/"


def body(camera, **over):
    now = timezone.now()
    data = {"officer": "OPJ Martin", "service": "SR Cergy", "procedure_number": "2026/901",
            "legal_basis": "Art. 60-1 CPP", "cameras": [camera.pk],
            "start": (now - dt.timedelta(hours=2)).isoformat(),
            "end": (now - dt.timedelta(hours=1)).isoformat()}
    data.update(over)
    return data


@pytest.fixture
def camera(area):
    return factories.make_camera()


def test_an_operator_records_a_requisition_and_it_holds_at_once(api, operator, camera):
    answer = api.as_member(operator).post(URL, body(camera), format="json")
    assert answer.status_code == 201, answer.content
    data = answer.json()
    assert data["status"] == "pending" and data["progress"] == 0 and data["files"] == []
    assert data["cameras"] == [{"id": camera.pk, "code": camera.code, "name": camera.name}]
    assert [h["camera"] for h in data["holds"]] == [camera.pk]
    assert LegalHold.objects.filter(requisition_id=data["id"]).count() == 1
    listed = api.get(URL).json()
    assert [r["id"] for r in listed] == [data["id"]]
    assert api.get(f"{URL}{data['id']}/").json()["procedure_number"] == "2026/901"


def test_camera_codes_are_accepted(api, operator, camera):
    answer = api.as_member(operator).post(URL, body(camera, cameras=[], camera_codes=[camera.code]))
    assert answer.status_code == 201 and answer.json()["cameras"][0]["code"] == camera.code


@pytest.mark.parametrize(("over", "field"), [
    ({"procedure_number": ""}, "procedure_number"),
    ({"procedure_number": "   "}, "procedure_number"),
    ({"officer": ""}, "officer"),
    ({"cameras": []}, "cameras"),
    ({"cameras": [999999]}, "cameras"),
    ({"start": "pas une date"}, "start"),
    ("reversed", "end"),
    ("future", "end"),
    ("too_long", "start"),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(api, operator, camera, over, field):
    now = timezone.now()
    if over == "reversed":
        over = {"start": (now - dt.timedelta(hours=1)).isoformat(),
                "end": (now - dt.timedelta(hours=2)).isoformat()}
    elif over == "future":
        over = {"end": (now + dt.timedelta(hours=1)).isoformat()}
    elif over == "too_long":
        over = {"start": (now - dt.timedelta(hours=30)).isoformat()}
    answer = api.as_member(operator).post(URL, body(camera, **over))
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["detail"]
    assert not Requisition.objects.exists() and not LegalHold.objects.exists()
    assert not AuditRecord.objects.filter(action="requisition_created").exists()


def test_a_window_over_the_hour_the_autumn_change_repeats_is_one_hour_long(api, operator, camera):
    """In the night of 25 October 2026, 02:00 to 02:59 Paris time happen twice (CEST, then CET):
    from the first 02:00 to the second is an hour, not a window that ends when it starts."""
    window = {"start": "2026-10-25T02:00:00+02:00", "end": "2026-10-25T02:00:00+01:00"}
    with time_machine.travel(dt.datetime(2026, 10, 25, 6, tzinfo=dt.UTC)):
        answer = api.as_member(operator).post(URL, body(camera, **window), format="json")
    assert answer.status_code == 201, answer.content
    assert (answer.json()["start"], answer.json()["end"]) == (window["start"], window["end"])
    requisition = Requisition.objects.get()
    assert requisition.window_end - requisition.window_start == dt.timedelta(hours=1)


@pytest.mark.parametrize("role", ["partner_agent", "auditor"])
def test_partners_and_auditors_get_nothing(api, camera, role):
    member = factories.make_member(role=role)
    owner = factories.make_member(role="operator")
    created = factories.TokenClient().as_member(owner).post(URL, body(camera)).json()
    api.as_member(member)
    assert api.post(URL, body(camera)).status_code == 403
    assert api.get(URL).status_code == 403
    assert api.get(f"{URL}{created['id']}/").status_code == 403
    assert api.post(f"{URL}{created['id']}/extract/").status_code == 403
    assert api.post(f"{URL}{created['id']}/handover/", {}).status_code == 403
    assert api.get(f"{URL}{created['id']}/files/manifest.json").status_code == 403
    assert Requisition.objects.count() == 1


def test_extraction_files_download_and_handover(api, operator, area, any_storage,  # noqa: F811
                                                django_capture_on_commit_callbacks, monkeypatch, settings):
    """On a directory, then on SeaweedFS (the files read from the store by ranges)."""
    camera = factories.make_camera()
    segments = record(camera)
    start = segments[0].start + dt.timedelta(seconds=0.2)
    end = segments[-1].end - dt.timedelta(seconds=0.1)
    api.as_member(operator)
    created = api.post(URL, body(camera, start=start.isoformat(), end=end.isoformat())).json()
    pk = created["id"]
    # Before the extraction: nothing to download, no hand-over.
    assert api.get(f"{URL}{pk}/files/manifest.json").status_code == 404
    assert api.post(f"{URL}{pk}/handover/", {}).status_code == 409

    queued = []
    monkeypatch.setattr("recordings.tasks.requisition_extract.delay", lambda rid: queued.append(rid))
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(f"{URL}{pk}/extract/")
    assert answer.status_code == 202 and queued == [pk]
    start_id = Event.objects.order_by("-id").values_list("id", flat=True).first() or 0
    requisition_extract(requisition_id=pk)  # what the worker runs
    progress = [e.data["requisition"] for e in Event.objects.filter(
        id__gt=start_id, type="requisition.progress").order_by("id")]
    assert progress[0]["status"] == "running" and progress[-1] == {
        "id": pk, "procedure_number": "2026/901", "status": "done", "progress": 100, "error": ""}
    percents = [p["progress"] for p in progress]
    assert percents == sorted(percents) and len(set(percents)) >= 3
    assert Event.objects.filter(type="requisition.progress").latest("id").audience == ["csu"]

    data = api.get(f"{URL}{pk}/").json()
    assert data["status"] == "done" and data["progress"] == 100
    names = {f["name"]: f for f in data["files"]}
    assert set(names) == {f"{camera.code}.mp4", "manifest.json", "manifest.sig", "hub-public-key.pem"}
    downloaded = any_storage / "downloaded"
    downloaded.mkdir()
    for name, info in names.items():
        response = api.get(info["url"])
        assert response.status_code == 200, name
        content = b"".join(response.streaming_content)
        assert hashlib.sha256(content).hexdigest() == info["sha256"]
        (downloaded / name).write_bytes(content)
    # What the requesting service receives checks out against the centre's key.
    assert verify_export(downloaded, fingerprint=centre_fingerprint()) == []
    if recording_store().kind == "s3":  # served from the store: no copy left on the hub's disk
        assert not list((any_storage / "exports").glob("requisition-*"))
    assert api.post(f"{URL}{pk}/extract/").status_code == 409
    assert api.get(f"{URL}{pk}/files/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert api.get(f"{URL}{pk}/files/other.mp4").status_code == 404

    answer = api.post(f"{URL}{pk}/handover/", {"recipient": "OPJ Martin, SR Cergy, en main propre"})
    assert answer.status_code == 200
    assert answer.json()["handovers"][0]["recipient"] == "OPJ Martin, SR Cergy, en main propre"
    assert AuditRecord.objects.filter(action="handover").count() == 1

    # Downloads are the centre's only.
    partner = factories.TokenClient().as_member(factories.make_member(role="partner_agent"))
    assert partner.get(names["manifest.json"]["url"]).status_code == 403

    if recording_store().kind == "s3":
        # The store down: a clear error in French, not a broken file nor a 500.
        settings.HUB_S3_ENDPOINT = "http://127.0.0.1:9"  # discard: nothing answers S3 there
        for path in (names[f"{camera.code}.mp4"]["url"], f"{URL}{pk}/"):
            response = api.get(path)
            assert response.status_code == 503, path
            assert response.json()["error"] == "unavailable"
            assert "stockage objet" in response.json()["detail"]


@pytest.mark.parametrize(("moment", "shown"), [
    (dt.datetime(2026, 12, 7, 14, 30, tzinfo=dt.UTC), "2026-12-07T15:30:00+01:00"),
    (dt.datetime(2027, 7, 1, 6, 5, tzinfo=dt.UTC), "2027-07-01T08:05:00+02:00"),
])
def test_a_handover_is_timed_in_paris_time_like_the_rest_of_the_api(api, operator, area, storage,
                                                                    moment, shown):
    """The hand-over's time is written like every other time of the answer: Paris time with its
    offset (winter and summer), not UTC."""
    camera = factories.make_camera()
    requisition = extract(operator, [camera])
    # The service at the moment (the API's credentials live on the real clock), read over the API.
    with time_machine.travel(moment, tick=False):
        requisition_handover(requisition=requisition, by=operator.user,
                             recipient="OPJ Martin, en main propre")
    answer = api.as_member(operator).get(f"{URL}{requisition.pk}/")
    assert answer.json()["handovers"] == [{"at": shown, "by": operator.user.username,
                                           "recipient": "OPJ Martin, en main propre"}]
    assert [r["handovers"][0]["at"] for r in api.get(URL).json()] == [shown]


def test_only_a_supervisor_releases_a_hold_with_a_reason(api, operator, supervisor, camera):
    created = factories.TokenClient().as_member(operator).post(URL, body(camera)).json()
    hold = created["holds"][0]["id"]
    url = f"/api/streaming/holds/{hold}/release/"
    assert api.as_member(operator).post(url, {"reason": "classement"}).status_code == 403
    partner = factories.TokenClient().as_member(factories.make_member(role="partner_agent"))
    assert partner.post(url, {"reason": "classement"}).status_code == 403
    api.as_member(supervisor)
    answer = api.post(url, {"reason": ""})
    assert answer.status_code == 400 and "reason" in answer.json()["detail"]
    assert LegalHold.objects.get(pk=hold).released_at is None
    answer = api.post(url, {"reason": "Classement sans suite"})
    assert answer.status_code == 200 and answer.json()["release_reason"] == "Classement sans suite"
    assert answer.json()["released_by"] == supervisor.user.username
    assert api.post(url, {"reason": "encore"}).status_code == 409
    assert AuditRecord.objects.filter(action="hold_released").count() == 1


@pytest.mark.django_db
def test_the_schema_says_a_hold_may_have_no_releaser(api, operator):
    """``released_by`` is null until a supervisor releases the hold: the schema must say so, or
    generated clients refuse every hold in force."""
    schema = api.as_member(operator).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    released_by = schema["components"]["schemas"]["HoldOutput"]["properties"]["released_by"]
    assert released_by.get("nullable") is True, released_by
