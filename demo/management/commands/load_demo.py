from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cameras.demo import demo_cameras_ensure
from geo.models import Commune
from geo.services import demo_communes_ensure, read_demo_communes
from incidents.demo import demo_units_ensure
from partners.demo import DEMO_PASSWORD, demo_agencies_ensure, demo_members_ensure
from recordings.demo import demo_recording_ensure


class Command(BaseCommand):
    help = ("Load the Plaine Vallée demo data: communes, agencies, accounts, field units with their "
            "tablet accounts, sites, cameras, two recorded cameras. "
            "Deterministic and idempotent: only what is missing is created.")

    def handle(self, *args, **options) -> None:
        # The demo accounts have a published password (and one is an administrator).
        if not settings.DEMO_MODE:
            raise CommandError("The demo data is only loaded in demo mode (HUB_DEMO=1).")
        rows = read_demo_communes()
        communes = demo_communes_ensure(rows=rows)
        agencies = demo_agencies_ensure(
            communes=list(Commune.objects.order_by("insee_code").values_list("insee_code", "name")))
        members = demo_members_ensure()
        units = demo_units_ensure(password=DEMO_PASSWORD)
        cameras = demo_cameras_ensure(centres={r["insee_code"]: (r["lon"], r["lat"]) for r in rows})
        recorded = demo_recording_ensure()
        self.stdout.write(self.style.SUCCESS(
            f"Demo data: {Commune.objects.count()} communes (+{communes}), agencies +{agencies}, "
            f"accounts +{members}, field units +{units}, {cameras['sites']} sites, "
            f"{cameras['cameras']} cameras "
            f"(+{cameras['new_cameras']}), authorisations +{cameras['authorisations']}; "
            f"recorded: {', '.join(c.code for c in recorded) or 'none'}."))
