from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "partners"
    verbose_name = "Partenaires"

    def ready(self) -> None:
        # Registers the bearer scheme with drf-spectacular (the OpenAPI schema).
        from partners import schema  # noqa: F401
