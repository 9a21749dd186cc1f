from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data's commands. Last of our apps: it may import every other one, none imports it."""

    name = "demo"
    verbose_name = "Données de démonstration"
