"""``python manage.py verify_export <dir> --fingerprint HEX | --public-key FILE``: check an
extraction's files and signature, offline, against the centre's key obtained from the centre."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from partners.signing import KeyProblem, normalised_fingerprint
from recordings.manifest import PUBLIC_KEY, verify_export

KEY_URL = "/.well-known/csu-export-key"
NEEDS_A_KEY = (
    "give the centre's key: --fingerprint HEX (the SHA-256 fingerprint the centre publishes at "
    f"{KEY_URL} on its hub, and prints when the hub starts) or --public-key FILE (the centre's "
    f"public key, PEM, obtained from the centre). The {PUBLIC_KEY} inside the export cannot "
    "vouch for itself: whoever altered the export could have re-signed it with a key of their own."
)


class Command(BaseCommand):
    help = ("Verify an export directory: the manifest's Ed25519 signature, by the centre's key "
            "(--fingerprint or --public-key, one is required), then every file's size and SHA-256.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--public-key", type=Path, default=None,
                            help="The centre's public key (PEM), obtained from the centre.")
        parser.add_argument("--fingerprint", default=None,
                            help=f"The centre's key fingerprint (SHA-256, 64 hex digits; spaces and "
                                 f"colons allowed), as published at {KEY_URL}: the key shipped in "
                                 f"the export must have it.")

    def handle(self, *args, directory: Path, public_key: Path | None, fingerprint: str | None,
               **options) -> None:
        if public_key is None and fingerprint is None:
            raise CommandError(NEEDS_A_KEY)
        if not directory.is_dir():
            raise CommandError(f"{directory}: not a directory")
        pem = None
        if public_key is not None:
            if not public_key.is_file():
                raise CommandError(f"{public_key}: no such file")
            pem = public_key.read_bytes()
        if fingerprint is not None:
            try:
                fingerprint = normalised_fingerprint(fingerprint)
            except KeyProblem as exc:
                raise CommandError(f"--fingerprint: {exc}") from exc
        problems = verify_export(directory, public_key_pem=pem, fingerprint=fingerprint)
        if problems:
            for problem in problems:
                self.stderr.write(f"FAIL {problem}")
            raise CommandError(f"{len(problems)} problem(s): the export does not verify")
        how = "the given public key" if pem is not None else f"the key of fingerprint {fingerprint}"
        self.stdout.write(f"OK: signed with {how}; every file matches the manifest")
