"""Video handoff (*renvoi d'images*): grants of a camera to a partner agency."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cameras.models import Camera
from incidents.models import Incident
from partners.models import Agency


class Grant(models.Model):
    """An operator shares a camera's live images with an agency, for an incident, for a time.

    Active while ``revoked_at`` is empty and ``expires_at`` is ahead; revoking it or
    its expiry cuts every viewer it let in.
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

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("renvoi d'images")

    def __str__(self) -> str:
        return f"{self.camera.code} → {self.agency.code} ({self.incident.reference})"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


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
        verbose_name = _("levée de masque")

    def __str__(self) -> str:
        return f"{self.mask} → {self.until:%H:%M}"

    def is_active(self, now=None) -> bool:
        now = now or timezone.now()
        return self.ended_at is None and self.until > now
