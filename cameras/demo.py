"""Demo camera registry at the real scale: 396 sites spread by population, more than
2,000 cameras, nomadic cameras in every commune, masks, authorisations.

Deterministic (a fixed seed) and idempotent: objects are keyed by code and only
the missing ones are created. Positions are plausible, not real.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from cameras.choices import CameraKind, Purpose
from cameras.models import Authorisation, Camera, PrivacyMask, PtzPreset, Site
from cameras.services import camera_geometry
from geo.geometry import sector
from geo.models import Commune
from partners.choices import AgencyKind

SEED = 2026
TOTAL_SITES = 396
MIN_SITES_PER_COMMUNE = 4
NOMADIC_PER_COMMUNE = 3
MIN_SITE_SPACING_M = 70.0
SITE_KINDS = ["Gare", "Groupe scolaire", "Place du marché", "Carrefour", "Parking", "Mairie",
              "Rue commerçante", "Parc", "Collège", "Gymnase", "Centre commercial", "Rond-point",
              "Arrêt de bus", "Église", "Médiathèque", "Résidence", "Avenue", "Stade"]
STREETS = ["rue de la République", "avenue de Paris", "rue du Général de Gaulle",
           "place de la Mairie", "rue Jean Jaurès", "boulevard d'Andilly", "rue de la Gare",
           "avenue Foch", "rue Pasteur", "rue Victor Hugo", "chemin des Vignes",
           "rue de Montmorency", "avenue de la Division Leclerc", "rue Carnot", "rue des Écoles"]
# Rectangles of a picture where a façade's windows typically sit.
HOUSING_MASKS = [
    [[0.62, 0.05], [0.98, 0.05], [0.98, 0.45], [0.62, 0.45]],
    [[0.02, 0.08], [0.30, 0.08], [0.30, 0.52], [0.02, 0.52]],
    [[0.40, 0.02], [0.70, 0.02], [0.72, 0.30], [0.38, 0.30]],
]


def allocate_sites(populations: dict[str, int], total: int = TOTAL_SITES,
                   minimum: int = MIN_SITES_PER_COMMUNE) -> dict[str, int]:
    """Spread ``total`` sites over communes in proportion to population (largest remainder),
    each commune getting at least ``minimum``."""
    spare = total - minimum * len(populations)
    people = sum(populations.values())
    quotas = {code: spare * pop / people for code, pop in populations.items()}
    counts = {code: minimum + math.floor(q) for code, q in quotas.items()}
    left = total - sum(counts.values())
    for code in sorted(quotas, key=lambda c: (quotas[c] - math.floor(quotas[c]), c),
                       reverse=True)[:left]:
        counts[code] += 1
    return counts


@dataclass
class _Plan:
    sites: list[dict] = field(default_factory=list)
    cameras: list[dict] = field(default_factory=list)


def _offset(lon: float, lat: float, dx_m: float, dy_m: float) -> tuple[float, float]:
    return lon + dx_m / (111_320 * math.cos(math.radians(lat))), lat + dy_m / 110_540


def _plan(communes: list[Commune], centres: dict[str, tuple[float, float]]) -> _Plan:
    rng = random.Random(SEED)
    plan = _Plan()
    counts = allocate_sites({c.insee_code: c.population or 1 for c in communes})
    for commune in communes:
        boundary = commune.boundary
        lon0, lat0 = centres.get(commune.insee_code) or boundary.point_on_surface.coords
        area_m2 = boundary.transform(2154, clone=True).area
        sigma = 0.33 * math.sqrt(area_m2)
        placed: list[tuple[float, float]] = []
        for n in range(1, counts[commune.insee_code] + 1):
            for _attempt in range(2000):
                lon, lat = _offset(lon0, lat0, rng.gauss(0, sigma), rng.gauss(0, sigma))
                if not boundary.contains(Point(lon, lat, srid=4326)):
                    continue
                if all(math.hypot((lon - x) * 73_000, (lat - y) * 110_540) >= MIN_SITE_SPACING_M
                       for x, y in placed):
                    break
            placed.append((lon, lat))
            kind = rng.choice(SITE_KINDS)
            code = f"{commune.insee_code}-s{n:03d}"
            plan.sites.append({
                "code": code, "name": f"{kind} — {commune.name}",
                "address": f"{rng.randint(1, 120)} {rng.choice(STREETS)}, "
                           f"{commune.postcode} {commune.name}",
                "lon": lon, "lat": lat, "commune": commune.insee_code})
            _plan_site_cameras(rng, plan, code, commune.name, lon, lat)
        # The commune's nomadic cameras stand wherever they were last moved to; their
        # site is the commune's pool.
        pool = f"{commune.insee_code}-nomades"
        plan.sites.append({"code": pool, "name": f"Caméras nomades — {commune.name}",
                           "address": f"Services techniques, {commune.postcode} {commune.name}",
                           "lon": lon0, "lat": lat0, "commune": commune.insee_code,
                           "nomadic_pool": True})
        for n in range(1, NOMADIC_PER_COMMUNE + 1):
            lon, lat = placed[rng.randrange(len(placed))]
            lon, lat = _offset(lon, lat, rng.uniform(-150, 150), rng.uniform(-150, 150))
            if not boundary.contains(Point(lon, lat, srid=4326)):
                lon, lat = lon0, lat0
            plan.cameras.append({
                "code": f"{pool}-n{n}", "name": f"Nomade {n} — {commune.name}", "site": pool,
                "kind": CameraKind.NOMADIC, "lon": lon, "lat": lat,
                "heading": float(rng.randrange(0, 360, 5)), "angle": 70.0,
                "range_m": float(rng.randrange(60, 130, 10)), "masks": [], "presets": []})
    return plan


def _plan_site_cameras(rng: random.Random, plan: _Plan, site: str, commune: str,
                       lon: float, lat: float) -> None:
    faces_housing = rng.random() < 0.3
    ptz_heading = float(rng.randrange(0, 360, 5))
    presets = [{"number": i, "name": f"Préréglage {i}",
                "heading": (ptz_heading + 90.0 * (i - 1) + rng.uniform(-20, 20)) % 360,
                "angle": float(rng.choice([25, 35, 45])),
                "range_m": float(rng.randrange(150, 320, 10))} for i in range(1, 5)]
    plan.cameras.append({
        "code": f"{site}-ptz", "name": f"Dôme PTZ — {site}", "site": site, "kind": CameraKind.PTZ,
        "lon": lon, "lat": lat, "heading": ptz_heading, "angle": 55.0,
        "range_m": float(rng.randrange(180, 300, 10)), "presets": presets,
        "masks": [(HOUSING_MASKS[0], 1)] if faces_housing else []})
    plan.cameras.append({
        "code": f"{site}-pano", "name": f"Panoramique — {site}", "site": site,
        "kind": CameraKind.PANORAMIC, "lon": lon, "lat": lat,
        "heading": float(rng.randrange(0, 360, 5)), "angle": rng.choice([180.0, 360.0]),
        "range_m": float(rng.randrange(50, 90, 5)), "presets": [],
        "masks": [(HOUSING_MASKS[1], None)] if faces_housing else []})
    for i in range(1, rng.choice([2, 3, 3, 4, 4]) + 1):
        plan.cameras.append({
            "code": f"{site}-f{i}", "name": f"Fixe {i} — {site}", "site": site,
            "kind": CameraKind.FIXED, "lon": lon, "lat": lat,
            "heading": float(rng.randrange(0, 360, 5)), "angle": float(rng.choice([40, 60, 75, 90])),
            "range_m": float(rng.randrange(40, 150, 10)), "presets": [],
            "masks": [(rng.choice(HOUSING_MASKS), None)] if faces_housing and rng.random() < 0.5
            else []})


@transaction.atomic
def demo_cameras_ensure(*, centres: dict[str, tuple[float, float]]) -> dict[str, int]:
    """Create the missing demo sites, cameras, presets, masks and authorisations."""
    communes = list(Commune.objects.order_by("insee_code"))
    plan = _plan(communes, centres)
    by_insee = {c.insee_code: c for c in communes}
    existing_sites = set(Site.objects.values_list("code", flat=True))
    Site.objects.bulk_create([
        Site(code=s["code"], name=s["name"], address=s["address"], commune=by_insee[s["commune"]],
             location=Point(s["lon"], s["lat"], srid=4326),
             nomadic_pool=s.get("nomadic_pool", False))
        for s in plan.sites if s["code"] not in existing_sites])
    site_ids = dict(Site.objects.values_list("code", "id"))
    existing_cameras = set(Camera.objects.values_list("code", flat=True))
    new = [c for c in plan.cameras if c["code"] not in existing_cameras]
    cameras, presets_of = [], {}
    for spec in new:
        camera = Camera(code=spec["code"], name=spec["name"], site_id=site_ids[spec["site"]],
                        kind=spec["kind"], stream_uri="synthetic:",
                        location=Point(spec["lon"], spec["lat"], srid=4326),
                        heading=spec["heading"], angle=spec["angle"], range_m=spec["range_m"])
        presets = [PtzPreset(number=p["number"], name=p["name"], heading=p["heading"],
                             angle=p["angle"], range_m=p["range_m"],
                             fov=sector(camera.location, heading=p["heading"], angle=p["angle"],
                                        range_m=p["range_m"])) for p in spec["presets"]]
        camera.fov, camera.coverage = camera_geometry(camera=camera, presets=presets)
        cameras.append(camera)
        presets_of[spec["code"]] = presets
    Camera.objects.bulk_create(cameras, batch_size=500)
    all_presets, masks = [], []
    for camera, spec in zip(cameras, new, strict=True):
        for preset in presets_of[spec["code"]]:
            preset.camera = camera
            all_presets.append(preset)
    PtzPreset.objects.bulk_create(all_presets, batch_size=1000)
    preset_ids = {(p.camera_id, p.number): p for p in all_presets}
    for camera, spec in zip(cameras, new, strict=True):
        for polygon, preset_number in spec["masks"]:
            masks.append(PrivacyMask(
                camera=camera, polygon=polygon, label="Façade d'habitation",
                preset=preset_ids.get((camera.pk, preset_number)) if preset_number else None))
    PrivacyMask.objects.bulk_create(masks, batch_size=1000)
    authorisations = _authorisations_ensure(communes)
    return {"sites": Site.objects.filter(nomadic_pool=False).count(), "cameras": Camera.objects.count(),
            "new_cameras": len(cameras), "masks": len(masks), "authorisations": authorisations}


def _authorisations_ensure(communes: list[Commune]) -> int:
    """One prefectoral order per commune. A few expire within 30 days; one has expired."""
    today = timezone.localdate()
    rng = random.Random(SEED + 1)
    by_size = sorted(communes, key=lambda c: (c.population or 0, c.insee_code))
    expired = {by_size[0].insee_code}
    expiring = {by_size[1].insee_code: 12, by_size[5].insee_code: 26}
    created = 0
    for commune in communes:
        order = f"AP-95-2024-{commune.insee_code}"
        if Authorisation.objects.filter(order_number=order).exists():
            continue
        if commune.insee_code in expired:
            valid_from, valid_until = today - dt.timedelta(days=5 * 365), today - dt.timedelta(days=9)
        elif commune.insee_code in expiring:
            valid_from = today - dt.timedelta(days=5 * 365 - 60)
            valid_until = today + dt.timedelta(days=expiring[commune.insee_code])
        else:
            valid_from = today - dt.timedelta(days=rng.randrange(100, 900))
            valid_until = valid_from + dt.timedelta(days=5 * 365)
        authorisation = Authorisation.objects.create(
            order_number=order, valid_from=valid_from, valid_until=valid_until,
            purposes=[Purpose.PUBLIC_SAFETY, Purpose.PROPERTY, Purpose.OFFENCES, Purpose.RESCUE],
            recipients=[AgencyKind.PN, AgencyKind.PM, AgencyKind.GN, AgencyKind.SDIS],
            retention_days=14)
        authorisation.cameras.set(Camera.objects.filter(site__commune=commune))
        created += 1
    return created
