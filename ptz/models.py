"""PTZ cameras under the operators' hands: how to reach a camera's ONVIF service, who drives
it now (the lease), and where it was last seen."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cameras.models import Camera


class PtzEndpoint(models.Model):
    """The ONVIF address of a PTZ camera, its credentials (the password encrypted at rest,
    :mod:`ptz.crypto`) and its calibration.

    ``pan_zero_heading``: the compass heading (degrees from north) the camera looks at when
    its pan is 0; ``pan_degrees``: how many degrees the generic pan space -1..1 spans (360 for
    a dome that turns all the way round: pan 1 is 180° clockwise). ``zoom_full_m``: the
    distance at which the operator wants full zoom (zoom 0 under ``zoom_wide_m``).
    ``preset_tokens`` maps the hub's preset numbers to the camera's ONVIF tokens (the number
    itself when absent); ``home_preset`` is the preset the camera's home position is.
    """

    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, related_name="ptz_endpoint")
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=80)
    username = models.CharField(max_length=150, blank=True)
    password_encrypted = models.TextField(blank=True)
    pan_zero_heading = models.FloatField(default=0.0)
    pan_degrees = models.FloatField(default=360.0)
    zoom_wide_m = models.FloatField(default=30.0)
    zoom_full_m = models.FloatField(default=300.0)
    preset_tokens = models.JSONField(default=dict, blank=True)
    home_preset = models.PositiveSmallIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("accès ONVIF d'une caméra PTZ")
        constraints = [
            models.CheckConstraint(condition=Q(pan_degrees__gt=0) & Q(pan_degrees__lte=720),
                                   name="ptz_pan_degrees_range"),
            models.CheckConstraint(condition=Q(port__gte=1) & Q(port__lte=65535), name="ptz_port_range"),
        ]

    def __str__(self) -> str:
        return f"{self.camera.code} → {self.host}:{self.port}"

    def set_password(self, password: str) -> None:
        from ptz.crypto import encrypt

        self.password_encrypted = encrypt(password)

    def password(self) -> str:
        from ptz.crypto import decrypt

        return decrypt(self.password_encrypted)

    def preset_token(self, number: int) -> str:
        return str(self.preset_tokens.get(str(number), number))


class LeaseEnd(models.TextChoices):
    RELEASED = "released", _("Rendue")
    TAKEN_OVER = "taken_over", _("Reprise")
    IDLE = "idle", _("Inactivité")


class PtzLease(models.Model):
    """Who drives a PTZ camera now: one operator at a time (*prise en main*). Ended by the
    holder, a take-over, or ``HUB_PTZ_LEASE_IDLE_SECONDS`` without a command."""

    camera = models.ForeignKey(Camera, on_delete=models.CASCADE, related_name="ptz_leases")
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    incident = models.ForeignKey("incidents.Incident", null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    taken_at = models.DateTimeField(default=timezone.now)
    last_command_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=LeaseEnd.choices, blank=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="+")

    class Meta:
        ordering = ["-taken_at"]
        verbose_name = _("prise en main PTZ")
        constraints = [
            models.UniqueConstraint(fields=["camera"], condition=Q(ended_at__isnull=True),
                                    name="ptz_one_lease_per_camera"),
        ]

    def __str__(self) -> str:
        return f"{self.camera_id} ← {self.holder_id} ({self.taken_at:%Y-%m-%d %H:%M})"


class PtzPosition(models.Model):
    """Where a PTZ camera was last seen (read back after every command), and whether the
    hub knows it to be in one of its presets: the masks follow this."""

    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, related_name="ptz_position")
    pan = models.FloatField(null=True)
    tilt = models.FloatField(null=True)
    zoom = models.FloatField(null=True)
    preset = models.PositiveSmallIntegerField(null=True)
    moving = models.BooleanField(default=False)
    reachable = models.BooleanField(default=True)
    # When the camera is due back home (set when a lease lapses; cleared by a new lease).
    home_due_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("position PTZ")

    def __str__(self) -> str:
        return f"{self.camera_id}: {self.pan}, {self.tilt}, {self.zoom} (preset {self.preset})"
