"""The recordings' models left streaming for their own app (recordings 0001, streaming 0008) without
touching a table: a database filled while they were streaming's reads the same through the
recordings' models afterwards, and the rights given on them stay given.

The database is taken back to streaming 0007 (before the recordings app existed), filled through
the historical models, then migrated forward; the test always ends on the latest migrations.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from incidents.models import JournalEntry
from tests import factories

STREAMING_0007 = ("streaming", "0007_recorder_nodes")
# Back to streaming 0007 with the recordings app unapplied (which unapplies streaming 0008).
BEFORE = [STREAMING_0007, ("recordings", None)]
MOVED = ["RecordingPlan", "RecordingSegment", "Requisition", "LegalHold", "DestructionRecord", "Snapshot"]
POINT = {"type": "Point", "coordinates": [2.3222, 48.9883]}
T0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


def _migrate(targets, state=None):
    """Migrate to ``targets``; the apps of the state at the nodes ``state`` (default: ``targets``)."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(state or targets).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _fill(old_apps, *, camera, operator, incident_id: int) -> dict:
    """One of each recordings' row, written through streaming's historical models."""
    get = lambda name: old_apps.get_model("streaming", name)  # noqa: E731
    plan = get("RecordingPlan").objects.create(camera_id=camera.pk, enabled=False)
    segments = [get("RecordingSegment").objects.create(
        camera_id=camera.pk, start=T0 + dt.timedelta(minutes=i), end=T0 + dt.timedelta(minutes=i + 1),
        size=1000 + i, sha256=f"{i:064x}", path=f"{camera.code}/20261201/{i}.mp4", created_at=T0)
        for i in range(2)]
    gap = get("RecordingSegment").objects.create(camera_id=camera.pk, start=T0 + dt.timedelta(minutes=2),
                                                 end=T0 + dt.timedelta(minutes=3), is_gap=True, created_at=T0)
    requisition = get("Requisition").objects.create(
        requesting_officer="OPJ Martin", service="Commissariat de Montmorency", procedure_number="2026/123",
        legal_basis="art. 60 CPP", window_start=T0, window_end=T0 + dt.timedelta(minutes=3),
        created_by_id=operator.user_id, created_at=T0, status="done", progress=100,
        export_dir="/srv/exports/requisition-1", export_destroyed_at=T0 + dt.timedelta(days=20))
    requisition.cameras.add(camera.pk)
    camera_hold = get("LegalHold").objects.create(
        requisition_id=requisition.pk, camera_id=camera.pk, window_start=T0,
        window_end=T0 + dt.timedelta(minutes=3), created_at=T0, released_at=T0 + dt.timedelta(days=1),
        released_by_id=operator.user_id, release_reason="Affaire classée")
    segment_hold = get("LegalHold").objects.create(
        requisition_id=requisition.pk, segment_id=segments[0].pk, camera_id=camera.pk,
        window_start=segments[0].start, window_end=segments[0].end, created_at=T0)
    destruction = get("DestructionRecord").objects.create(
        camera_id=camera.pk, object="extraction", requisition_id=requisition.pk, period_start=T0,
        period_end=T0 + dt.timedelta(minutes=3), destroyed_at=T0 + dt.timedelta(days=20),
        segment_count=1, total_size=4096)
    entry = JournalEntry.objects.filter(incident_id=incident_id).order_by("id").first()
    snapshot = get("Snapshot").objects.create(
        camera_id=camera.pk, taken_at=T0 + dt.timedelta(seconds=30), created_at=T0,
        created_by_id=operator.user_id, incident_id=incident_id, path=f"snapshots/{camera.code}/a.jpg",
        size=2048, sha256="ab" * 32, masks_applied=[{"id": 1, "label": "Fenêtre"}],
        journal_entry_id=entry.pk)
    return {"plan": plan, "segments": [*segments, gap], "requisition": requisition,
            "holds": [camera_hold, segment_hold], "destruction": destruction, "snapshot": snapshot}


def _values(row) -> dict:
    """A row's stored values (its columns, by attribute name)."""
    return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}


@pytest.mark.django_db(transaction=True)
def test_rows_written_while_the_recordings_were_streamings_read_the_same_through_the_recordings_app(area):
    camera = factories.make_camera()
    operator = factories.make_member(role="operator")
    incident = factories.TokenClient().as_member(operator).post(
        "/api/incidents/", {"nature": "rixe", "location": POINT, "description": "Rixe"}).json()
    latest = _latest()
    group = None
    try:
        old_apps = _migrate(BEFORE, [STREAMING_0007])
        for name in MOVED:
            assert old_apps.get_model("streaming", name)._meta.db_table == f"streaming_{name.lower()}"
        with pytest.raises(LookupError):
            old_apps.get_app_config("recordings")
        # A right given on the requisitions while they were streaming's.
        ContentType.objects.clear_cache()
        group = Group.objects.create(name="Lecteurs des réquisitions")
        group.permissions.add(Permission.objects.get(content_type__app_label="streaming",
                                                     codename="view_requisition"))
        reader = factories.make_member(role="operator")
        reader.user.groups.add(group)
        before = _fill(old_apps, camera=camera, operator=operator, incident_id=incident["id"])

        new_apps = _migrate(latest)
        ContentType.objects.clear_cache()

        from recordings import models as recordings

        # Streaming's state no longer has them; the recordings' has them, on the same tables.
        for name in MOVED:
            with pytest.raises(LookupError):
                new_apps.get_model("streaming", name)
            assert new_apps.get_model("recordings", name)._meta.db_table == f"streaming_{name.lower()}"
        assert {m.__name__ for m in new_apps.get_app_config("streaming").get_models()} == {
            "Grant", "Viewing", "Wall", "WallTile", "MaskLift", "Node", "CameraLease"}

        for row, model in [(before["plan"], recordings.RecordingPlan),
                           *[(s, recordings.RecordingSegment) for s in before["segments"]],
                           (before["requisition"], recordings.Requisition),
                           *[(h, recordings.LegalHold) for h in before["holds"]],
                           (before["destruction"], recordings.DestructionRecord),
                           (before["snapshot"], recordings.Snapshot)]:
            assert _values(model.objects.get(pk=row.pk)) == _values(row), model.__name__

        # The links between them and to the other apps still resolve, both ways.
        requisition = recordings.Requisition.objects.get(pk=before["requisition"].pk)
        assert list(requisition.cameras.all()) == [camera]
        assert requisition.status == recordings.RequisitionStatus.DONE
        assert sorted(h.pk for h in requisition.holds.all()) == sorted(h.pk for h in before["holds"])
        assert requisition.destructions.get().object == recordings.DestroyedObject.EXTRACTION
        assert recordings.LegalHold.objects.get(pk=before["holds"][1].pk).segment.sha256 == f"{0:064x}"
        assert camera.segments.filter(is_gap=False).count() == 2
        assert camera.recording_plan.enabled is False
        snapshot = JournalEntry.objects.get(pk=before["snapshot"].journal_entry_id).snapshot
        assert snapshot.pk == before["snapshot"].pk and snapshot.incident_id == incident["id"]

        # The content types moved with them (same rows), so the right given before is still held.
        for name in MOVED:
            assert not ContentType.objects.filter(app_label="streaming", model=name.lower()).exists()
            assert ContentType.objects.get_for_model(getattr(recordings, name)).app_label == "recordings"
        user = type(reader.user).objects.get(pk=reader.user_id)
        assert user.has_perm("recordings.view_requisition")
        assert not user.has_perm("recordings.change_requisition")
    finally:
        _migrate(latest)
        ContentType.objects.clear_cache()
        if group is not None:
            group.delete()


@pytest.mark.django_db(transaction=True)
def test_going_back_before_the_recordings_app_gives_streaming_its_models_and_rights_again(area):
    camera = factories.make_camera()
    latest = _latest()
    from recordings.models import RecordingPlan

    plan = RecordingPlan.objects.create(camera=camera)
    change = Permission.objects.get(content_type__app_label="recordings", codename="change_recordingplan")
    try:
        old_apps = _migrate(BEFORE, [STREAMING_0007])
        ContentType.objects.clear_cache()
        assert old_apps.get_model("streaming", "RecordingPlan").objects.get(pk=plan.pk).camera_id == camera.pk
        assert Permission.objects.get(pk=change.pk).content_type.app_label == "streaming"
    finally:
        _migrate(latest)
        ContentType.objects.clear_cache()
    assert Permission.objects.get(pk=change.pk).content_type.app_label == "recordings"
    assert RecordingPlan.objects.get(pk=plan.pk).camera == camera
