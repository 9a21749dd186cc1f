"""Communes of the service area."""

from django.contrib.gis.db import models
from django.utils.translation import gettext_lazy as _


class Commune(models.Model):
    """A commune of the agglomeration, with its boundary (WGS 84; metric work in Lambert-93).

    Boundaries either come from the official communes GeoJSON (``import_communes``)
    or, for the demo, are approximations built around town centres
    (``approximate=True``): they must not be used for anything legal.
    """

    insee_code = models.CharField(_("INSEE code"), max_length=5, unique=True)
    name = models.CharField(_("name"), max_length=200)
    postcode = models.CharField(_("postcode"), max_length=5, blank=True)
    population = models.PositiveIntegerField(_("population"), null=True, blank=True)
    boundary = models.MultiPolygonField(_("boundary"), srid=4326)
    approximate = models.BooleanField(_("approximate boundary"), default=False,
         help_text=_("Approximate boundary (demo data)."))

    class Meta:
        ordering = ["name"]
        verbose_name = _("commune")
        verbose_name_plural = _("communes")

    def __str__(self) -> str:
        return f"{self.name} ({self.insee_code})"
