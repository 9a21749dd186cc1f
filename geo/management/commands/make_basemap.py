"""``python manage.py make_basemap FILE`` — draw the territory's offline basemap (PMTiles)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from geo.basemap import render_basemap


class Command(BaseCommand):
    help = ("Draw a raster basemap of the territory (commune areas and boundaries, a kilometre "
            "grid) from the database into a PMTiles archive, for the pages' offline background "
            "(HUB_MAP_PMTILES). See docs/map.md for a real basemap.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument("--min-zoom", type=int, default=9)
        parser.add_argument("--max-zoom", type=int, default=15)
        parser.add_argument("--margin", type=float, default=2000, help="metres drawn around the communes")
        parser.add_argument("--if-missing", action="store_true",
                            help="do nothing when the file already exists")

    def handle(self, *args, path: Path, min_zoom: int, max_zoom: int, margin: float,
               if_missing: bool, **options) -> None:
        if if_missing and path.exists():
            self.stdout.write(f"{path}: already there, kept.")
            return
        try:
            summary = render_basemap(path, min_zoom=min_zoom, max_zoom=max_zoom, margin_m=margin)
        except ValueError as err:
            raise CommandError(str(err)) from err
        self.stdout.write(
            f"{summary.path}: {summary.tiles} tiles ({summary.distinct_tiles} distinct), zoom "
            f"{summary.min_zoom}–{summary.max_zoom}, {summary.size_bytes / 1e6:.1f} MB.")
