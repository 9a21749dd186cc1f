from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = pgettext_lazy("app", "Partners")

    def ready(self) -> None:
        # Registers the bearer scheme with drf-spectacular (the OpenAPI schema).
        from django.db.models.signals import post_migrate

        from partners import schema  # noqa: F401
        from partners.groups import ensure_supervisor_group

        post_migrate.connect(ensure_supervisor_group, dispatch_uid="partners-supervisor-group")
