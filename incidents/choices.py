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
