from django.core.management.base import BaseCommand

from partners.models import Agency


class Command(BaseCommand):
    help = "Print every agency: code, kind and name."

    def handle(self, *args, **options) -> None:
        agencies = Agency.objects.order_by("kind", "code")
        width = max((len(a.code) for a in agencies), default=4)
        for agency in agencies:
            self.stdout.write(f"{agency.code:<{width}}  {agency.kind:<4}  {agency.name}")
