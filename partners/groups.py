"""The supervisors' group in the admin: they alone manage authorisations, masks, the
camera registry, the nomenclature and accounts (deny by default for everyone else).

Made after every migrate; apps are named by label only (partners imports no app of ours).
"""

from __future__ import annotations

SUPERVISORS = "Superviseurs"
# (app label, model) → actions supervisors may take in the admin.
SUPERVISOR_MODELS = {
    ("cameras", "authorisation"): ("add", "change", "delete", "view"),
    ("cameras", "privacymask"): ("add", "change", "delete", "view"),
    ("cameras", "camera"): ("add", "change", "view"),
    ("cameras", "site"): ("add", "change", "view"),
    ("cameras", "ptzpreset"): ("add", "change", "delete", "view"),
    ("cameras", "camerarelocation"): ("view",),
    ("geo", "commune"): ("view", "change"),
    ("incidents", "nature"): ("add", "change", "view"),
    ("incidents", "incident"): ("view",),
    ("partners", "agency"): ("add", "change", "view"),
    ("partners", "member"): ("add", "change", "view"),
    ("auth", "user"): ("add", "change", "view"),
    # Read-only in the admin: the nodes write them.
    ("streaming", "node"): ("view",),
    ("streaming", "cameralease"): ("view",),
    ("recordings", "storeoutage"): ("view",),
}


def ensure_supervisor_group(**kwargs) -> None:
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name=SUPERVISORS)
    wanted = []
    for (app_label, model), actions in SUPERVISOR_MODELS.items():
        codenames = [f"{action}_{model}" for action in actions]
        wanted += list(Permission.objects.filter(content_type__app_label=app_label,
                                                 codename__in=codenames))
    group.permissions.set(wanted)
