"""``python manage.py verify_export <dir>``: check an extraction's files and signature, offline."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from streaming.export import PUBLIC_KEY, key_fingerprint, verify_export


class Command(BaseCommand):
    help = "Verify an export directory: manifest signature (Ed25519) and every file's size and SHA-256."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("--public-key", type=Path, default=None,
                            help="The hub's public key (PEM). Without it, the key shipped in the directory "
                                 "is used: compare its fingerprint with the hub's.")

    def handle(self, *args, directory: Path, public_key: Path | None, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory}: not a directory")
        pem = public_key.read_bytes() if public_key else None
        shipped = directory / PUBLIC_KEY
        if pem is None and shipped.is_file():
            fingerprint = key_fingerprint(shipped.read_bytes())
            self.stdout.write(f"key fingerprint (check it against the hub's): {fingerprint}")
        problems = verify_export(directory, public_key_pem=pem)
        if problems:
            for problem in problems:
                self.stderr.write(f"FAIL {problem}")
            raise CommandError(f"{len(problems)} problem(s): the export does not verify")
        self.stdout.write("OK: signature and files verify")
