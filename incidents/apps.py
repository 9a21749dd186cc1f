from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = pgettext_lazy("app", "Incidents")

    def ready(self) -> None:
        from incidents import inbound, replay
        from realtime.audiences import register_member_groups

        register_member_groups(_unit_groups)
        replay.register()
        inbound.register()


def _unit_groups(member) -> list[str]:
    """A field unit's socket also hears its unit's group (its direct line)."""
    from incidents.models import Unit
    from partners.choices import Role
    from realtime.audiences import unit_group

    if member.role != Role.FIELD_UNIT:
        return []
    return [unit_group(pk) for pk in Unit.objects.filter(member=member, retired_at__isnull=True)
                                                .values_list("pk", flat=True)]
