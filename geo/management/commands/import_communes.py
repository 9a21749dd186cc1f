import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from geo.services import CommuneImportError, communes_import


class Command(BaseCommand):
    help = ("Import communes from the official communes GeoJSON (IGN ADMIN EXPRESS or the geo "
            "API's contours). All or nothing: every bad feature is reported and nothing is written.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args, path: Path, **options) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {path}") from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CommandError(f"{path} is not JSON: {exc}") from exc
        try:
            report = communes_import(geojson=data)
        except CommuneImportError as exc:
            for problem in exc.problems:
                self.stderr.write(f"  - {problem}")
            raise CommandError(
                f"{len(exc.problems)} problem(s) in {path}; nothing was imported.") from exc
        self.stdout.write(self.style.SUCCESS(
            f"{len(report.created)} commune(s) created, {len(report.updated)} updated."))
