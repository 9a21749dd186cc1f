from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from incidents.demo import demo_unit_accounts
from partners.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, demo_accounts


class Command(BaseCommand):
    help = "Print the hub's URL and the demo accounts with their password (demo mode only)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, url: str, **options) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("Demo accounts are only shown in demo mode (HUB_DEMO=1).")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"  CSUi hub: {url}   (API docs: {url}api/docs/)"))
        self.stdout.write(f"  Demo accounts, all with the password {DEMO_PASSWORD!r}:")
        for username, agency, label in demo_accounts():
            self.stdout.write(f"    {username:<34} {agency:<28} {label}")
        units = demo_unit_accounts()
        if units:
            self.stdout.write("  Field-unit tablets (/terrain/: tablette-<callsign>), same password, "
                              "no one-time code:")
            for agency, tablets in units:
                self.stdout.write(f"    {agency:<28} " + ", ".join(username for username, _ in tablets))
        self.stdout.write(f"  Partner agents, supervisors and admins also give a one-time code: the demo "
                          f"authenticator key is {DEMO_TOTP_SECRET}")
        self.stdout.write("  (add it to an authenticator app, or run: python manage.py demo_code).")
        self.stdout.write("")
