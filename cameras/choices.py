from django.db import models
from django.utils.translation import gettext_lazy as _


class CameraKind(models.TextChoices):
    PTZ = "ptz", _("Dôme motorisé (PTZ)")
    PANORAMIC = "panoramic", _("Panoramique")
    FIXED = "fixed", _("Fixe")
    NOMADIC = "nomadic", _("Nomade")


class CameraStatus(models.TextChoices):
    ONLINE = "online", _("En service")
    OFFLINE = "offline", _("Hors ligne")
    MAINTENANCE = "maintenance", _("En maintenance")


class Purpose(models.TextChoices):
    """Purposes a prefectoral authorisation may list (CSI, L251-2)."""

    PUBLIC_SAFETY = "public_safety", _("Sécurité des personnes")
    PROPERTY = "property", _("Prévention des atteintes aux biens")
    TRAFFIC = "traffic", _("Régulation des flux de transport")
    OFFENCES = "offences", _("Constatation des infractions")
    RISKS = "risks", _("Prévention des risques naturels ou technologiques")
    RESCUE = "rescue", _("Secours aux personnes et défense contre l'incendie")
    DUMPING = "dumping", _("Prévention des dépôts sauvages")
