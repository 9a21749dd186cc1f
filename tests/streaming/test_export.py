"""Extractions: the window cut from held segments, signed; verification offline catches tampering."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import av
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from partners.models import AuditRecord
from streaming.export import MANIFEST, requisition_extract, requisition_handover, verify_export
from streaming.models import LegalHold, RecordingSegment, RequisitionStatus
from streaming.recorder import record_camera
from streaming.requisitions import requisition_create
from streaming.sources import open_source
from tests import factories


@pytest.fixture
def storage(settings, tmp_path):
    settings.HUB_RECORDINGS_DIR = tmp_path / "recordings"
    settings.HUB_EXPORTS_DIR = tmp_path / "exports"
    settings.HUB_SIGNING_KEY_PATH = tmp_path / "keys" / "hub.pem"
    settings.HUB_RECORDING_MIN_FREE_BYTES = 0
    return tmp_path


def record(camera, *, segments: int = 3, seconds: float = 0.5) -> list[RecordingSegment]:
    stop, closed = threading.Event(), []

    def on_segment(segment):
        closed.append(segment)
        if len(closed) >= segments:
            stop.set()

    record_camera(camera=camera, stop=stop, segment_seconds=seconds, on_segment=on_segment,
                  opener=lambda: open_source("synthetic:160x96@20", name=camera.name, default_size="160x96",
                                             default_fps=20, timeout=2))
    return closed


@pytest.fixture
def extracted(area, storage, operator):
    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera], order_number="AP-95-2026-001")
    segments = record(camera)
    start = segments[0].start + dt.timedelta(seconds=0.2)
    end = segments[-1].end - dt.timedelta(seconds=0.1)
    requisition = requisition_create(
        created_by=operator.user, requesting_officer="OPJ Martin", service="SR Cergy",
        procedure_number="2026/777", legal_basis="Art. 60-1 CPP", cameras=[camera], window_start=start,
        window_end=end, now=timezone.now() + dt.timedelta(seconds=1))
    # Held before any extraction runs.
    assert LegalHold.objects.filter(requisition=requisition, segment__isnull=False).count() == 3
    directory = requisition_extract(requisition_id=requisition.pk)
    requisition.refresh_from_db()
    return {"camera": camera, "requisition": requisition, "dir": directory, "segments": segments,
            "start": start, "end": end}


def test_an_extraction_cuts_the_window_and_verifies(extracted):
    requisition, directory, camera = extracted["requisition"], extracted["dir"], extracted["camera"]
    assert requisition.status == RequisitionStatus.DONE and requisition.progress == 100
    assert Path(requisition.export_dir) == directory
    manifest = json.loads((directory / MANIFEST).read_text())
    assert manifest["requisition"]["procedure_number"] == "2026/777"
    assert manifest["operator"] == requisition.created_by.username
    entry = manifest["cameras"][0]
    assert entry["code"] == camera.code and entry["authorisations"] == ["AP-95-2026-001"]
    assert entry["masks_applied"] == [] and len(entry["segments"]) == 3
    with av.open(str(directory / entry["file"]["name"])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = sum(1 for _ in container.decode(stream))
    # 1.5 s recorded at 20 fps, minus 0.3 s outside the window (the cut starts on a keyframe).
    assert 20 <= frames <= 30
    assert verify_export(directory) == []
    call_command("verify_export", str(directory))
    record = AuditRecord.objects.get(action="extraction")
    assert record.details["files"] == {camera.code: entry["file"]["sha256"]}


def test_a_flipped_byte_in_the_file_is_detected_and_named(extracted):
    directory = extracted["dir"]
    video = directory / f"{extracted['camera'].code}.mp4"
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0x01
    video.write_bytes(bytes(data))
    problems = verify_export(directory)
    assert problems == [f"{video.name}: SHA-256 does not match the manifest (the file was altered)"]
    with pytest.raises(CommandError):
        call_command("verify_export", str(directory))


def test_a_flipped_byte_in_the_manifest_is_detected_and_named(extracted):
    manifest = extracted["dir"] / MANIFEST
    data = bytearray(manifest.read_bytes())
    data[data.index(b"2026/777")] ^= 0x01
    manifest.write_bytes(bytes(data))
    problems = verify_export(extracted["dir"])
    assert len(problems) == 1 and problems[0].startswith("manifest.json: the signature does not match")


def test_an_export_checked_against_another_key_fails(extracted):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from streaming.export import public_pem

    other = public_pem(Ed25519PrivateKey.generate().public_key())
    assert verify_export(extracted["dir"], public_key_pem=other)[0].startswith("manifest.json")


def test_a_rerun_after_a_killed_worker_finishes_once(extracted, monkeypatch):
    requisition = extracted["requisition"]
    # As if the worker died before finishing: state running, a half-written directory left behind.
    type(requisition).objects.filter(pk=requisition.pk).update(status=RequisitionStatus.RUNNING)
    part = extracted["dir"].with_name(extracted["dir"].name + ".part")
    part.mkdir()
    (part / "junk.mp4").write_bytes(b"half")
    directory = requisition_extract(requisition_id=requisition.pk)
    assert directory == extracted["dir"] and not part.exists()
    assert verify_export(directory) == []
    assert AuditRecord.objects.filter(action="extraction").count() == 2
    # Once done, running it again changes nothing.
    assert requisition_extract(requisition_id=requisition.pk) == directory
    assert AuditRecord.objects.filter(action="extraction").count() == 2


def test_no_recording_in_the_window_fails_with_the_reason(area, storage, operator):
    camera = factories.make_camera()
    now = timezone.now()
    requisition = requisition_create(
        created_by=operator.user, requesting_officer="OPJ Martin", service="SR Cergy", procedure_number="P-2",
        cameras=[camera], window_start=now - dt.timedelta(hours=2), window_end=now - dt.timedelta(hours=1))
    assert requisition_extract(requisition_id=requisition.pk) is None
    requisition.refresh_from_db()
    assert requisition.status == RequisitionStatus.FAILED
    assert "no recording in the window" in requisition.error


def test_the_handover_is_journalled(extracted, operator):
    requisition_handover(requisition=extracted["requisition"], by=operator.user,
                         recipient="OPJ Martin, SR Cergy")
    record = AuditRecord.objects.get(action="handover")
    assert record.reason == "OPJ Martin, SR Cergy" and record.details["procedure"] == "2026/777"


def test_masks_are_burned_into_the_extraction(area, storage, operator, supervisor):

    from cameras.services import mask_create

    camera = factories.make_camera()
    mask = mask_create(camera=camera, polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]], label="Façade",
                       created_by=supervisor.user)
    segments = record(camera)
    requisition = requisition_create(
        created_by=operator.user, requesting_officer="OPJ Martin", service="SR Cergy",
        procedure_number="2026/778", legal_basis="", cameras=[camera],
        window_start=segments[0].start + dt.timedelta(seconds=0.2), window_end=segments[-1].end,
        now=timezone.now() + dt.timedelta(seconds=1))
    directory = requisition_extract(requisition_id=requisition.pk)
    assert directory is not None
    entry = json.loads((directory / MANIFEST).read_text())["cameras"][0]
    assert "not_extracted" not in entry
    assert [m["id"] for m in entry["masks_applied"]] == [mask.pk]
    assert entry["masks_applied"][0]["polygon"] == [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]
    assert entry["reencoded"]["codec"] == "libx264"
    assert verify_export(directory) == []
    with av.open(str(directory / entry["file"]["name"])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [f.to_ndarray(format="gray") for f in container.decode(stream)]
    assert len(frames) >= 20  # ~1.3 s at 20 fps
    for luma in frames:
        height, width = luma.shape
        # Away from the edge the encoder blurs, above the name and time (drawn over everything).
        inside = luma[2:height * 2 // 3, 2:width // 2 - 4]
        assert inside.max() <= 24, inside.max()
        assert luma[:, width // 2 + 4:].mean() > 40  # the rest of the picture is there
    # The camera's name and the time are burned in (bottom right, light glyphs on the right half).
    assert any((luma[height * 2 // 3:, width // 2:] >= 200).any() for luma in frames)
