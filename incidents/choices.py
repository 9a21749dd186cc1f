from django.db import models
from django.utils.translation import gettext_lazy as _


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Ouvert")
    ENGAGED = "engaged", _("Engagé")
    CLOSED = "closed", _("Clos")
    CANCELLED = "cancelled", _("Annulé")


class Priority(models.IntegerChoices):
    URGENT = 1, _("Urgente")
    HIGH = 2, _("Haute")
    NORMAL = 3, _("Normale")


class JournalKind(models.TextChoices):
    OPENED = "opened", _("Ouverture")
    STATUS = "status", _("Changement de statut")
    NOTE = "note", _("Note")
    CAMERA = "camera", _("Caméra associée")
    SHARED = "shared", _("Partage")
    UNSHARED = "unshared", _("Fin de partage")
    RADIO = "radio", _("Extrait radio")
    UNIT = "unit", _("Unité engagée")
    CLOSED = "closed", _("Clôture")


# The nomenclature seeded by the first migration; editable in the admin.
NATURES = [
    ("atteinte-biens", "Atteinte aux biens"),
    ("rixe", "Rixe"),
    ("vol", "Vol"),
    ("accident", "Accident de la circulation"),
    ("incendie", "Incendie"),
    ("malaise", "Malaise / personne blessée"),
    ("detresse", "Personne en détresse"),
    ("depot-sauvage", "Dépôt sauvage"),
    ("stationnement", "Stationnement gênant"),
    ("rassemblement", "Rassemblement"),
    ("colis-suspect", "Colis suspect"),
    ("tapage", "Tapage / nuisances"),
    ("personne-recherchee", "Personne recherchée / disparition"),
]


class NetKind(models.TextChoices):
    """Talk groups (réseaux radio)."""

    AGENCY = "agency", _("Réseau de service")
    INCIDENT = "incident", _("Réseau d'incident")
    ALL_PARTNERS = "all", _("Réseau interservices")
    DIRECT = "direct", _("Ligne directe")


class RadioPriority(models.TextChoices):
    ROUTINE = "routine", _("Routine")
    URGENT = "urgent", _("Urgent")
    FLASH = "flash", _("Flash")


class UnitStatus(models.TextChoices):
    AVAILABLE = "available", _("Disponible")
    EN_ROUTE = "en_route", _("En route")
    ON_SCENE = "on_scene", _("Sur place")
    UNAVAILABLE = "unavailable", _("Indisponible")


class AlertStatus(models.TextChoices):
    RAISED = "raised", _("Signalée")
    ACKNOWLEDGED = "acknowledged", _("Prise en compte")
    TAKEN_CHARGE = "taken_charge", _("Prise en charge")
    CLOSED = "closed", _("Close")


class AlertOutcome(models.TextChoices):
    CARED_ON_SITE = "cared_on_site", _("Soins ou aide sur place")
    SHELTERED = "sheltered", _("Mise à l'abri / hébergement")
    HOSPITAL = "hospital", _("Orientation vers l'hôpital")
    REFUSED = "refused", _("Aide refusée")
    NOT_FOUND = "not_found", _("Personne non retrouvée")
    OTHER = "other", _("Autre")


class AlertCondition(models.TextChoices):
    COLD = "cold", _("Grand froid")
    HEAT = "heat", _("Canicule")
    RAIN = "rain", _("Pluie / intempéries")
    NIGHT = "night", _("Nuit")
    HEALTH = "health", _("État de santé préoccupant")
    CHILDREN = "children", _("Présence d'enfants")
