"""Extraction files follow the retention rule of the images they hold, unless held: a file goes
once its window is past its camera's retention and no hold in force covers it; the directory
(manifest, signature) goes with the last file; the register and the API say so."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from django.utils import timezone

from recordings.manifest import MANIFEST
from recordings.models import DestructionRecord, LegalHold, Requisition
from recordings.requisitions import hold_release, requisition_create, requisition_extract
from recordings.retention import retention_sweep
from tests import factories
from tests.recordings.test_export import record


def extract(operator, cameras, procedure="2026/555") -> Requisition:
    segments = [record(camera, segments=1) for camera in cameras]
    start = min(s[0].start for s in segments)
    end = max(s[-1].end for s in segments)
    requisition = requisition_create(
        created_by=operator.user, requesting_officer="OPJ Martin", service="SR Cergy",
        procedure_number=procedure, cameras=cameras, window_start=start, window_end=end,
        now=timezone.now() + dt.timedelta(seconds=1))
    assert requisition_extract(requisition_id=requisition.pk) is not None
    requisition.refresh_from_db()
    return requisition


def release(requisition: Requisition, supervisor) -> None:
    for hold in LegalHold.objects.filter(requisition=requisition, segment__isnull=True):
        hold_release(hold=hold, by=supervisor.user, reason="Procédure close, scellés constitués")


def day_14(requisition: Requisition, days: int = 14) -> dt.datetime:
    return requisition.window_end + dt.timedelta(days=days, seconds=1)


def test_a_held_extraction_survives_its_fourteen_days(area, storage, operator):
    camera = factories.make_camera()
    requisition = extract(operator, [camera])
    result = retention_sweep(now=day_14(requisition, days=60))
    assert result.extraction_files == 0
    assert (Path(requisition.export_dir) / f"{camera.code}.mp4").is_file()
    # The held recording survives too (the hold covers both).
    assert camera.segments.exists()


def test_once_released_the_files_go_after_their_retention_with_the_register_line(
        area, storage, operator, supervisor, client):
    camera = factories.make_camera()
    requisition = extract(operator, [camera])
    directory = Path(requisition.export_dir)
    size = json.loads((directory / MANIFEST).read_text())["cameras"][0]["file"]["size"]
    release(requisition, supervisor)

    # Released, but the images are not 14 days old yet: kept.
    assert retention_sweep(now=day_14(requisition, days=13)).extraction_files == 0
    assert directory.is_dir()

    now = day_14(requisition)
    result = retention_sweep(now=now)
    assert (result.extraction_files, result.exports) == (1, 1)
    assert not directory.exists()
    requisition.refresh_from_db()
    assert requisition.export_destroyed_at == now
    line = DestructionRecord.objects.get(object="extraction")
    assert (line.camera, line.requisition) == (camera, requisition)
    assert (line.segment_count, line.total_size) == (1, size)
    assert (line.period_start, line.period_end) == (requisition.window_start, requisition.window_end)
    # Idempotent.
    assert retention_sweep(now=now + dt.timedelta(minutes=5)).extraction_files == 0
    assert DestructionRecord.objects.filter(object="extraction").count() == 1

    # The operator is told the files are gone, and when.
    client.force_login(operator.user)
    body = client.get(f"/api/streaming/requisitions/{requisition.pk}/").json()
    assert body["files"] == [] and body["export_destroyed_at"] is not None
    assert [f["camera"] for f in body["destroyed_files"]] == [camera.code]
    # In Paris time with its offset, like the answer's other times.
    assert body["destroyed_files"][0]["destroyed_at"] == timezone.localtime(now).isoformat()
    assert body["export_destroyed_at"] == timezone.localtime(now).isoformat()
    response = client.get(f"/api/streaming/requisitions/{requisition.pk}/files/{camera.code}.mp4")
    assert response.status_code == 410 and response.json()["error"] == "destroyed"
    assert client.get(f"/api/streaming/requisitions/{requisition.pk}/files/{MANIFEST}").status_code == 410
    response = client.post(f"/api/streaming/requisitions/{requisition.pk}/extract/")
    assert response.status_code == 410 and response.json()["error"] == "destroyed"
    response = client.post(f"/api/streaming/requisitions/{requisition.pk}/handover/", {},
                           content_type="application/json")
    assert response.status_code == 409 and "détruits" in response.json()["detail"]
    # The register shows it.
    register = client.get("/api/streaming/register/?kind=destruction").json()["destructions"]
    assert any(d["object"] == "extraction" and d["procedure_number"] == "2026/555" for d in register)


def test_each_camera_keeps_its_own_retention(area, storage, operator, supervisor):
    short, long = factories.make_camera(), factories.make_camera()
    short.retention_days = 7
    short.save(update_fields=["retention_days"])
    requisition = extract(operator, [short, long])
    directory = Path(requisition.export_dir)
    release(requisition, supervisor)

    result = retention_sweep(now=day_14(requisition, days=7))
    assert (result.extraction_files, result.exports) == (1, 0)
    assert not (directory / f"{short.code}.mp4").exists()
    assert (directory / f"{long.code}.mp4").is_file() and (directory / MANIFEST).is_file()

    result = retention_sweep(now=day_14(requisition))
    assert (result.extraction_files, result.exports) == (1, 1)
    assert not directory.exists()
    assert set(DestructionRecord.objects.filter(object="extraction").values_list("camera__code", flat=True)) \
        == {short.code, long.code}


def test_another_requisitions_hold_on_the_same_images_keeps_the_file(area, storage, operator, supervisor):
    camera = factories.make_camera()
    requisition = extract(operator, [camera])
    release(requisition, supervisor)
    requisition_create(created_by=operator.user, requesting_officer="Cne Durand", service="BR Gendarmerie",
                       procedure_number="2026/556", cameras=[camera], window_start=requisition.window_start,
                       window_end=requisition.window_end, now=timezone.now())
    assert retention_sweep(now=day_14(requisition)).extraction_files == 0
    assert (Path(requisition.export_dir) / f"{camera.code}.mp4").is_file()


def test_a_sweep_killed_half_way_through_an_export_finishes_on_the_next_run(area, storage, operator,
                                                                            supervisor):
    camera = factories.make_camera()
    requisition = extract(operator, [camera])
    directory = Path(requisition.export_dir)
    release(requisition, supervisor)
    # Killed after the unlink, before its commit: the file is gone, nothing recorded.
    (directory / f"{camera.code}.mp4").unlink()
    result = retention_sweep(now=day_14(requisition))
    assert (result.extraction_files, result.exports, result.missing_files) == (1, 1, 1)
    assert DestructionRecord.objects.filter(object="extraction", requisition=requisition).count() == 1
    assert not directory.exists()


def test_a_sweep_killed_while_removing_the_directory_finishes_on_the_next_run(area, storage, operator,
                                                                              supervisor):
    camera = factories.make_camera()
    requisition = extract(operator, [camera])
    release(requisition, supervisor)
    now = day_14(requisition)
    retention_sweep(now=now)
    # As if the sweep had committed the file's line, then died half-way through removing the directory.
    Requisition.objects.filter(pk=requisition.pk).update(export_destroyed_at=None)
    directory = Path(requisition.export_dir)
    directory.mkdir(parents=True)  # the manifest gone, the signature not yet
    (directory / "manifest.sig").write_text("left over\n")
    result = retention_sweep(now=now + dt.timedelta(minutes=5))
    assert result.exports == 1 and not directory.exists()
    requisition.refresh_from_db()
    assert requisition.export_destroyed_at is not None
    assert DestructionRecord.objects.filter(object="extraction").count() == 1


def test_a_late_rerun_of_the_extraction_does_not_bring_a_destroyed_export_back(area, storage, operator):
    import shutil

    camera = factories.make_camera()
    requisition = extract(operator, [camera])
    # As the sweep leaves it (the segments of a longer-kept camera may still be there).
    shutil.rmtree(requisition.export_dir)
    Requisition.objects.filter(pk=requisition.pk).update(export_destroyed_at=timezone.now())
    assert camera.segments.exists()
    assert requisition_extract(requisition_id=requisition.pk) is None  # a redelivered task
    assert not Path(requisition.export_dir).exists()
    requisition.refresh_from_db()
    assert requisition.status == "done"


def test_on_the_object_store_the_extraction_files_are_kept_then_destroyed_there(area, s3_storage, operator,
                                                                               supervisor):
    from recordings.manifest import PUBLIC_KEY, SIGNATURE
    from recordings.storage import recording_store

    camera = factories.make_camera()
    requisition = extract(operator, [camera])
    store, prefix = recording_store(), f"exports/requisition-{requisition.pk}/"
    names = sorted(prefix + name for name in (f"{camera.code}.mp4", MANIFEST, SIGNATURE, PUBLIC_KEY))
    assert sorted(store.keys(prefix)) == names
    assert retention_sweep(now=day_14(requisition, days=60)).extraction_files == 0  # held
    release(requisition, supervisor)
    assert retention_sweep(now=day_14(requisition, days=13)).extraction_files == 0  # not 14 days old
    assert sorted(store.keys(prefix)) == names

    result = retention_sweep(now=day_14(requisition))
    assert (result.extraction_files, result.exports) == (1, 1)
    assert list(store.keys(prefix)) == []
    line = DestructionRecord.objects.get(object="extraction")
    assert (line.camera, line.requisition, line.segment_count) == (camera, requisition, 1)
