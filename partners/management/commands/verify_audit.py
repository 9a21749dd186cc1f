"""``python manage.py verify_audit``: check the access journal's chain, and the journal against
its signed anchors (docs/security.md §4 gives the exit statuses)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from partners.anchor import Finding, anchor_public_key, audit_verify
from partners.signing import KeyProblem, fingerprint, load_public_pem


class Command(BaseCommand):
    help = ("Verify the access journal: its hash chain, then every anchor (signed head) of the anchor "
            "file or of the given files. Exit status: 0 intact; 2 chain broken; 3 rewritten; 4 newest "
            "records deleted; 5 emptied; 6 an anchor does not verify; 7 no anchor; 1 cannot check.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--anchors", type=Path, action="append", default=None, metavar="PATH",
                            help="A file of anchors: the anchor file, or lines taken from the syslog "
                                 "store (any line format; the anchor is the JSON at its end). May be "
                                 "given more than once. Default: HUB_AUDIT_ANCHOR_FILE.")
        parser.add_argument("--public-key", type=Path, action="append", default=None, metavar="PEM",
                            help="The anchoring public key (PEM; several after a key change). Default: "
                                 "the public half of HUB_AUDIT_ANCHOR_KEY_PATH.")
        parser.add_argument("--chain-only", action="store_true",
                            help="Check the chain alone, reading no anchor (a journal rewritten with "
                                 "recomputed hashes then passes).")

    def handle(self, *args, anchors: list[Path] | None, public_key: list[Path] | None, chain_only: bool,
               **options) -> None:
        paths = anchors or [Path(settings.HUB_AUDIT_ANCHOR_FILE)]
        for path in paths:
            if anchors and not path.is_file():
                raise CommandError(f"{path}: no such file")
        paths = [path for path in paths if path.is_file() and not chain_only]
        keys = []
        try:
            for pem in public_key or []:
                keys.append(load_public_pem(pem.read_bytes()))
            if not public_key:
                own = anchor_public_key()
                if own is None and paths and not chain_only:
                    raise CommandError(f"No anchoring key at {settings.HUB_AUDIT_ANCHOR_KEY_PATH}: "
                                       f"give its public key with --public-key.")
                keys += [own] if own is not None else []
        except (OSError, KeyProblem) as exc:
            raise CommandError(f"--public-key: {exc}") from exc

        result = audit_verify(anchor_paths=paths, public_keys=keys, require_anchor=not chain_only)
        for problem in result.problems:
            self.stderr.write(f"FAIL [{problem.finding.name.lower()}] {problem.message}")
        for warning in result.warnings:
            self.stderr.write(f"WARNING {warning}")
        worst = result.worst
        if worst is not None:
            raise CommandError(f"Access journal broken: {worst.message}.", returncode=int(worst.finding))
        summary = f"Access journal intact: {result.records} records, chain verified"
        if result.latest is not None:
            latest = result.latest
            key_ids = ", ".join(fingerprint(key)[:16] + "…" for key in keys)
            summary += (f"; {result.anchors} anchor(s) verified (key {key_ids}), "
                        f"the latest #{latest.seq} of {latest.at} up to record #{latest.last_id}; "
                        f"{result.after_latest} record(s) written since, vouched for by the chain alone.")
        else:
            summary += "; no anchor checked (--chain-only)."
        self.stdout.write(self.style.SUCCESS(summary))


__all__ = ["Command", "Finding"]
