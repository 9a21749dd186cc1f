"""``python manage.py export_key``: the centre's signing key fingerprint, and where it is published."""

from django.core.management.base import BaseCommand

from partners.anchor import anchor_key
from partners.signing import fingerprint, grouped
from recordings.keys import KEY_URL
from recordings.manifest import hub_public_key


class Command(BaseCommand):
    help = ("Print the fingerprint (SHA-256) of the key that signs the extractions, the URL where the "
            "hub publishes it, and the fingerprint of the access journal's anchoring key. Creates the "
            "keys if they do not exist yet.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="The hub's address.")
        parser.add_argument("--pem", action="store_true", help="Print the public key (PEM) alone.")

    def handle(self, *args, url: str, pem: bool, **options) -> None:
        public, export_fingerprint = hub_public_key()
        if pem:
            self.stdout.write(public.decode(), ending="")
            return
        self.stdout.write(f"  Extractions' signing key (Ed25519), SHA-256 fingerprint: "
                          f"{grouped(export_fingerprint)}")
        self.stdout.write(f"    published at {url.rstrip('/')}{KEY_URL} (check an export: python manage.py "
                          f"verify_export <dir> --fingerprint {export_fingerprint})")
        self.stdout.write(f"  Access journal's anchoring key, SHA-256 fingerprint: "
                          f"{grouped(fingerprint(anchor_key().public_key()))}")
