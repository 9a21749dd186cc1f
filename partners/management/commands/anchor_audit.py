"""``python manage.py anchor_audit``: anchor the access journal now (on demand)."""

from django.core.management.base import BaseCommand, CommandError

from partners.anchor import AnchorRefused, audit_anchor


class Command(BaseCommand):
    help = ("Sign the access journal's head and append it to the anchor file (HUB_AUDIT_ANCHOR_FILE), "
            "then send the anchors the syslog server (HUB_AUDIT_SYSLOG) has not had yet. "
            "Exit status 3 if the journal no longer holds what the latest anchor signed.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--if-changed", action="store_true",
                            help="Anchor only if the journal moved, or the heartbeat is due (as the "
                                 "periodic task does).")
        parser.add_argument("--rebase", action="store_true",
                            help="Anchor even though the journal no longer holds what the latest anchor "
                                 "signed (after the break was investigated; the alarm is still raised, "
                                 "and verify_audit keeps reporting the break).")

    def handle(self, *args, if_changed: bool, rebase: bool, **options) -> None:
        try:
            result = audit_anchor(force=not if_changed, rebase=rebase)
        except AnchorRefused as exc:
            raise CommandError(f"No anchor written: {exc}.", returncode=3) from exc
        anchor = result.anchor
        if anchor is None:  # pragma: no cover - audit_anchor always anchors a first time
            raise CommandError("No anchor.")
        verb = "written" if result.written else "unchanged, latest"
        self.stdout.write(f"Anchor #{anchor.seq} {verb}: record #{anchor.last_id}, {anchor.count} records, "
                          f"hash {anchor.last_hash}, at {anchor.at}.")
        self.stdout.write(f"  file: {result.path} (append-only flag: {result.append_only})")
        self.stdout.write(f"  syslog: {result.syslog}")
        self.stdout.write(f"  key: {anchor.key_id}")
