"""Addresses: search and the address of a point (reverse geocoding).

The national address base (BAN) answers, through the geocoder of the IGN's Géoplateforme
(``HUB_GEOCODER_URL``; its answers are GeoCodeJSON, as the BAN's own API gives). When it
is not configured, does not answer within ``HUB_GEOCODER_TIMEOUT_SECONDS`` or answers
nonsense, our own data answers: commune names and camera sites' addresses for a search;
the commune of the point (PostGIS) and the nearest camera site's address for a point.
Every answer says which source gave it, and why ours did.
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import unicodedata
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.contrib.gis.geos import Point
from django.core.cache import cache
from django.utils.translation import gettext as _

from geo.geometry import EARTH_RADIUS_M
from geo.models import Commune
from geo.places import all_places, nearest_place
from geo.selectors import commune_at

logger = logging.getLogger(__name__)

BAN = "ban"
LOCAL = "local"
# An answer larger than this is not an address list: read no further.
MAX_ANSWER_BYTES = 512 * 1024
# A point farther than this from any camera site is described by its commune alone.
NEAREST_SITE_M = 500
# Closer than this, the site's address is the point's address.
SAME_PLACE_M = 25
_DOWN_KEY = "geocoder:down"


class GeocoderUnavailable(Exception):
    """The national geocoder did not give a usable answer (unreachable, slow, refused, garbled).

    ``lasting``: the geocoder itself is at fault (down, overloaded), not this one question.
    """

    def __init__(self, reason: str, *, lasting: bool = True) -> None:
        super().__init__(reason)
        self.lasting = lasting


@dataclass(frozen=True)
class Address:
    """One address or place, as the pages show it and fill the address field with."""

    label: str
    lon: float
    lat: float
    kind: str  # BAN types (housenumber, street, locality, municipality), or site / commune
    postcode: str = ""
    city: str = ""
    citycode: str = ""
    score: float | None = None
    distance_m: float | None = None

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        lon, lat = data.pop("lon"), data.pop("lat")
        data["location"] = {"type": "Point", "coordinates": [lon, lat]}
        return data


@dataclass(frozen=True)
class SearchAnswer:
    source: str
    results: list[Address]
    notice: str = ""

    def as_json(self) -> dict[str, object]:
        return {"source": self.source, "notice": self.notice,
                "results": [result.as_json() for result in self.results]}


@dataclass(frozen=True)
class ReverseAnswer:
    source: str
    address: Address | None
    commune: Commune | None
    notice: str = ""
    nearest_site: dict[str, object] | None = field(default=None)

    def as_json(self) -> dict[str, object]:
        commune = self.commune
        return {
            "source": self.source, "notice": self.notice,
            "address": self.address.as_json() if self.address else None,
            "commune": {"insee_code": commune.insee_code, "name": commune.name,
                        "postcode": commune.postcode} if commune else None,
            "nearest_site": self.nearest_site,
        }


# --- The national geocoder.


def _geocoder_down() -> bool:
    try:
        return bool(cache.get(_DOWN_KEY))
    except Exception:  # noqa: BLE001 (Redis away: ask the geocoder, as if it were up)
        return False


def _mark_down(reason: str) -> None:
    logger.warning("geocoder %s unusable (%s): our own data answers for %s s",
                   settings.HUB_GEOCODER_URL, reason, settings.HUB_GEOCODER_RETRY_SECONDS)
    if settings.HUB_GEOCODER_RETRY_SECONDS > 0:
        try:
            cache.set(_DOWN_KEY, reason, settings.HUB_GEOCODER_RETRY_SECONDS)
        except Exception:  # noqa: BLE001
            pass


def _ask(path: str, params: dict[str, object]) -> list[dict]:
    """The features of the geocoder's answer to ``path?params``; GeocoderUnavailable otherwise."""
    url = f"{settings.HUB_GEOCODER_URL}/{path}?{urlencode(params)}"
    request = urllib.request.Request(url, headers={"Accept": "application/json",
                                                   "User-Agent": "csu-hub (geocoding)"})
    timeout = settings.HUB_GEOCODER_TIMEOUT_SECONDS
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (a setting's https URL)
            chunks, size = [], 0
            # The timeout bounds each read; the deadline bounds a server that drips its answer.
            while chunk := answer.read(16384):
                chunks.append(chunk)
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise GeocoderUnavailable("answer too large")
                if time.monotonic() > deadline:
                    raise GeocoderUnavailable("answer too slow")
    except urllib.error.HTTPError as err:
        # 400 and the like are about this question (the geocoder is up); 429 and 5xx are not.
        lasting = err.code == 429 or err.code >= 500
        raise GeocoderUnavailable(f"HTTP {err.code}", lasting=lasting) from err
    except (OSError, ValueError) as err:  # refused, unreachable, timed out, bad URL
        raise GeocoderUnavailable(str(getattr(err, "reason", err)) or type(err).__name__) from err
    try:
        data = json.loads(b"".join(chunks))
    except ValueError as err:
        raise GeocoderUnavailable("not JSON") from err
    if not isinstance(data, dict) or not isinstance(data.get("features"), list):
        raise GeocoderUnavailable("not a GeoJSON FeatureCollection")
    return data["features"]


def _text(value: object) -> str:
    return value.strip()[:300] if isinstance(value, str) else ""


def _from_feature(feature: object) -> Address | None:
    """A GeoCodeJSON feature as an Address; None when it is not a usable one."""
    if not isinstance(feature, dict):
        return None
    geometry, props = feature.get("geometry"), feature.get("properties")
    if not isinstance(geometry, dict) or not isinstance(props, dict) or geometry.get("type") != "Point":
        return None
    coords = geometry.get("coordinates")
    if not (isinstance(coords, list) and len(coords) >= 2
            and all(isinstance(c, int | float) and math.isfinite(c) for c in coords[:2])):
        return None
    lon, lat = float(coords[0]), float(coords[1])
    label = _text(props.get("label"))
    if not label or not (-180 <= lon <= 180 and -90 <= lat <= 90):
        return None
    score = props.get("score")
    return Address(label=label, lon=lon, lat=lat, kind=_text(props.get("type")) or "address",
                   postcode=_text(props.get("postcode")), city=_text(props.get("city")),
                   citycode=_text(props.get("citycode")),
                   score=float(score) if isinstance(score, int | float) and math.isfinite(score) else None)


def _national(path: str, params: dict[str, object]) -> list[Address]:
    """Addresses from the national geocoder; GeocoderUnavailable when it cannot give them now."""
    if not settings.HUB_GEOCODER_URL:
        raise GeocoderUnavailable("not configured")
    if _geocoder_down():
        raise GeocoderUnavailable("failed recently")
    try:
        features = _ask(path, params)
    except GeocoderUnavailable as err:
        if err.lasting:
            _mark_down(str(err))
        raise
    return [address for address in map(_from_feature, features) if address is not None]


def _why_local(err: GeocoderUnavailable) -> str:
    if str(err) == "not configured":
        return _("National address base not configured: addresses come from the centre's own data.")
    return _("National address base unreachable: addresses come from the centre's own data.")


# --- Our own data.


def _fold(text: str) -> str:
    """Lower case, no accents, words only: "Saint-Brice-sous-Forêt" → "saint brice sous foret"."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[a-z0-9]+", text))


def _matches(words: list[str], haystack: str) -> bool:
    """Every word typed starts a word of ``haystack`` (as one types: "rue de la gar")."""
    hay = haystack.split()
    return all(any(h.startswith(word) for h in hay) for word in words)


def _commune_address(commune: Commune) -> Address:
    point = commune.boundary.point_on_surface
    return Address(label=f"{commune.postcode} {commune.name}".strip(), lon=point.x, lat=point.y,
                   kind="commune", postcode=commune.postcode, city=commune.name,
                   citycode=commune.insee_code)


def _local_search(q: str, limit: int) -> list[Address]:
    words = _fold(q).split()
    if not words:
        return []
    found = [_commune_address(c) for c in Commune.objects.order_by("name")
             if _matches(words, _fold(f"{c.name} {c.postcode}"))]
    places = sorted((p for p in all_places() if p.address and _matches(words, _fold(p.address))),
                    key=lambda p: _fold(p.address))
    seen: set[str] = set()
    for place in places:
        if len(found) >= limit:
            break
        if place.address in seen:
            continue
        seen.add(place.address)
        found.append(Address(label=place.address, lon=place.lon, lat=place.lat, kind="site"))
    return found[:limit]


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


# --- What the API calls.

MIN_QUERY_LENGTH = 3  # the BAN refuses shorter queries; nobody means an address by two letters


def address_search(*, q: str, limit: int = 6) -> SearchAnswer:
    """Addresses matching ``q`` (as typed, possibly unfinished), best first."""
    # The BAN wants a question that starts with a letter or a digit.
    q = re.sub(r"^[^\w]+", "", " ".join(q.split()))
    if len(q) < MIN_QUERY_LENGTH or not _fold(q):
        return SearchAnswer(source=LOCAL, results=[])
    params: dict[str, object] = {"q": q, "limit": limit, "index": "address", "autocomplete": 1}
    centre = _service_area_centre()
    if centre is not None:  # the BAN ranks addresses near this point first
        params.update(lon=round(centre[0], 5), lat=round(centre[1], 5))
    try:
        return SearchAnswer(source=BAN, results=_national("search", params)[:limit])
    except GeocoderUnavailable as err:
        return SearchAnswer(source=LOCAL, results=_local_search(q, limit), notice=_why_local(err))


def address_reverse(*, point: Point) -> ReverseAnswer:
    """The address at ``point``: the national base's nearest one, else the nearest camera
    site's (or the commune's); and always the commune our own boundaries put it in."""
    commune = commune_at(point)
    site = nearest_place(point, within_m=NEAREST_SITE_M)
    nearest = {"name": site.name, "address": site.address, "distance_m": round(site.distance_m or 0),
               "location": {"type": "Point", "coordinates": [site.lon, site.lat]}} if site else None
    notice = ""
    try:
        found = _national("reverse", {"lon": round(point.x, 6), "lat": round(point.y, 6),
                                      "index": "address", "limit": 1})
    except GeocoderUnavailable as err:
        found, notice = [], _why_local(err)
    else:
        if found:
            best = found[0]
            best = Address(**{**asdict(best), "distance_m": round(
                _distance_m(point.x, point.y, best.lon, best.lat))})
            return ReverseAnswer(source=BAN, address=best, commune=commune, nearest_site=nearest)
        notice = _("No address of the national base near this point: the centre's own data answers.")

    address = None
    if site is not None and site.address:
        distance = round(site.distance_m or 0)
        label = site.address if distance <= SAME_PLACE_M else _(
            "Near %(address)s (camera site %(distance)s m away)") % {"address": site.address,
                                                                    "distance": distance}
        address = Address(label=label, lon=point.x, lat=point.y, kind="site", distance_m=distance)
    elif commune is not None:
        address = Address(**{**asdict(_commune_address(commune)), "lon": point.x, "lat": point.y})
    if commune is None:
        notice = " ".join(filter(None, [notice, _("This point is outside the service area.")]))
    return ReverseAnswer(source=LOCAL, address=address, commune=commune, notice=notice,
                         nearest_site=nearest)


def _service_area_centre() -> tuple[float, float] | None:
    extent = Commune.objects.aggregate(extent=Extent("boundary"))["extent"]
    if extent is None:
        return None
    return (extent[0] + extent[2]) / 2, (extent[1] + extent[3]) / 2
