from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from incidents.models import Unit
from incidents.services.units import callsign_normalise, unit_create
from partners.models import Agency, Member


class Command(BaseCommand):
    help = ("Create a field unit of a partner agency, optionally with the field-unit member who "
            "drives its tablet. Run again with the same values, it changes nothing; a callsign "
            "taken otherwise is refused.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--callsign", required=True, help="e.g. 'PS MONTMORENCY 1' (stored in capitals)")
        parser.add_argument("--agency", required=True, help="agency code (see list_agencies)")
        parser.add_argument("--member", default=None, help="username of a field_unit member of that agency")

    def handle(self, *args, callsign: str, agency: str, member: str | None, **options) -> None:
        agency_obj = Agency.objects.filter(code=agency).first()
        if agency_obj is None:
            raise CommandError(f"No agency has the code {agency!r} (see: python manage.py list_agencies).")
        member_obj = None
        if member:
            member_obj = Member.objects.select_related("user", "agency").filter(user__username=member).first()
            if member_obj is None:
                raise CommandError(f"No member has the username {member!r} (see: create_member).")
        existing = Unit.objects.select_related("agency", "member__user").filter(
            callsign=callsign_normalise(callsign)).first()
        if existing is not None:
            same = (existing.agency_id == agency_obj.pk and not existing.retired
                    and (member_obj is None or existing.member_id == member_obj.pk))
            if not same:
                driver = existing.member.user.get_username() if existing.member is not None else "no member"
                state = "retired" if existing.retired else f"driven by {driver}"
                raise CommandError(f"The callsign {existing.callsign} is already taken by a unit of "
                                   f"{existing.agency.code} ({state}); nothing was changed.")
            self.stdout.write(f"{existing.callsign} already exists ({existing.agency.code}): nothing to do.")
            return
        try:
            unit = unit_create(by=None, callsign=callsign, agency=agency_obj, member=member_obj)
        except DomainError as exc:
            raise CommandError(str(exc.detail)) from exc
        driver = f", tablet: {unit.member.user.get_username()}" if unit.member is not None else ""
        self.stdout.write(self.style.SUCCESS(f"Created {unit.callsign} ({unit.agency.code}{driver})."))
