from django.db import models
from django.utils.translation import pgettext_lazy


class IncidentStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("incident status", "Open")
    ENGAGED = "engaged", pgettext_lazy("incident status", "Engaged")
    CLOSED = "closed", pgettext_lazy("incident status", "Closed")
    CANCELLED = "cancelled", pgettext_lazy("incident status", "Cancelled")


class Priority(models.IntegerChoices):
    URGENT = 1, pgettext_lazy("incident priority", "Urgent")
    HIGH = 2, pgettext_lazy("incident priority", "High")
    NORMAL = 3, pgettext_lazy("incident priority", "Normal")


class JournalKind(models.TextChoices):
    OPENED = "opened", pgettext_lazy("journal kind", "Opening")
    STATUS = "status", pgettext_lazy("journal kind", "Status change")
    NOTE = "note", pgettext_lazy("journal kind", "Note")
    CAMERA = "camera", pgettext_lazy("journal kind", "Camera associated")
    SHARED = "shared", pgettext_lazy("journal kind", "Shared")
    UNSHARED = "unshared", pgettext_lazy("journal kind", "Sharing ended")
    RADIO = "radio", pgettext_lazy("journal kind", "Radio excerpt")
    UNIT = "unit", pgettext_lazy("journal kind", "Unit engaged")
    CLOSED = "closed", pgettext_lazy("journal kind", "Closing")


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

    AGENCY = "agency", pgettext_lazy("net kind", "Agency net")
    INCIDENT = "incident", pgettext_lazy("net kind", "Incident net")
    ALL_PARTNERS = "all", pgettext_lazy("net kind", "All-partners net")
    DIRECT = "direct", pgettext_lazy("net kind", "Direct line")


class RadioPriority(models.TextChoices):
    ROUTINE = "routine", pgettext_lazy("radio priority", "Routine")
    URGENT = "urgent", pgettext_lazy("radio priority", "Urgent")
    FLASH = "flash", pgettext_lazy("radio priority", "Flash")


class UnitStatus(models.TextChoices):
    AVAILABLE = "available", pgettext_lazy("unit status", "Available")
    EN_ROUTE = "en_route", pgettext_lazy("unit status", "En route")
    ON_SCENE = "on_scene", pgettext_lazy("unit status", "On scene")
    UNAVAILABLE = "unavailable", pgettext_lazy("unit status", "Unavailable")


class AlertStatus(models.TextChoices):
    RAISED = "raised", pgettext_lazy("alert status", "Raised")
    ACKNOWLEDGED = "acknowledged", pgettext_lazy("alert status", "Acknowledged")
    TAKEN_CHARGE = "taken_charge", pgettext_lazy("alert status", "Taken in charge")
    CLOSED = "closed", pgettext_lazy("alert status", "Closed")


class AlertOutcome(models.TextChoices):
    CARED_ON_SITE = "cared_on_site", pgettext_lazy("alert outcome", "Care or help on site")
    SHELTERED = "sheltered", pgettext_lazy("alert outcome", "Sheltered / housed")
    HOSPITAL = "hospital", pgettext_lazy("alert outcome", "Sent to hospital")
    REFUSED = "refused", pgettext_lazy("alert outcome", "Help refused")
    NOT_FOUND = "not_found", pgettext_lazy("alert outcome", "Person not found")
    OTHER = "other", pgettext_lazy("alert outcome", "Other")


class AlertCondition(models.TextChoices):
    COLD = "cold", pgettext_lazy("alert condition", "Extreme cold")
    HEAT = "heat", pgettext_lazy("alert condition", "Heatwave")
    RAIN = "rain", pgettext_lazy("alert condition", "Rain / bad weather")
    NIGHT = "night", pgettext_lazy("alert condition", "Night")
    HEALTH = "health", pgettext_lazy("alert condition", "Worrying state of health")
    CHILDREN = "children", pgettext_lazy("alert condition", "Children present")
