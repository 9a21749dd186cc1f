from django.db import models
from django.utils.translation import gettext_lazy as _


class AgencyKind(models.TextChoices):
    CSU = "CSU", _("Centre de supervision urbain intercommunal")
    PN = "PN", _("Police nationale")
    PM = "PM", _("Police municipale")
    GN = "GN", _("Gendarmerie nationale")
    SDIS = "SDIS", _("Service départemental d'incendie et de secours")
    CRF = "CRF", _("Croix-Rouge française")


# Services that article L252-3 of the Code de la sécurité intérieure lets a
# prefectoral authorisation name as recipients of images. The Croix-Rouge is not
# one of them: it receives alerts, never video.
VIDEO_CAPABLE_KINDS = frozenset({AgencyKind.CSU, AgencyKind.PN, AgencyKind.PM, AgencyKind.GN,
                                 AgencyKind.SDIS})


class Role(models.TextChoices):
    OPERATOR = "operator", _("Opérateur")
    SUPERVISOR = "supervisor", _("Superviseur")
    PARTNER_AGENT = "partner_agent", _("Agent partenaire")
    FIELD_UNIT = "field_unit", _("Unité de terrain")
    AUDITOR = "auditor", _("Auditeur")
    ADMIN = "admin", _("Administrateur")


# Roles of the centre's own staff: they see every incident and every camera.
CENTRE_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN})
