"""Extractions: the window cut from held segments, signed; verification offline catches tampering."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import threading
from pathlib import Path

import av
import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import CommandError, call_command
from django.utils import timezone

from partners.models import AuditRecord
from recordings.manifest import MANIFEST, PUBLIC_KEY, SIGNATURE, hub_public_key, verify_export
from recordings.models import LegalHold, RecordingSegment, RequisitionStatus
from recordings.recorder import record_camera
from recordings.requisitions import requisition_create, requisition_extract, requisition_handover
from recordings.storage import ExportFiles, recording_store
from streaming.sources import open_source
from tests import factories


def centre_fingerprint() -> str:
    """The fingerprint the centre publishes (/.well-known/csu-export-key), as a clerk copies it."""
    return hub_public_key()[1]


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
def extracted(area, any_storage, operator):
    """An extraction of three recorded segments, stored in a directory, then on SeaweedFS."""
    camera = factories.make_camera()
    camera.name = "Gare – parvis nord"  # not ASCII: the caption track is UTF-8
    camera.save(update_fields=["name"])
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
    if recording_store().kind == "s3":
        # The files are in the object store: what follows checks the copy a download gives.
        directory = download(requisition, any_storage / "downloaded")
    return {"camera": camera, "requisition": requisition, "dir": directory, "segments": segments,
            "start": start, "end": end}


def download(requisition, target: Path) -> Path:
    """The extraction's files, read from where its ``export_dir`` says, into ``target``."""
    files = ExportFiles(requisition.export_dir)
    target.mkdir(parents=True)
    for name in [MANIFEST, SIGNATURE, PUBLIC_KEY] + [
            e["file"]["name"] for e in json.loads(files.read_bytes(MANIFEST))["cameras"] if e.get("file")]:
        (target / name).write_bytes(files.read_bytes(name))
    return target


def exports_dir() -> Path:
    """``HUB_EXPORTS_DIR``, where an extraction is written before the store takes it."""
    from django.conf import settings

    return Path(settings.HUB_EXPORTS_DIR)


def test_an_extraction_cuts_the_window_and_verifies(extracted):
    requisition, directory, camera = extracted["requisition"], extracted["dir"], extracted["camera"]
    assert requisition.status == RequisitionStatus.DONE and requisition.progress == 100
    if recording_store().kind == "s3":  # in the store only, none left on the disk
        assert requisition.export_dir == f"store:exports/requisition-{requisition.pk}"
        assert not (exports_dir() / f"requisition-{requisition.pk}").exists()
    else:
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
    assert verify_export(directory, fingerprint=centre_fingerprint()) == []
    call_command("verify_export", str(directory), "--fingerprint", centre_fingerprint())
    record = AuditRecord.objects.get(action="extraction")
    assert record.details["files"] == {camera.code: entry["file"]["sha256"]}


def source_pictures(segments: list[RecordingSegment]) -> list[tuple[bytes, dt.datetime]]:
    """Every recorded picture, in order: its H.264 packet and its wall-clock time."""
    pictures = []
    for segment in segments:
        with av.open(recording_store().open(segment.path), "r") as container:
            for packet in container.demux(container.streams.video[0]):
                if packet.size:
                    at = segment.start + dt.timedelta(seconds=float(packet.pts * packet.time_base))
                    pictures.append((bytes(packet), at))
    return pictures


def read_extraction(path: Path) -> dict:
    """The video packets (payload, seconds from the start) and the caption cues (seconds, text) of
    an extracted MP4, the cues through PyAV's mov_text decoder. The samples are read as the file
    stores them (``ignore_editlist``): through the edit list, the demuxer drops the caption track's
    closing empty sample when it falls exactly on the video's end (the recorded pictures' times
    then land on the output's clock ticks, as when the recorder's segments follow each other with
    no hole)."""
    with av.open(str(path), options={"ignore_editlist": "1"}) as container:
        video, (captions,) = container.streams.video[0], container.streams.subtitles
        info = {"codec": captions.codec_context.name, "language": captions.metadata.get("language"),
                "default": bool(captions.disposition & av.stream.Disposition.default)}
        packets, cues, samples = [], [], []
        for packet in container.demux(video, captions):
            if not packet.size:
                continue
            if packet.stream is video:
                packets.append((bytes(packet), float(packet.pts * packet.time_base)))
                continue
            samples.append(bytes(packet))
            for subtitle in captions.codec_context.decode(packet):
                cues.append((float(packet.pts * packet.time_base), float(packet.duration * packet.time_base),
                             subtitle.dialogue.decode()))
    # The muxer ends the track with an empty sample; none between two cues (a player may blank on it).
    assert samples[-1] == b"\x00\x00" and len(samples) == len(cues) + 1
    return {**info, "packets": packets, "cues": cues}


def caption(camera, at: dt.datetime) -> str:
    return f"{camera.name} ({camera.code}) {timezone.localtime(at):%Y-%m-%d %H:%M:%S %z}"


def test_a_remuxed_extraction_carries_the_camera_and_the_time_as_captions(extracted):
    camera, directory = extracted["camera"], extracted["dir"]
    entry = json.loads((directory / MANIFEST).read_text())["cameras"][0]
    assert "reencoded" not in entry
    video = read_extraction(directory / entry["file"]["name"])
    # The video is the recorded H.264 packets, byte for byte, a run of them from a keyframe.
    recorded = source_pictures(extracted["segments"])
    payloads = [payload for payload, _ in recorded]
    first = payloads.index(video["packets"][0][0])
    assert [payload for payload, _ in video["packets"]] == payloads[first:first + len(video["packets"])]
    assert entry["file"]["packets"] == len(video["packets"])
    shown = [(offset, recorded[first + i][1]) for i, (_, offset) in enumerate(video["packets"])]
    assert shown[0][1] <= extracted["start"] < shown[-1][1] < extracted["end"]

    # A French caption track shown by default, one cue per recorded second, in the manifest.
    assert (video["codec"], video["language"], video["default"]) == ("mov_text", "fra", True)
    assert entry["overlay"] == {"kind": "timed_text", "codec": "mov_text", "language": "fra", "default": True,
                                "format": "{name} ({code}) {time:%Y-%m-%d %H:%M:%S %z}",
                                "cues": len(video["cues"])}
    seconds = sorted({at.replace(microsecond=0) for _, at in shown})
    assert len(seconds) >= 2
    assert [text for _, _, text in video["cues"]] == [caption(camera, second) for second in seconds]
    # The first cue is the first picture's time, to the second, from the first picture on.
    assert video["cues"][0][0] == 0 and video["cues"][0][2] == caption(camera, shown[0][1])
    assert video["cues"][0][2].startswith("Gare – parvis nord (cam-")
    assert timezone.localtime(shown[0][1]).strftime("%z") in {"+0100", "+0200"}
    # Each cue gives the time of the picture on screen when it starts, and lasts until the next one.
    for index, (start, duration, text) in enumerate(video["cues"]):
        picture_at = max((at for offset, at in shown if offset <= start + 0.0005), default=None)
        assert picture_at is not None and text == caption(camera, picture_at)
        if index + 1 < len(video["cues"]):
            assert start + duration == pytest.approx(video["cues"][index + 1][0], abs=0.0001)
    last_start, last_duration, _ = video["cues"][-1]
    assert last_start + last_duration == pytest.approx(shown[-1][0] + 0.05, abs=0.002)  # 20 fps


def test_a_changed_caption_is_detected(extracted):
    directory = extracted["dir"]
    video = directory / f"{extracted['camera'].code}.mp4"
    data = bytearray(video.read_bytes())
    where = data.index(f"({extracted['camera'].code})".encode())
    data[where + 1] ^= 0x01
    video.write_bytes(bytes(data))
    assert verify_export(directory, fingerprint=centre_fingerprint()) == [
        f"{video.name}: SHA-256 does not match the manifest (the file was altered)"]


def test_a_flipped_byte_in_the_file_is_detected_and_named(extracted):
    directory = extracted["dir"]
    video = directory / f"{extracted['camera'].code}.mp4"
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0x01
    video.write_bytes(bytes(data))
    problems = verify_export(directory, fingerprint=centre_fingerprint())
    assert problems == [f"{video.name}: SHA-256 does not match the manifest (the file was altered)"]
    with pytest.raises(CommandError):
        call_command("verify_export", str(directory), "--fingerprint", centre_fingerprint())


def test_a_flipped_byte_in_the_manifest_is_detected_and_named(extracted):
    manifest = extracted["dir"] / MANIFEST
    data = bytearray(manifest.read_bytes())
    data[data.index(b"2026/777")] ^= 0x01
    manifest.write_bytes(bytes(data))
    problems = verify_export(extracted["dir"], fingerprint=centre_fingerprint())
    assert len(problems) == 1 and problems[0].startswith("manifest.json: the signature does not match")


def test_an_export_checked_against_another_key_fails(extracted):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from recordings.manifest import public_pem

    other = public_pem(Ed25519PrivateKey.generate().public_key())
    assert verify_export(extracted["dir"], public_key_pem=other)[0].startswith("manifest.json")


def test_verify_export_refuses_to_trust_the_key_shipped_in_the_export(extracted):
    with pytest.raises(CommandError) as refused:
        call_command("verify_export", str(extracted["dir"]))
    message = str(refused.value)
    assert "--fingerprint HEX" in message and "--public-key FILE" in message
    assert "/.well-known/csu-export-key" in message and "cannot vouch for itself" in message
    with pytest.raises(ValueError):
        verify_export(extracted["dir"])
    with pytest.raises(CommandError, match="--fingerprint: a fingerprint is 64 hexadecimal digits"):
        call_command("verify_export", str(extracted["dir"]), "--fingerprint", "c3d6b753")


def test_a_re_signed_forgery_fails_against_the_centres_fingerprint_or_key(extracted, tmp_path):
    """Someone alters a video, writes its new SHA-256 in the manifest, signs the manifest with a
    key of their own and ships that key: consistent, and refused by the centre's key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from partners.signing import grouped, public_pem
    from recordings.recorder import file_sha256

    directory = extracted["dir"]
    video = directory / f"{extracted['camera'].code}.mp4"
    data = bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0x01
    video.write_bytes(bytes(data))
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["cameras"][0]["file"]["sha256"] = file_sha256(video)
    body = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False).encode()
    (directory / MANIFEST).write_bytes(body)
    forger = Ed25519PrivateKey.generate()
    (directory / SIGNATURE).write_text(base64.b64encode(forger.sign(body)).decode() + "\n")
    (directory / PUBLIC_KEY).write_bytes(public_pem(forger.public_key()))
    forged = hashlib.sha256(forger.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    assert verify_export(directory, fingerprint=forged) == []  # consistent with its own key

    centre_pem, centre = hub_public_key()
    # The fingerprint as printed on the hand-over letter, in groups of four.
    with pytest.raises(CommandError, match="does not verify"):
        call_command("verify_export", str(directory), "--fingerprint", grouped(centre))
    assert verify_export(directory, fingerprint=grouped(centre)) == [
        f"public key: its fingerprint is {forged}, not the centre's {centre} "
        f"(the export was not signed by the centre's key, or was re-signed)"]
    key_file = tmp_path / "centre.pem"
    key_file.write_bytes(centre_pem)
    with pytest.raises(CommandError, match="does not verify"):
        call_command("verify_export", str(directory), "--public-key", str(key_file))
    assert verify_export(directory, public_key_pem=centre_pem)[0].startswith(
        "manifest.json: the signature does not match")


def test_a_rerun_after_a_killed_worker_finishes_once(extracted, monkeypatch):
    requisition = extracted["requisition"]
    # As if the worker died before finishing: state running, a half-written directory left behind.
    type(requisition).objects.filter(pk=requisition.pk).update(status=RequisitionStatus.RUNNING)
    part = exports_dir() / f"requisition-{requisition.pk}.part"
    part.mkdir(parents=True, exist_ok=True)
    (part / "junk.mp4").write_bytes(b"half")
    location = requisition_extract(requisition_id=requisition.pk)
    assert not part.exists()
    requisition.refresh_from_db()
    if recording_store().kind == "s3":
        assert str(location) == requisition.export_dir
        directory = download(requisition, extracted["dir"].with_name("downloaded-again"))
    else:
        directory = location
        assert directory == extracted["dir"]
    assert verify_export(directory, fingerprint=centre_fingerprint()) == []
    assert AuditRecord.objects.filter(action="extraction").count() == 2
    # Once done, running it again changes nothing.
    assert requisition_extract(requisition_id=requisition.pk) == location
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
    assert "Rien n'a été extrait" in requisition.error
    assert "aucun enregistrement dans la période" in requisition.error


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
    assert entry["overlay"] == {"kind": "burned_in", "format": "{name} {time:%Y-%m-%d %H:%M:%S %z}"}
    assert verify_export(directory, fingerprint=centre_fingerprint()) == []
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
