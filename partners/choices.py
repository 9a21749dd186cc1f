from django.db import models
from django.utils.translation import pgettext_lazy


class AgencyKind(models.TextChoices):
    CSU = "CSU", pgettext_lazy("agency kind", "Intercommunal urban supervision centre")
    PN = "PN", pgettext_lazy("agency kind", "National police")
    PM = "PM", pgettext_lazy("agency kind", "Municipal police")
    GN = "GN", pgettext_lazy("agency kind", "National gendarmerie")
    SDIS = "SDIS", pgettext_lazy("agency kind", "Departmental fire and rescue service")
    CRF = "CRF", pgettext_lazy("agency kind", "French Red Cross")


# Services that article L252-3 of the Code de la sécurité intérieure lets a
# prefectoral authorisation name as recipients of images. The Croix-Rouge is not
# one of them: it receives alerts, never video.
VIDEO_CAPABLE_KINDS = frozenset({AgencyKind.CSU, AgencyKind.PN, AgencyKind.PM, AgencyKind.GN,
                                 AgencyKind.SDIS})


class Role(models.TextChoices):
    OPERATOR = "operator", pgettext_lazy("role", "Operator")
    SUPERVISOR = "supervisor", pgettext_lazy("role", "Supervisor")
    PARTNER_AGENT = "partner_agent", pgettext_lazy("role", "Partner agent")
    FIELD_UNIT = "field_unit", pgettext_lazy("role", "Field unit")
    AUDITOR = "auditor", pgettext_lazy("role", "Auditor")
    ADMIN = "admin", pgettext_lazy("role", "Administrator")


# Roles of the centre's own staff: they see every incident and every camera.
CENTRE_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
