"""The recorded objects in the store (``recordings.storage``): a closed segment uploaded, then
indexed; the recorder's buffer while the store is down; the store's legal holds.

In ``s3`` mode a closed segment is first a file under ``HUB_RECORDINGS_DIR`` with a *pending*
note beside it (``<file>.pending``: camera, times, size, SHA-256), written before anything is
sent. The file is uploaded, its presence and size checked in the store, then it is indexed,
then the local file and its note go. So an index row always names an object that is in the
store; a crash leaves at worst a note and its file, which the next upload pass sends (again:
a put is idempotent) and indexes, once (a row naming the same object is looked for first).
While the store is down or answers errors, segments stay in that buffer, an error is logged
and the alarm ``storage.unavailable`` announced to the centre, once per outage (a
``StoreOutage`` row: one open at a time, whichever process opens it announces it), then
``storage.available`` once an upload succeeds again; and every upload pass (after each
segment the recorder closes, and every 10 s in ``run_recorders`` or a recorder node's
``pending_uploader``) tries the oldest first.

A legal hold in force over a segment is also an S3 Object Lock legal hold on its object, so
that even the hub's own keys cannot delete it; releasing the last hold over it clears it.
The index's holds decide what the sweep destroys; the store's are a second lock.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from cameras.models import Camera
from realtime import audiences
from realtime.events import local_iso
from realtime.services import publish
from recordings.events import StorageAvailable, StorageUnavailable
from recordings.models import LegalHold, RecordingSegment, StoreOutage
from recordings.storage import StoreUnavailable, recording_store

log = logging.getLogger(__name__)

PENDING_SUFFIX = ".pending"

_upload_lock = threading.Lock()
_store_down = threading.Event()  # set during an outage: the alarm is logged once, not per segment


def _alarm(detail: str) -> None:
    """The store failed an upload: the error logged once per outage in this process, the outage
    opened and announced (``storage.unavailable``) unless another process did already, and the
    segments waiting in this buffer counted in it (the console's count)."""
    if not _store_down.is_set():
        _store_down.set()
        log.error("recordings' object store unavailable (%s): segments kept on the local disk until it "
                  "answers again", detail)
    try:
        pending = pending_count()
        if _backlog_report(pending):
            return  # the outage is open already (announced by whichever process opened it)
        with transaction.atomic():
            outage = StoreOutage.objects.create(detail=detail[:300], host=socket.gethostname()[:255],
                                                pending={_buffer_name(): pending})
            publish(StorageUnavailable(since=local_iso(outage.started_at), detail=outage.detail,
                                       host=outage.host, pending=pending),
                    audience=audiences.centre())
    except IntegrityError:
        # Another recorder process opened it (and announced it) first: count this buffer in it.
        _backlog_report(pending)
    except Exception:  # noqa: BLE001 - the alarm must not stop the recorder (the log line stands)
        log.exception("the object store's alarm could not be announced")


def _buffer_name() -> str:
    """This recorder's buffer, as the open outage counts it: several recorders may share a host."""
    return f"{socket.gethostname()}:{Path(settings.HUB_RECORDINGS_DIR).resolve()}"[:500]


def _backlog_report(pending: int) -> bool:
    """Write this buffer's count of waiting segments into the open outage; False if none is open."""
    with transaction.atomic():
        outage = StoreOutage.objects.select_for_update().filter(ended_at__isnull=True).first()
        if outage is None:
            return False
        if outage.pending.get(_buffer_name()) != pending:
            outage.pending[_buffer_name()] = pending
            outage.save(update_fields=["pending"])
        return True


def _recovered(count: int) -> None:
    """An upload pass succeeded (``count`` buffered segments sent): the open outage, if any, is
    closed and announced (``storage.available``) by the first process to see it. A pass that had
    nothing to send asks the store first (``check``): nothing else proves it answers."""
    if _store_down.is_set():
        _store_down.clear()
        log.warning("recordings' object store answers again: %d buffered segments uploaded", count)
    try:
        outage = StoreOutage.objects.filter(ended_at__isnull=True).first()
        if outage is None:
            return
        if not count:
            try:
                recording_store().check()
            except StoreUnavailable:
                return
        with transaction.atomic():
            still_open = StoreOutage.objects.filter(pk=outage.pk, ended_at__isnull=True)
            closed = still_open.update(ended_at=timezone.now())
            if not closed:
                return  # another process closed it
            publish(StorageAvailable(since=local_iso(outage.started_at), host=socket.gethostname()[:255],
                                     uploaded=count, pending=pending_count()),
                    audience=audiences.centre())
    except Exception:  # noqa: BLE001 - the end of the alarm must not stop the recorder either
        log.exception("the end of the object store's alarm could not be announced")


def outage_frames() -> list[dict[str, Any]]:
    """The open outage, if any, as the frame of its ``storage.unavailable`` (the console's alarm
    strip at load and ``GET /api/alarms/``). ``pending``: the segments waiting now, in every
    recorder's buffer, as the recorders last counted them (at their last failed upload: each new
    segment and each upload pass, every 10 s, tries one); the event said how many waited when the
    outage began."""
    outage = StoreOutage.objects.filter(ended_at__isnull=True).first()
    if outage is None:
        return []
    event = StorageUnavailable(since=local_iso(outage.started_at), detail=outage.detail, host=outage.host,
                               pending=outage.waiting)
    return [{"type": event.type, "data": event.model_dump(mode="json")}]


def pending_count() -> int:
    """How many segments wait on this machine's disk for the store (their notes)."""
    root = Path(settings.HUB_RECORDINGS_DIR)
    return sum(1 for _note in root.rglob("*" + PENDING_SUFFIX)) if root.is_dir() else 0


def segment_upload(*, camera: Camera, start: dt.datetime, end: dt.datetime, path: Path, size: int,
                   sha256: str) -> RecordingSegment | None:
    """Send the closed segment ``path`` (under ``HUB_RECORDINGS_DIR``) to the store and index it;
    then the older buffered ones. None: the store is down, the segment stays buffered."""
    root = Path(settings.HUB_RECORDINGS_DIR)
    note = path.with_name(path.name + PENDING_SUFFIX)
    note.write_text(json.dumps({"camera": camera.pk, "start": start.isoformat(), "end": end.isoformat(),
                                "size": size, "sha256": sha256, "key": path.relative_to(root).as_posix()}))
    try:
        with _upload_lock:
            # An upload pass of another thread (``run_recorders``) may have taken it already.
            if note.exists():
                _upload(note)
    except StoreUnavailable as exc:
        _alarm(str(exc))
        return None
    segment = RecordingSegment.objects.filter(camera=camera, path=note_key(note, root), is_gap=False).first()
    _upload_pass(camera.code, uploaded=1)
    return segment


def note_key(note: Path, root: Path) -> str:
    """The key of the segment a pending note stands beside."""
    return note.with_name(note.name[: -len(PENDING_SUFFIX)]).relative_to(root).as_posix()


def _upload(note: Path) -> RecordingSegment | None:
    """Upload, check, index one buffered segment; its file and note go. None if it was indexed
    already (a crash after the index)."""
    meta = json.loads(note.read_text())
    path = note.with_name(note.name[: -len(PENDING_SUFFIX)])
    key = meta["key"]
    segment = None
    if not RecordingSegment.objects.filter(camera_id=meta["camera"], path=key, is_gap=False).exists():
        store = recording_store()
        if not path.exists():
            log.error("buffered segment %s is gone before its upload: not indexed", key)
            note.unlink(missing_ok=True)
            return None
        store.put_file(key, path)
        if store.size(key) != meta["size"]:
            raise StoreUnavailable(f"{key}: the store kept {store.size(key)} bytes of {meta['size']}")
        start, end = dt.datetime.fromisoformat(meta["start"]), dt.datetime.fromisoformat(meta["end"])
        with transaction.atomic():
            segment = RecordingSegment.objects.create(camera_id=meta["camera"], start=start, end=end,
                                                      size=meta["size"], sha256=meta["sha256"], path=key)
            if _held(segment):
                # Recorded inside a requisition's window while it was being recorded: held at once.
                store.hold_set(key, held=True)
    path.unlink(missing_ok=True)
    note.unlink(missing_ok=True)
    return segment


def pending_upload(*, camera_code: str | None = None) -> int:
    """Upload and index the buffered segments (of one camera, or all), oldest first; stops at the
    first failure (the store is still down). How many were indexed."""
    return _upload_pass(camera_code)


def _upload_pass(camera_code: str | None, *, uploaded: int = 0) -> int:
    """``pending_upload``; ``uploaded``: segments this caller has just sent (the end of an outage
    counts them too)."""
    root = Path(settings.HUB_RECORDINGS_DIR)
    base = root / camera_code if camera_code else root
    if not base.is_dir():
        _recovered(uploaded)
        return 0
    count = 0
    for note in sorted(base.rglob("*" + PENDING_SUFFIX), key=lambda p: p.name):
        try:
            with _upload_lock:
                if not note.exists():  # another thread did it
                    continue
                if _upload(note) is not None:
                    count += 1
        except StoreUnavailable as exc:
            _alarm(str(exc))
            return count
    _recovered(count + uploaded)
    return count


def pending_uploader(*, stop: threading.Event, every: float = 10.0) -> threading.Thread:
    """A started thread running an upload pass every ``every`` seconds until ``stop`` (a recorder
    node's: its cameras' threads upload their own backlog only while they record)."""
    def main() -> None:
        from django.db import close_old_connections

        while not stop.wait(every):
            try:
                pending_upload()
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("upload pass of the buffered segments failed")
            finally:
                close_old_connections()

    thread = threading.Thread(target=main, name="recordings-uploader", daemon=True)
    thread.start()
    return thread


def pending_segments(camera: Camera) -> list[tuple[dt.datetime, dt.datetime]]:
    """The (start, end) of ``camera``'s segments buffered on this machine, not yet indexed."""
    base = Path(settings.HUB_RECORDINGS_DIR) / camera.code
    if not base.is_dir():
        return []
    found = []
    for note in base.rglob("*" + PENDING_SUFFIX):
        try:
            meta = json.loads(note.read_text())
        except (OSError, ValueError):
            continue
        found.append((dt.datetime.fromisoformat(meta["start"]), dt.datetime.fromisoformat(meta["end"])))
    return sorted(found)


def _held(segment: RecordingSegment) -> bool:
    active = LegalHold.objects.filter(released_at__isnull=True)
    return (active.filter(segment=segment).exists()
            or active.filter(camera_id=segment.camera_id, window_start__lt=segment.end,
                             window_end__gt=segment.start).exists())


def store_holds_set(segments: Iterable[RecordingSegment], *, held: bool) -> int:
    """Put (``held``) the store's legal hold on the segments' objects, or clear it on those no hold
    in force covers any more. An error is logged, never raised: the index's holds still stop the
    sweep. How many objects were changed."""
    store = recording_store()
    if store.kind == "local":
        return 0
    changed = 0
    for segment in segments:
        if segment.is_gap or not segment.path or (not held and _held(segment)):
            continue
        try:
            store.hold_set(segment.path, held=held)
            changed += 1
        except FileNotFoundError:
            log.error("legal hold: %s is not in the store", segment.path)
        except StoreUnavailable as exc:
            log.error("legal hold %s on %s not set in the store: %s", "on" if held else "off",
                      segment.path, exc)
    return changed

