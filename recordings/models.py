"""Recordings: what is recorded (plans), the segments, judicial requisitions and their legal
holds, the destruction register, snapshots.

The tables keep the names they had when these models were part of ``streaming`` (``db_table``):
the move to this app changed no table (migration ``0001_initial``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cameras.models import Camera
from incidents.models import Incident

# The access journal names the objects of its lines "app.model", and its lines are chained by
# their hashes: they are never rewritten. The names these objects had before they had their
# own app stay, so that one requisition's lines (created, extracted, handed over) read alike.
REQUISITION_JOURNAL_TYPE = "streaming.requisition"
HOLD_JOURNAL_TYPE = "streaming.legalhold"
SNAPSHOT_JOURNAL_TYPE = "streaming.snapshot"
# What a journal line about a requisition may call it when read: the name above, or the model's
# label, which ``audit(obj=requisition)`` writes when not given the name.
REQUISITION_JOURNAL_TYPES = (REQUISITION_JOURNAL_TYPE, "recordings.requisition")


class RecordingPlan(models.Model):
    """Whether a camera is recorded (the camera registry is not ours to change: the flag lives here)."""

    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, related_name="recording_plan")
    enabled = models.BooleanField(default=True)

    class Meta:
        db_table = "streaming_recordingplan"
        verbose_name = _("recording plan")
        verbose_name_plural = _("recording plans")

    def __str__(self) -> str:
        return f"{self.camera.code}: {'on' if self.enabled else 'off'}"


class RecordingSegment(models.Model):
    """One closed piece of a camera's recording (*segment*), or a gap where nothing was recorded.

    ``path`` is relative to ``HUB_RECORDINGS_DIR``; ``size`` and ``sha256`` are taken when
    the file is closed, so an index row always names a complete file. A gap has no file.
    """

    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="segments")
    start = models.DateTimeField()
    end = models.DateTimeField(db_index=True)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    path = models.CharField(max_length=500, blank=True)
    is_gap = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "streaming_recordingsegment"
        ordering = ["camera", "start"]
        verbose_name = _("recording segment")
        verbose_name_plural = _("recording segments")
        indexes = [models.Index(fields=["camera", "start"])]
        constraints = [models.CheckConstraint(condition=models.Q(end__gt=models.F("start")),
                                              name="segment_end_after_start")]

    def __str__(self) -> str:
        return f"{self.camera.code} {self.start:%Y-%m-%d %H:%M:%S}{' (gap)' if self.is_gap else ''}"


class RequisitionStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("requisition status", "Pending")
    RUNNING = "running", pgettext_lazy("requisition status", "Extracting")
    DONE = "done", pgettext_lazy("requisition status", "Extracted")
    FAILED = "failed", pgettext_lazy("requisition status", "Extraction failed")


class Requisition(models.Model):
    """A judicial requisition (*réquisition judiciaire*) of recorded images.

    Creating one puts legal holds on what it covers at once; the extraction is a
    Celery job that writes an MP4 per camera and a signed manifest in ``export_dir`` (a
    directory, or ``store:<prefix>`` in the object store).
    """

    requesting_officer = models.CharField(max_length=200)
    service = models.CharField(max_length=200)
    procedure_number = models.CharField(max_length=100)
    legal_basis = models.CharField(max_length=300, blank=True)
    cameras = models.ManyToManyField(Camera, related_name="requisitions")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=16, choices=RequisitionStatus.choices,
                              default=RequisitionStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)
    export_dir = models.CharField(max_length=500, blank=True)
    error = models.CharField(max_length=500, blank=True)
    # Set when the retention sweep destroyed the last file of the export (recordings.retention).
    export_destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "streaming_requisition"
        ordering = ["-created_at"]
        verbose_name = _("judicial requisition")
        verbose_name_plural = _("judicial requisitions")

    def __str__(self) -> str:
        return f"{self.procedure_number} ({self.service})"


class LegalHold(models.Model):
    """A legal hold (*gel*): the sweep may not destroy what it covers until a supervisor releases it.

    A camera over a window (which also covers a segment still being recorded when the
    requisition was made), or one segment of it (``segment`` set, the window its own).
    """

    requisition = models.ForeignKey(Requisition, on_delete=models.PROTECT, related_name="holds")
    # A released segment hold may outlive its segment (the register keeps camera and window).
    segment = models.ForeignKey(RecordingSegment, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="holds")
    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="+")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    release_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        db_table = "streaming_legalhold"
        ordering = ["-created_at"]
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        constraints = [models.CheckConstraint(condition=models.Q(window_end__gt=models.F("window_start")),
                                              name="hold_window_ordered")]

    def __str__(self) -> str:
        return f"hold {self.pk} ({self.requisition})"


class DestroyedObject(models.TextChoices):
    RECORDING = "recording", pgettext_lazy("destroyed object", "recordings")
    SNAPSHOT = "snapshot", pgettext_lazy("destroyed object", "snapshots")
    EXTRACTION = "extraction", pgettext_lazy("destroyed object", "extraction file")
    # Objects of the store no index row named (a recorder killed between the upload and the
    # row), destroyed past their retention all the same (``recordings.retention``).
    UNINDEXED_RECORDING = "unindexed_recording", pgettext_lazy("destroyed object",
                                                                "recordings not indexed")
    UNINDEXED_SNAPSHOT = "unindexed_snapshot", pgettext_lazy("destroyed object", "snapshots not indexed")


class DestructionRecord(models.Model):
    """The destruction register (*registre des destructions*): what a sweep destroyed, per camera.

    One line per camera, kind of object and sweep; an extraction's file has a line of its own,
    naming its requisition.
    """

    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="destructions")
    object = models.CharField(max_length=32, choices=DestroyedObject.choices,
                              default=DestroyedObject.RECORDING)
    requisition = models.ForeignKey(Requisition, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="destructions")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    destroyed_at = models.DateTimeField(default=timezone.now, db_index=True)
    segment_count = models.PositiveIntegerField(default=0)  # files destroyed (segments, snapshots, videos)
    total_size = models.BigIntegerField(default=0)

    class Meta:
        db_table = "streaming_destructionrecord"
        ordering = ["-destroyed_at"]
        verbose_name = _("destruction record")
        verbose_name_plural = _("destruction records")
        constraints = [models.UniqueConstraint(fields=["requisition", "camera"],
                                               condition=models.Q(object="extraction"),
                                               name="one_destruction_per_extracted_file")]

    def __str__(self) -> str:
        return (f"{self.camera.code} {self.get_object_display()} "
                f"{self.period_start:%Y-%m-%d}→{self.period_end:%Y-%m-%d}")


class StrayCheck(models.Model):
    """When the retention sweep last looked in the store for a camera's *stray* objects: objects
    no index row names, left by a recorder killed between an upload and its row. A camera's days
    become past its retention once a day, so it is looked at again once a day (or once a hold of
    it is released), not at every sweep, and only at the days after ``through``
    (``recordings.retention``)."""

    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, related_name="+")
    checked_at = models.DateTimeField()
    # The days up to this one (UTC) were looked at once past the retention: what is left of them
    # is held (a release makes the next look start from the first day again).
    through = models.DateField(null=True, blank=True)

    class Meta:
        verbose_name = _("stray objects check")
        verbose_name_plural = _("stray objects checks")

    def __str__(self) -> str:
        return f"{self.camera.code} {self.checked_at:%Y-%m-%d %H:%M}"


class Snapshot(models.Model):
    """A still image of a camera (*capture d'image*) taken from its recording at ``taken_at``,
    masks and the camera's name and time burned in. Follows the recordings' retention rule.

    ``path`` is relative to ``HUB_RECORDINGS_DIR``; the file is complete before the row exists.
    """

    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="snapshots")
    taken_at = models.DateTimeField(db_index=True)  # the recorded moment the picture shows
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="snapshots")
    path = models.CharField(max_length=500)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    masks_applied = models.JSONField(default=list, blank=True)
    # The main courante line that announced it (the console shows the picture on that line).
    journal_entry = models.OneToOneField("incidents.JournalEntry", null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="snapshot")

    class Meta:
        db_table = "streaming_snapshot"
        ordering = ["-taken_at"]
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")

    def __str__(self) -> str:
        return f"{self.camera.code} {self.taken_at:%Y-%m-%d %H:%M:%S}"


class StoreOutage(models.Model):
    """An outage of the recordings' object store: from the first upload that failed (``started_at``,
    ``detail``: what failed) to the first that succeeded again (``ended_at``). At most one open:
    whichever recorder process opens it announces ``storage.unavailable``, whichever closes it
    ``storage.available``, so each is announced once per outage however many processes record.

    ``pending``: how many segments wait in each recorder's buffer (``"host:directory"`` → count),
    written by the recorder at each failed upload while the outage is open: the buffers are on
    the recorders' disks, so a page served by another process reads the count here."""

    started_at = models.DateTimeField(_("began at"), default=timezone.now)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    detail = models.CharField(_("what failed"), max_length=300, blank=True)
    host = models.CharField(_("host"), max_length=255, blank=True)
    pending = models.JSONField(_("segments waiting, by recorder buffer"), default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("object store outage")
        verbose_name_plural = _("object store outages")
        constraints = [models.UniqueConstraint(fields=["ended_at"], condition=models.Q(ended_at__isnull=True),
                                               name="one_open_store_outage")]

    def __str__(self) -> str:
        return f"{timezone.localtime(self.started_at):%Y-%m-%d %H:%M} {self.detail}"

    @property
    def waiting(self) -> int:
        """The segments waiting in every recorder's buffer, as the recorders last counted them."""
        return sum(count for count in self.pending.values() if isinstance(count, int))
