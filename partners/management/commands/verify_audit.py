from django.core.management.base import BaseCommand, CommandError

from partners.audit import audit_chain_breaks
from partners.models import AuditRecord


class Command(BaseCommand):
    help = "Verify the hash chain of the access journal; name the first broken record."

    def handle(self, *args, **options) -> None:
        breaks = audit_chain_breaks()
        first = next(breaks, None)
        if first is None:
            self.stdout.write(self.style.SUCCESS(
                f"Access journal intact: {AuditRecord.objects.count()} records, chain verified."))
            return
        where = f"record #{first.record_id}" if first.record_id else "the journal"
        raise CommandError(f"Access journal broken at {where}: {first.reason}.")
