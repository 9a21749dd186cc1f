import pyotp
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from partners.demo import DEMO_TOTP_SECRET


class Command(BaseCommand):
    help = "Print the current one-time code of the demo accounts (demo mode only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("Only in demo mode (HUB_DEMO=1).")
        self.stdout.write(pyotp.TOTP(DEMO_TOTP_SECRET).now())
