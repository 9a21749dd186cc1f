from django.db import models
from django.utils.translation import pgettext_lazy


class CameraKind(models.TextChoices):
    PTZ = "ptz", pgettext_lazy("camera kind", "Motorised dome (PTZ)")
    PANORAMIC = "panoramic", pgettext_lazy("camera kind", "Panoramic")
    FIXED = "fixed", pgettext_lazy("camera kind", "Fixed")
    NOMADIC = "nomadic", pgettext_lazy("camera kind", "Nomadic")


class CameraStatus(models.TextChoices):
    ONLINE = "online", pgettext_lazy("camera status", "In service")
    OFFLINE = "offline", pgettext_lazy("camera status", "Offline")
    MAINTENANCE = "maintenance", pgettext_lazy("camera status", "Under maintenance")


class Purpose(models.TextChoices):
    """Purposes a prefectoral authorisation may list (CSI, L251-2)."""

    PUBLIC_SAFETY = "public_safety", pgettext_lazy("purpose", "Safety of people")
    PROPERTY = "property", pgettext_lazy("purpose", "Prevention of damage to property")
    TRAFFIC = "traffic", pgettext_lazy("purpose", "Regulation of transport flows")
    OFFENCES = "offences", pgettext_lazy("purpose", "Recording of offences")
    RISKS = "risks", pgettext_lazy("purpose", "Prevention of natural or technological risks")
    RESCUE = "rescue", pgettext_lazy("purpose", "Rescue of people and fire protection")
    DUMPING = "dumping", pgettext_lazy("purpose", "Prevention of illegal dumping")
