"""Incidents and their journal (*main courante*)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cameras.models import Camera
from geo.models import Commune
from incidents.choices import (
    AlertOutcome,
    AlertStatus,
    IncidentStatus,
    JournalKind,
    NetKind,
    Priority,
    RadioPriority,
    UnitStatus,
)
from partners.models import Agency, Member


class Nature(models.Model):
    """An entry of the incident nomenclature (seeded, editable in the admin)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    label = models.CharField(_("label"), max_length=120)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["label"]
        verbose_name = _("incident nature")
        verbose_name_plural = _("incident natures")

    def __str__(self) -> str:
        return self.label


class Incident(models.Model):
    """Something an operator saw or was told of, located, followed until closed.

    ``reference`` reads ``CSU-<year>-<6 digits>``; ``version`` increases with each
    change so that a concurrent update is refused rather than lost.
    """

    reference = models.CharField(_("reference"), max_length=20, unique=True)
    nature = models.ForeignKey(Nature, verbose_name=_("nature"), on_delete=models.PROTECT,
                               related_name="incidents")
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices,
                                                default=Priority.NORMAL)
    status = models.CharField(_("status"), max_length=16, choices=IncidentStatus.choices,
                              default=IncidentStatus.OPEN, db_index=True)
    location = models.PointField(_("location"), srid=4326)
    address = models.CharField(_("address"), max_length=300, blank=True)
    commune = models.ForeignKey(Commune, verbose_name=_("commune"), on_delete=models.PROTECT,
                                related_name="incidents")
    description = models.TextField(_("description"))
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("reported by"),
                                    on_delete=models.PROTECT,
                                    related_name="+")
    cameras = models.ManyToManyField(Camera, verbose_name=_("cameras"), blank=True, related_name="incidents")
    shared_with = models.ManyToManyField(Agency, verbose_name=_("shared with"), blank=True,
                                         related_name="shared_incidents")
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")

    def __str__(self) -> str:
        return self.reference


class JournalEntry(models.Model):
    """A line of the main courante: time-stamped, signed, never edited nor deleted.

    A correction is a new entry pointing at the one it corrects.
    """

    incident = models.ForeignKey(Incident, verbose_name=_("incident"), on_delete=models.PROTECT,
                                 related_name="journal")
    at = models.DateTimeField(_("at"), default=timezone.now)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("author"), on_delete=models.PROTECT,
                               related_name="+")
    kind = models.CharField(_("kind"), max_length=16, choices=JournalKind.choices)
    text = models.TextField(_("text"))
    corrects = models.ForeignKey("self", verbose_name=_("corrects"), null=True, blank=True,
                                 on_delete=models.PROTECT,
                                 related_name="corrections")

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("main courante entry")
        verbose_name_plural = _("main courante entries")

    def __str__(self) -> str:
        return f"{self.incident.reference} {self.at:%H:%M} {self.kind}"



class Unit(models.Model):
    """A field unit (patrol, fire engine, Red Cross team) with the tablet one member drives.

    ``position``/``position_at`` are its last accepted fix; the track is ``positions``.
    ``incident`` is what it is engaged on, if anything. A retired unit (``retired_at``) keeps
    its history (radio traffic, track, alerts) but leaves every list, cannot be engaged nor
    addressed, and has no member: the services detach it on retirement.
    """

    callsign = models.CharField(_("callsign"), max_length=40, unique=True)
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="units",
                               verbose_name=_("agency"))
    member = models.OneToOneField(Member, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="unit", limit_choices_to={"role": "field_unit"},
                                  verbose_name=_("member (tablet)"))
    status = models.CharField(_("status"), max_length=16, choices=UnitStatus.choices,
                              default=UnitStatus.AVAILABLE)
    position = models.PointField(_("last position"), srid=4326, null=True, blank=True)
    position_at = models.DateTimeField(_("position received at"), null=True, blank=True)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="units", verbose_name=_("engaged on"))
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["callsign"]
        verbose_name = _("field unit")
        verbose_name_plural = _("field units")

    def __str__(self) -> str:
        return self.callsign

    @property
    def retired(self) -> bool:
        return self.retired_at is not None


class UnitPosition(models.Model):
    """One accepted position report (the track: a replayed offline queue loses none)."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="positions")
    at = models.DateTimeField()
    point = models.PointField(srid=4326)
    accuracy_m = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["unit", "at"]
        verbose_name = _("unit position")
        verbose_name_plural = _("unit positions")
        indexes = [models.Index(fields=["unit", "at"])]


class Net(models.Model):
    """A talk group. Who is on it follows the rights model (``incidents.selectors.radio.nets_visible_to``):
    an agency net its agency, an incident net the agencies the incident is shared with, the
    all-partners net every partner, a direct line one unit; the centre is on every net."""

    kind = models.CharField(max_length=16, choices=NetKind.choices)
    name = models.CharField(max_length=120)
    agency = models.OneToOneField(Agency, null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="net")
    incident = models.OneToOneField(Incident, null=True, blank=True, on_delete=models.CASCADE,
                                    related_name="net")
    unit = models.OneToOneField(Unit, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="direct_net")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("radio net")
        verbose_name_plural = _("radio nets")
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=models.Q(kind="all"),
                                    name="one_all_partners_net"),
        ]

    def __str__(self) -> str:
        return self.name


class RadioMessage(models.Model):
    """A message on a net, from a callsign; ``to_unit`` when addressed to one unit (its direct line).

    ``resends``/``last_sent_at``/``escalated_at`` follow an unacknowledged urgent or flash message.
    """

    net = models.ForeignKey(Net, on_delete=models.PROTECT, related_name="messages")
    to_unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    from_callsign = models.CharField(max_length=40)
    priority = models.CharField(max_length=8, choices=RadioPriority.choices,
                                default=RadioPriority.ROUTINE)
    text = models.TextField()
    location = models.PointField(srid=4326, null=True, blank=True)
    ack_required = models.BooleanField(default=False)
    sent_at = models.DateTimeField(default=timezone.now, db_index=True)
    resends = models.PositiveSmallIntegerField(default=0)
    last_sent_at = models.DateTimeField(default=timezone.now)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sent_at", "id"]
        verbose_name = _("radio message")
        verbose_name_plural = _("radio messages")

    def __str__(self) -> str:
        return f"{self.from_callsign} → {self.net}: {self.text[:40]}"


class RadioReceipt(models.Model):
    """A recipient of a message (a unit, or the centre when ``unit`` is empty) and its
    acknowledgement; one row per recipient, made when the message is sent."""

    message = models.ForeignKey(RadioMessage, on_delete=models.CASCADE, related_name="receipts")
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    callsign = models.CharField(max_length=40)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["message", "callsign"]
        verbose_name = _("radio receipt")
        verbose_name_plural = _("radio receipts")
        constraints = [models.UniqueConstraint(fields=["message", "callsign"],
                                               name="one_receipt_per_recipient")]


class Alert(models.Model):
    """A Croix-Rouge distress signal (signalement de personne en détresse).

    raised → acknowledged → taken_charge (by a unit) → closed with an outcome. It carries
    no camera nor video data: the CRF receives alerts, never images (docs/security.md).
    """

    reference = models.CharField(max_length=24, unique=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.RAISED,
                              db_index=True)
    location = models.PointField(srid=4326)
    address = models.CharField(max_length=300, blank=True)
    commune = models.ForeignKey(Commune, on_delete=models.PROTECT, related_name="alerts")
    description = models.TextField()
    people = models.PositiveSmallIntegerField(default=1)
    conditions = models.JSONField(default=list, blank=True)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_sent_at = models.DateTimeField(default=timezone.now)
    resends = models.PositiveSmallIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    taken_charge_at = models.DateTimeField(null=True, blank=True)
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts")
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=AlertOutcome.choices, blank=True)
    outcome_note = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-raised_at"]
        verbose_name = _("Croix-Rouge alert")
        verbose_name_plural = _("Croix-Rouge alerts")

    def __str__(self) -> str:
        return self.reference
