import base64
import binascii
import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from config.errors import DomainError
from partners.choices import Role
from partners.services import member_create


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from exc


class Command(BaseCommand):
    help = "Create a member of an agency with one role (enrolment from the shell)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--agency", required=True, help="agency code (see list_agencies)")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--email", default="")
        parser.add_argument("--totp-secret", default="", help="base32 TOTP secret")
        parser.add_argument("--habilitation", default="", help="habilitation reference")
        parser.add_argument("--habilitation-authority", default="")
        parser.add_argument("--habilitation-until", default=None, help="YYYY-MM-DD")

    def handle(self, *args, **o) -> None:
        secret = o["totp_secret"].replace(" ", "").upper()
        if secret:
            try:
                base64.b32decode(secret + "=" * (-len(secret) % 8))
            except (binascii.Error, ValueError) as exc:
                raise CommandError("--totp-secret is not valid base32") from exc
        until = _date(o["habilitation_until"]) if o["habilitation_until"] else None
        if until and not o["habilitation"]:
            raise CommandError("--habilitation-until needs --habilitation")
        try:
            member = member_create(
                username=o["username"], password=o["password"], agency_code=o["agency"],
                role=o["role"], email=o["email"], totp_secret=secret,
                habilitation_reference=o["habilitation"],
                habilitation_authority=o["habilitation_authority"],
                habilitation_valid_until=until,
            )
        except DomainError as exc:
            raise CommandError(str(exc.detail)) from exc
        self.stdout.write(self.style.SUCCESS(f"Created {member}"))
