"""Incidents and their journal (*main courante*)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cameras.models import Camera
from geo.models import Commune
from incidents.choices import IncidentStatus, JournalKind, Priority
from partners.models import Agency


class Nature(models.Model):
    """An entry of the incident nomenclature (seeded, editable in the admin)."""

    code = models.SlugField(max_length=40, unique=True)
    label = models.CharField(max_length=120)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["label"]
        verbose_name = _("nature d'incident")

    def __str__(self) -> str:
        return self.label


class Incident(models.Model):
    """Something an operator saw or was told of, located, followed until closed.

    ``reference`` reads ``CSU-<year>-<6 digits>``; ``version`` increases with each
    change so that a concurrent update is refused rather than lost.
    """

    reference = models.CharField(max_length=20, unique=True)
    nature = models.ForeignKey(Nature, on_delete=models.PROTECT, related_name="incidents")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=16, choices=IncidentStatus.choices,
                              default=IncidentStatus.OPEN, db_index=True)
    location = models.PointField(srid=4326)
    address = models.CharField(max_length=300, blank=True)
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="incidents")
    description = models.TextField()
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                    related_name="+")
    cameras = models.ManyToManyField(Camera, blank=True, related_name="incidents")
    shared_with = models.ManyToManyField(Agency, blank=True, related_name="shared_incidents")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("incident")

    def __str__(self) -> str:
        return self.reference


class JournalEntry(models.Model):
    """A line of the main courante: time-stamped, signed, never edited nor deleted.

    A correction is a new entry pointing at the one it corrects.
    """

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="journal")
    at = models.DateTimeField(default=timezone.now)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=JournalKind.choices)
    text = models.TextField()
    corrects = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="corrections")

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("entrée de main courante")

    def __str__(self) -> str:
        return f"{self.incident.reference} {self.at:%H:%M} {self.kind}"
