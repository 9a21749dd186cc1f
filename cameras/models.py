"""The camera registry: implantation sites, cameras, their fields of view, masks and
the prefectoral authorisations that allow them."""

from __future__ import annotations

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from cameras.choices import CameraKind, CameraStatus, Purpose
from geo.models import Commune
from partners.choices import AgencyKind


class Site(models.Model):
    """An implantation point (*point d'implantation*): a mast or a façade holding cameras."""

    code = models.SlugField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=300, blank=True)
    location = models.PointField(_("location"), srid=4326)
    commune = models.ForeignKey(Commune, verbose_name=_("commune"), on_delete=models.PROTECT,
                                related_name="sites")
    # The commune's pool of nomadic cameras is a site too (its depot), but not an
    # implantation point: the published count of sites leaves it out.
    nomadic_pool = models.BooleanField(_("nomadic cameras' depot"), default=False)

    class Meta:
        ordering = ["code"]
        verbose_name = _("implantation site")
        verbose_name_plural = _("implantation sites")

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class Camera(models.Model):
    """A camera. Its field of view (``fov``) and everything it can be turned to see
    (``coverage``) are derived from position, heading, angle, range and presets by
    :func:`cameras.services.camera_geometry_refresh`; never write them by hand.

    A PTZ camera covers its full pan reach within its range, plus whatever its
    presets see; another camera covers its field of view.
    """

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    site = models.ForeignKey(Site, verbose_name=_("site"), on_delete=models.PROTECT,
                             related_name="cameras")
    kind = models.CharField(_("kind"), max_length=16, choices=CameraKind.choices)
    stream_uri = models.CharField(_("stream address"), max_length=500, blank=True,
                                  help_text=_("rtsp://… or synthetic: (test pattern)"))
    # Where the camera stands: the site's point, or wherever a nomadic camera was moved.
    location = models.PointField(_("location"), srid=4326)
    heading = models.FloatField(_("heading (°)"), help_text=_("Degrees from north, clockwise."))
    angle = models.FloatField(_("field angle (°)"), help_text=_("Horizontal field angle, in degrees."))
    range_m = models.FloatField(_("range (m)"), help_text=_("Useful range, in metres."))
    status = models.CharField(_("status"), max_length=16, choices=CameraStatus.choices,
                              default=CameraStatus.ONLINE)
    retention_days = models.PositiveSmallIntegerField(_("retention (days)"), default=14)
    fov = models.PolygonField(_("field of view"), srid=4326, spatial_index=True)
    coverage = models.PolygonField(_("coverage"), srid=4326, spatial_index=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("camera")
        verbose_name_plural = _("cameras")
        constraints = [
            models.CheckConstraint(condition=Q(heading__gte=0) & Q(heading__lt=360),
                                   name="camera_heading_0_360"),
            models.CheckConstraint(condition=Q(angle__gt=0) & Q(angle__lte=360),
                                   name="camera_angle_0_360"),
            models.CheckConstraint(condition=Q(range_m__gt=0), name="camera_range_positive"),
            models.CheckConstraint(condition=Q(retention_days__gte=1) & Q(retention_days__lte=30),
                                   name="camera_retention_at_most_30_days"),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"


class PtzPreset(models.Model):
    """A stored position of a PTZ camera, with the field of view it gives."""

    camera = models.ForeignKey(Camera, verbose_name=_("camera"), on_delete=models.CASCADE,
                               related_name="presets")
    number = models.PositiveSmallIntegerField(_("number"))
    name = models.CharField(_("name"), max_length=100)
    heading = models.FloatField(_("heading (°)"))
    angle = models.FloatField(_("field angle (°)"))
    range_m = models.FloatField(_("range (m)"))
    fov = models.PolygonField(_("field of view"), srid=4326, spatial_index=True)

    class Meta:
        ordering = ["camera", "number"]
        verbose_name = _("PTZ preset")
        verbose_name_plural = _("PTZ presets")
        constraints = [
            models.UniqueConstraint(fields=["camera", "number"], name="preset_number_unique"),
            models.CheckConstraint(condition=Q(heading__gte=0) & Q(heading__lt=360),
                                   name="preset_heading_0_360"),
            models.CheckConstraint(condition=Q(angle__gt=0) & Q(angle__lte=360),
                                   name="preset_angle_0_360"),
            models.CheckConstraint(condition=Q(range_m__gt=0), name="preset_range_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.camera.code} #{self.number} {self.name}"


class CameraRelocation(models.Model):
    """One move of a nomadic camera: the history of where it stood."""

    camera = models.ForeignKey(Camera, verbose_name=_("camera"), on_delete=models.CASCADE,
                               related_name="relocations")
    from_location = models.PointField(_("former location"), srid=4326)
    to_location = models.PointField(_("new location"), srid=4326)
    from_heading = models.FloatField(_("former heading (°)"))
    to_heading = models.FloatField(_("new heading (°)"))
    moved_at = models.DateTimeField(_("moved at"), default=timezone.now)
    moved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("moved by"), null=True,
                                 blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=500)

    class Meta:
        ordering = ["-moved_at"]
        verbose_name = _("nomadic camera move")
        verbose_name_plural = _("nomadic camera moves")


class PrivacyMask(models.Model):
    """A private area hidden from the picture (*masquage des parties privatives*).

    ``polygon`` is a list of ``[x, y]`` in normalised image coordinates (0..1,
    origin top left), for the whole camera or for one PTZ preset. A permanent
    mask can never be lifted; a liftable one only by a supervisor, for a bounded
    time, with a reason.
    """

    camera = models.ForeignKey(Camera, verbose_name=_("camera"), on_delete=models.CASCADE,
                               related_name="masks")
    preset = models.ForeignKey(PtzPreset, verbose_name=_("PTZ preset"), null=True, blank=True,
                               on_delete=models.CASCADE,
                               related_name="masks")
    label = models.CharField(_("label"), max_length=200, blank=True)
    polygon = models.JSONField(_("polygon"))
    liftable = models.BooleanField(_("liftable"), default=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"), null=True,
                                   blank=True,
                                   on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["camera", "id"]
        verbose_name = _("privacy mask")
        verbose_name_plural = _("privacy masks")

    def __str__(self) -> str:
        return f"{self.camera.code}: {self.label or self.pk}"


class Authorisation(models.Model):
    """A prefectoral authorisation (*arrêté préfectoral*) covering cameras.

    No camera may be viewed nor shared without a valid one (CSI, L252-1).
    ``recipients`` are the services allowed to receive images (L252-3); the
    Croix-Rouge is never among them.
    """

    order_number = models.CharField(_("order number"), max_length=100, unique=True)
    issued_by = models.CharField(_("issued by"), max_length=200, default="Préfecture du Val-d'Oise")
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    purposes = ArrayField(models.CharField(max_length=32, choices=Purpose.choices),
                          verbose_name=_("purposes"))
    retention_days = models.PositiveSmallIntegerField(_("retention (days)"), default=14)
    recipients = ArrayField(models.CharField(max_length=8, choices=AgencyKind.choices),
                            verbose_name=_("recipients of images"), default=list, blank=True)
    cameras = models.ManyToManyField(Camera, verbose_name=_("cameras"), related_name="authorisations",
                                     blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    class Meta:
        ordering = ["-valid_until"]
        verbose_name = _("prefectoral authorisation")
        verbose_name_plural = _("prefectoral authorisations")
        constraints = [
            models.CheckConstraint(condition=Q(valid_until__gte=models.F("valid_from")),
                                   name="authorisation_period_ordered"),
            models.CheckConstraint(condition=Q(retention_days__gte=1) & Q(retention_days__lte=30),
                                   name="authorisation_retention_at_most_30_days"),
            models.CheckConstraint(condition=~Q(recipients__contains=[AgencyKind.CRF]),
                                   name="authorisation_never_lists_crf"),
        ]

    def __str__(self) -> str:
        return self.order_number

    def is_valid_on(self, day) -> bool:
        return self.valid_from <= day <= self.valid_until
