"""Live video: grants of a camera to a partner agency (*renvoi d'images*), viewings, video walls,
mask lifts, and the nodes that share the cameras (the recordings' models are in ``recordings``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from cameras.models import Camera
from incidents.models import Incident
from partners.models import Agency


class GrantEnd(models.TextChoices):
    """Why a grant stopped letting images through."""

    REVOKED = "revoked", _("stopped by the centre")
    EXPIRED = "expired", _("expired")
    INCIDENT_CLOSED = "incident_closed", _("incident over")
    UNSHARED = "unshared", _("incident no longer shared")


class Grant(models.Model):
    """An operator shares a camera's live images with an agency, for an incident, for a time.

    Active while it is not revoked, ``expires_at`` is ahead, its incident is open or
    engaged and still shared with the agency (``streaming.selectors.active_grants``);
    revoking it, its expiry or the end of the incident or of the sharing cuts every
    viewer it let in. ``ended_at``/``end_reason`` record when the hub announced its end
    (``grant.revoked`` or ``grant.ended``).
    """

    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="grants")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="grants")
    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="grants")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    revoke_reason = models.CharField(max_length=500, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=GrantEnd.choices, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("video handoff")
        verbose_name_plural = _("video handoffs")
        indexes = [models.Index(fields=["incident", "ended_at"], name="grant_by_incident")]

    def __str__(self) -> str:
        return f"{self.camera.code} → {self.agency.code} ({self.incident.reference})"

    def is_active(self, now=None) -> bool:
        from streaming.selectors import grant_end

        return grant_end(self, now=now) is None


class Viewing(models.Model):
    """Someone watching a camera live now (one WHEP session), or who did.

    The sessions live in the memory of the video process that answered the offer; this row
    is how every other process (a console, the REST API) knows who watches a grant. It is
    written with the access journal's ``camera_view_start`` and closed with its
    ``camera_view_end`` (``streaming.services.viewing_start``/``viewing_end``).

    It also records which process serves it (``node_session``: the session of the video node,
    ``process``/``host``/``pid`` otherwise), so that the viewings of a process that died without
    closing them are closed by whoever learns of its death (``streaming.services.viewings_orphaned_end``).
    """

    session = models.CharField(max_length=64, unique=True)
    camera = models.ForeignKey(Camera, on_delete=models.PROTECT, related_name="viewings")
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.PROTECT, related_name="viewings")
    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=64, blank=True)
    # The ``Node.session`` of the video node serving it ("" when the process is no video node).
    node_session = models.CharField(max_length=32, blank=True, db_index=True)
    # The process serving it: a random id drawn at its start, its host and its pid.
    process = models.CharField(max_length=32, blank=True)
    host = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["started_at"]
        verbose_name = _("viewing")
        verbose_name_plural = _("viewings")
        indexes = [models.Index(fields=["grant"], condition=models.Q(ended_at__isnull=True),
                                name="viewing_open_by_grant")]

    def __str__(self) -> str:
        return f"{self.camera.code} ← {self.viewer_id} ({self.session[:8]})"


class Wall(models.Model):
    """A video wall (*mur d'images*): a grid of tiles, each showing one camera, shared by every
    operator and by the screens that display it (``/mur/?mur=<name>``). The centre's 24 m² wall
    is ``principal``; other named walls (a crisis room) are made in the admin."""

    name = models.SlugField(_("name"), max_length=40, unique=True)
    label = models.CharField(_("label"), max_length=100)
    columns = models.PositiveSmallIntegerField(_("columns"), default=4)
    rows = models.PositiveSmallIntegerField(_("rows"), default=4)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name = _("video wall")
        verbose_name_plural = _("video walls")
        constraints = [models.CheckConstraint(
            condition=models.Q(columns__gte=1, columns__lte=6, rows__gte=1, rows__lte=6),
            name="wall_grid_at_most_6x6")]

    def __str__(self) -> str:
        return self.label

    @property
    def size(self) -> int:
        return self.columns * self.rows


class WallTile(models.Model):
    """The camera shown in one tile of a wall (positions from 1, left to right, top to bottom)."""

    wall = models.ForeignKey(Wall, on_delete=models.CASCADE, related_name="tiles")
    position = models.PositiveSmallIntegerField()
    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="+")
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["wall", "position"]
        verbose_name = _("wall tile")
        verbose_name_plural = _("wall tiles")
        constraints = [models.UniqueConstraint(fields=["wall", "position"], name="one_camera_per_tile")]

    def __str__(self) -> str:
        return f"{self.wall.name}#{self.position}"


class MaskLift(models.Model):
    """A supervisor lifts a liftable privacy mask for a bounded time (*levée de masque*).

    The lift is for the centre's own screens: what leaves for a partner is always
    masked. It ends by itself at ``until`` (or earlier, ``ended_at``); the pipelines
    read the masks in force again every second, so the mask comes back on its own.
    """

    mask = models.ForeignKey("cameras.PrivacyMask", on_delete=models.CASCADE, related_name="lifts")
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500)
    lifted_at = models.DateTimeField(default=timezone.now)
    until = models.DateTimeField(db_index=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-lifted_at"]
        verbose_name = _("mask lift")
        verbose_name_plural = _("mask lifts")

    def __str__(self) -> str:
        return f"{self.mask} → {self.until:%H:%M}"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.ended_at is None and self.until > now


class NodeRole(models.TextChoices):
    """What a node of the cluster does with the cameras it holds (docs/recordings.md)."""

    RECORD = "record", pgettext_lazy("node role", "recorder")
    # Holds the cameras' live pipelines: WHEP offers are sent to the video node holding the camera.
    VIDEO = "video", pgettext_lazy("node role", "video")


class Node(models.Model):
    """A process that holds cameras through leases (``manage.py record --node NAME``,
    ``manage.py video --node NAME``).

    Live while it renews ``last_seen`` within ``HUB_NODE_LEASE_SECONDS`` and has neither left
    (clean stop, ``left_at``) nor been declared lost by another node (``lost_at``). The row
    outlives the process: a node started again under the same name takes it over, with a new
    ``session``, once the old one is no longer live (``streaming.nodes``).
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    role = models.CharField(_("role"), max_length=16, choices=NodeRole.choices, default=NodeRole.RECORD)
    weight = models.PositiveSmallIntegerField(_("capacity weight"), default=1)
    # Changes at each join: a stale process cannot renew.
    session = models.CharField(_("session"), max_length=32)
    host = models.CharField(_("host"), max_length=255, blank=True)
    pid = models.PositiveIntegerField(_("process id"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"))
    last_seen = models.DateTimeField(_("last seen"), db_index=True)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    lost_at = models.DateTimeField(_("declared lost at"), null=True, blank=True)

    class Meta:
        ordering = ["role", "name"]
        verbose_name = _("node")
        verbose_name_plural = _("nodes")
        constraints = [models.CheckConstraint(condition=models.Q(weight__gte=1), name="node_weight_positive")]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"


class CameraLease(models.Model):
    """Which node holds a camera for a role (records it, or serves its live video): one row per
    camera and role.

    Free when ``node`` is empty, expired when ``renewed_at`` is older than
    ``HUB_NODE_LEASE_SECONDS``; a node takes free or expired rows (``FOR UPDATE SKIP LOCKED``).
    ``alarm_at``: when ``camera.unrecorded`` was announced for it (cleared once held again).
    """

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="leases",
                               verbose_name=_("camera"))
    role = models.CharField(_("role"), max_length=16, choices=NodeRole.choices, default=NodeRole.RECORD)
    node = models.ForeignKey(Node, null=True, blank=True, on_delete=models.SET_NULL, related_name="leases",
                             verbose_name=_("node"))
    acquired_at = models.DateTimeField(_("acquired at"))
    renewed_at = models.DateTimeField(_("renewed at"))
    alarm_at = models.DateTimeField(_("alarm announced at"), null=True, blank=True)

    class Meta:
        ordering = ["role", "camera"]
        verbose_name = _("camera lease")
        verbose_name_plural = _("camera leases")
        constraints = [models.UniqueConstraint(fields=["camera", "role"],
                                               name="one_lease_per_camera_and_role")]
        indexes = [models.Index(fields=["node", "role"], name="lease_by_node")]

    def __str__(self) -> str:
        return f"{self.camera_id}/{self.role} → {self.node_id or '-'}"
