"""Snapshots (*captures d'image*): the recorded picture at a moment, masked, name and time burned
in, journalled; the errors say what is missing; the retention rule destroys them unless held."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import numpy as np
import pytest
from django.utils import timezone
from PIL import Image

from incidents.models import JournalEntry
from incidents.services.incidents import incident_create
from partners.models import AuditRecord
from recordings.models import DestructionRecord, LegalHold, Snapshot
from recordings.requisitions import RecordingGone, hold_release, requisition_create
from recordings.retention import retention_sweep
from recordings.snapshots import NoRecording, snapshot_open, snapshot_take
from recordings.storage import recording_store
from tests import factories
from tests.recordings.test_export import record


@pytest.fixture
def recorded(area, any_storage):
    """Two segments of a camera, in a directory, then on SeaweedFS (``any_storage``)."""
    camera = factories.make_camera()
    return camera, record(camera, segments=2)


def stored(snapshot: Snapshot) -> bool:
    return recording_store().exists(snapshot.path)


def luma(snapshot: Snapshot) -> np.ndarray:
    return np.asarray(Image.open(snapshot_open(snapshot)).convert("L"))


def test_the_latest_picture_is_saved_hashed_and_journalled(recorded, operator, settings):
    camera, segments = recorded
    snapshot = snapshot_take(camera=camera, by=operator.user)
    data = snapshot_open(snapshot).read()
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    assert Image.open(io.BytesIO(data)).size == (160, 96)
    assert snapshot.sha256 == hashlib.sha256(data).hexdigest() and snapshot.size == len(data)
    # The last picture of the last segment, not a moment past it.
    assert segments[-1].start <= snapshot.taken_at < segments[-1].end
    assert segments[-1].end - snapshot.taken_at <= dt.timedelta(seconds=0.1)
    record = AuditRecord.objects.get(action="snapshot")
    assert record.details["camera"] == camera.code and record.details["sha256"] == snapshot.sha256
    assert not list(settings.HUB_RECORDINGS_DIR.rglob("*.part"))


def test_a_moment_gives_the_picture_shown_then(recorded, operator):
    camera, segments = recorded
    at = segments[0].start + dt.timedelta(seconds=0.26)
    snapshot = snapshot_take(camera=camera, by=operator.user, at=at)
    # 20 pictures a second: the one shown at ``at`` began at most 50 ms before it.
    assert at - dt.timedelta(milliseconds=51) <= snapshot.taken_at <= at


def test_masks_are_black_and_the_name_and_time_burned_in(area, storage, operator, supervisor):
    from cameras.services import mask_create

    camera = factories.make_camera()
    mask = mask_create(camera=camera, polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]], label="Façade",
                       created_by=supervisor.user)
    record(camera, segments=1)
    snapshot = snapshot_take(camera=camera, by=operator.user)
    assert snapshot.masks_applied == [{"id": mask.pk, "label": "Façade"}]
    picture = luma(snapshot)
    height, width = picture.shape
    assert picture[2:height * 2 // 3, 2:width // 2 - 4].max() <= 30  # JPEG ringing at most
    assert picture[:, width // 2 + 4:].mean() > 40
    assert (picture[height * 2 // 3:, width // 2:] >= 200).any()  # the glyphs of the name and time


def test_a_snapshot_for_an_incident_goes_in_its_main_courante(recorded, operator):
    camera, _segments = recorded
    incident = incident_create(member=operator, nature="rixe", location=factories.CENTRE,
                               description="Rixe devant la gare")
    snapshot = snapshot_take(camera=camera, by=operator.user, incident=incident)
    entry = JournalEntry.objects.filter(incident=incident, kind="camera").latest("at")
    assert camera.code in entry.text and snapshot.sha256[:16] in entry.text
    assert snapshot.incident == incident


def test_errors_say_what_is_missing_and_write_nothing(recorded, operator, storage):
    camera, segments = recorded
    other = factories.make_camera()
    with pytest.raises(NoRecording, match="n'a aucun enregistrement"):
        snapshot_take(camera=other, by=operator.user)
    with pytest.raises(NoRecording, match="non enregistrée"):
        snapshot_take(camera=camera, by=operator.user, at=segments[0].start - dt.timedelta(hours=1))
    with pytest.raises(Exception, match="dans le futur"):
        snapshot_take(camera=camera, by=operator.user, at=timezone.now() + dt.timedelta(minutes=5))
    with pytest.raises(RecordingGone, match="conservé 14 jours"):
        snapshot_take(camera=camera, by=operator.user, at=timezone.now() - dt.timedelta(days=15))
    assert not Snapshot.objects.exists() and not AuditRecord.objects.filter(action="snapshot").exists()
    assert not list((storage / "recordings").glob("snapshots/**/*.jpg"))


def test_snapshots_follow_the_retention_rule_unless_held(recorded, operator, supervisor):
    camera, segments = recorded
    first = snapshot_take(camera=camera, by=operator.user, at=segments[0].start + dt.timedelta(seconds=0.1))
    second = snapshot_take(camera=camera, by=operator.user, at=segments[1].start + dt.timedelta(seconds=0.1))
    requisition = requisition_create(
        created_by=operator.user, requesting_officer="OPJ Martin", service="SR Cergy",
        procedure_number="2026/900", cameras=[camera], window_start=segments[1].start,
        window_end=segments[1].end, now=timezone.now() + dt.timedelta(seconds=1))
    # Thirteen days on: nothing goes.
    assert retention_sweep(now=timezone.now() + dt.timedelta(days=13)).snapshots == 0
    # Day 14 and a moment: the unheld snapshot and segment go; the held ones stay.
    later = segments[-1].end + dt.timedelta(days=14, seconds=1)
    result = retention_sweep(now=later)
    assert (result.snapshots, result.destroyed) == (1, 1)
    assert list(Snapshot.objects.all()) == [second]
    assert not stored(first) and stored(second)
    line = DestructionRecord.objects.get(object="snapshot")
    assert (line.camera, line.segment_count, line.total_size) == (camera, 1, first.size)
    assert line.period_start == first.taken_at
    # The hold released, the next sweep destroys the rest.
    for hold in LegalHold.objects.filter(requisition=requisition, segment__isnull=True):
        hold_release(hold=hold, by=supervisor.user, reason="Procédure classée")
    assert retention_sweep(now=later + dt.timedelta(minutes=5)).snapshots == 1
    assert not Snapshot.objects.exists() and not stored(second)


def test_a_sweep_killed_after_unlinking_a_snapshot_finishes_on_the_next_run(recorded, operator):
    camera, _segments = recorded
    snapshot = snapshot_take(camera=camera, by=operator.user)
    recording_store().delete(snapshot.path)  # as if the sweep died between the delete and its commit
    result = retention_sweep(now=timezone.now() + dt.timedelta(days=15))
    assert result.snapshots == 1 and result.missing_files >= 1
    assert not Snapshot.objects.exists()
    assert DestructionRecord.objects.get(object="snapshot").segment_count == 1


# --- REST


def test_the_api_takes_lists_and_serves_a_snapshot(recorded, operator, client):
    camera, segments = recorded
    client.force_login(operator.user)
    at = (segments[0].start + dt.timedelta(seconds=0.3)).isoformat()
    response = client.post(f"/api/streaming/cameras/{camera.pk}/snapshots/", {"at": at},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["camera_code"] == camera.code and len(body["sha256"]) == 64
    image = client.get(body["url"])
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg"
    assert hashlib.sha256(b"".join(image.streaming_content)).hexdigest() == body["sha256"]
    listed = client.get(f"/api/streaming/snapshots/?camera={camera.pk}").json()
    assert [s["id"] for s in listed] == [body["id"]]


def test_the_api_refuses_bad_input_and_partners(recorded, operator, client):
    camera, _segments = recorded
    client.force_login(operator.user)
    url = f"/api/streaming/cameras/{camera.pk}/snapshots/"
    response = client.post(url, {"at": "yesterday"}, content_type="application/json")
    assert response.status_code == 400 and "at" in response.json()["detail"]
    response = client.post(url, {"incident": 999999}, content_type="application/json")
    assert response.status_code == 400 and "incident" in response.json()["detail"]
    old = (timezone.now() - dt.timedelta(days=20)).isoformat()
    response = client.post(url, {"at": old}, content_type="application/json")
    assert response.status_code == 410 and response.json()["error"] == "recording_gone"
    other = factories.make_camera()
    response = client.post(f"/api/streaming/cameras/{other.pk}/snapshots/", {},
                           content_type="application/json")
    assert response.status_code == 404 and response.json()["error"] == "no_recording"
    assert not Snapshot.objects.exists()
    partner = factories.make_member(role="partner_agent")
    client.force_login(partner.user)
    assert client.post(url, {}, content_type="application/json").status_code == 403
    assert client.get("/api/streaming/snapshots/").status_code == 403
