"""Addresses: search and the address of a point, from the national address base (a stand-in
on loopback speaking its GeoCodeJSON) or, when it cannot answer, from the centre's data."""

from __future__ import annotations

import pytest

from cameras.models import Site
from tests import factories
from tests.factories import CENTRE, offset

pytestmark = pytest.mark.django_db

SEARCH = "/api/geo/address/search/"
REVERSE = "/api/geo/address/reverse/"


@pytest.fixture
def territory(area):
    """Montmorency (2 km square), a camera site 200 m south of its centre, and a nomadic
    cameras' depot right at the centre (not a place where anything happens)."""
    south = offset(CENTRE, bearing=180, metres=200)
    Site.objects.create(code="s-gare", name="Gare", commune=area, location=south,
                        address="5 place de la Gare, 95160 Montmorency")
    Site.objects.create(code="depot", name="Dépôt", commune=area, location=CENTRE, nomadic_pool=True,
                        address="Services techniques, 95160 Montmorency")
    return area


@pytest.fixture
def staff(api, operator):
    return api.as_member(operator)


def test_search_answers_from_the_national_base(staff, territory, ban):
    answer = staff.get(SEARCH, {"q": "12 rue de la gare"})
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["source"] == "ban" and data["notice"] == ""
    [first] = data["results"]
    assert first["label"] == "12 Rue de la Gare 95160 Montmorency"
    assert (first["kind"], first["postcode"], first["city"], first["citycode"]) == (
        "housenumber", "95160", "Montmorency", "95428")
    north = offset(CENTRE, bearing=0, metres=150)
    assert first["location"] == {"type": "Point", "coordinates": [north.x, north.y]}
    # Asked as the BAN wants it, ranked around the service area.
    path, params = ban.requests[-1]
    assert path == "/search"
    assert (params["q"], params["index"], params["autocomplete"]) == ("12 rue de la gare", "address", "1")
    assert abs(float(params["lat"]) - CENTRE.y) < 0.001 and abs(float(params["lon"]) - CENTRE.x) < 0.001


def test_reverse_gives_the_national_address_and_our_commune(staff, territory, ban):
    answer = staff.get(REVERSE, {"lat": CENTRE.y, "lon": CENTRE.x})
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["source"] == "ban"
    assert data["address"]["label"] == "12 Rue de la Gare 95160 Montmorency"
    assert data["address"]["distance_m"] == 150
    assert data["commune"] == {"insee_code": "95428", "name": "Montmorency", "postcode": "95160"}
    assert ban.requests[-1][0] == "/reverse"


@pytest.mark.parametrize("mode", ["down", "slow", "garbled"])
def test_a_failing_national_base_leaves_the_answer_to_our_data(staff, territory, ban, mode):
    ban.mode = mode
    data = staff.get(SEARCH, {"q": "gare montmo"}).json()
    assert data["source"] == "local"
    assert data["notice"] == "Base Adresse Nationale injoignable : adresses tirées des données du centre."
    # Camera sites' addresses (never a depot's), then as typed: unfinished words match.
    assert [r["label"] for r in data["results"]] == ["5 place de la Gare, 95160 Montmorency"]

    data = staff.get(REVERSE, {"lat": CENTRE.y, "lon": CENTRE.x}).json()
    assert data["source"] == "local"
    assert data["address"]["label"] == (
        "Vers 5 place de la Gare, 95160 Montmorency (site de caméras à 200 m)")
    assert data["address"]["location"]["coordinates"] == [CENTRE.x, CENTRE.y]
    assert data["commune"]["name"] == "Montmorency"
    assert data["nearest_site"]["name"] == "Gare" and data["nearest_site"]["distance_m"] == 200


def test_an_unreachable_national_base_is_not_asked_again_for_a_while(staff, territory, ban):
    ban.stop()  # connection refused
    assert staff.get(SEARCH, {"q": "montmorency"}).json()["source"] == "local"
    asked = len(ban.requests)
    data = staff.get(SEARCH, {"q": "montmorency"}).json()
    assert data["source"] == "local"
    assert [r["label"] for r in data["results"]][0] == "95160 Montmorency"
    assert len(ban.requests) == asked


def test_after_the_retry_delay_the_national_base_is_asked_again(staff, territory, ban, settings):
    ban.mode = "down"
    assert staff.get(SEARCH, {"q": "12 rue de la gare"}).json()["source"] == "local"
    ban.mode = "ok"
    assert staff.get(SEARCH, {"q": "12 rue de la gare"}).json()["source"] == "local"  # still resting
    settings.HUB_GEOCODER_RETRY_SECONDS = 0
    from django.core.cache import cache

    cache.delete("geocoder:down")  # the delay, over
    assert staff.get(SEARCH, {"q": "12 rue de la gare"}).json()["source"] == "ban"


def test_a_question_the_national_base_refuses_does_not_silence_it(staff, territory, ban):
    ban.mode = "refusing"
    assert staff.get(SEARCH, {"q": "gare"}).json()["source"] == "local"
    ban.mode = "ok"
    assert staff.get(SEARCH, {"q": "12 rue de la gare"}).json()["source"] == "ban"


def test_without_a_geocoder_our_data_answers_and_says_why(staff, territory):
    data = staff.get(REVERSE, {"lat": CENTRE.y, "lon": CENTRE.x}).json()
    assert data["source"] == "local"
    assert data["notice"] == "Base Adresse Nationale non configurée : adresses tirées des données du centre."
    assert data["address"]["label"].startswith("Vers 5 place de la Gare")


def test_far_from_any_site_the_commune_is_the_address(staff, territory):
    corner = offset(offset(CENTRE, bearing=0, metres=900), bearing=90, metres=900)
    data = staff.get(REVERSE, {"lat": corner.y, "lon": corner.x}).json()
    assert data["address"]["label"] == "95160 Montmorency"
    assert data["address"]["kind"] == "commune"
    assert data["nearest_site"] is None


def test_outside_the_service_area_there_is_no_commune(staff, territory):
    paris = {"lat": 48.8566, "lon": 2.3522}
    data = staff.get(REVERSE, paris).json()
    assert (data["source"], data["address"], data["commune"]) == ("local", None, None)
    assert data["notice"].endswith("Ce point est hors de la zone couverte.")


def test_a_site_at_the_point_gives_its_address_as_it_is(staff, territory):
    south = offset(CENTRE, bearing=180, metres=200)
    data = staff.get(REVERSE, {"lat": south.y, "lon": south.x}).json()
    assert data["address"]["label"] == "5 place de la Gare, 95160 Montmorency"


def test_a_short_question_gets_no_answer_and_asks_nobody(staff, territory, ban):
    data = staff.get(SEARCH, {"q": "12"}).json()
    assert data["results"] == []
    assert ban.requests == []


@pytest.mark.parametrize(("params", "field", "detail"), [
    ({"q": ""}, "q", "Ce champ ne peut être vide."),
    ({"q": "   "}, "q", "Ce champ ne peut être vide."),
    ({}, "q", "Ce champ est obligatoire."),
    ({"q": "r" * 201}, "q", "Assurez-vous que ce champ comporte au plus 200\xa0caractères."),
    ({"q": "rue\x00de la gare"}, "q", "Cette valeur contient un caractère NUL."),
    ({"q": "rue de la gare", "limit": "50"}, "limit",
     "Assurez-vous que cette valeur est inférieure ou égale à 10."),
])
def test_a_bad_search_is_refused_in_french(staff, territory, ban, params, field, detail):
    answer = staff.get(SEARCH, params)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid", "detail": {field: [detail]}}
    assert ban.requests == []


@pytest.mark.parametrize(("params", "field", "detail"), [
    ({"lat": "91", "lon": "2.3"}, "lat", "Assurez-vous que cette valeur est inférieure ou égale à 90."),
    ({"lat": "48.9", "lon": "-180.5"}, "lon",
     "Assurez-vous que cette valeur est supérieure ou égale à\xa0-180."),
    ({"lat": "nan", "lon": "2.3"}, "lat", "Un nombre valide est requis."),
    ({"lat": "48.9", "lon": "inf"}, "lon", "Un nombre valide est requis."),
    ({"lat": "quarante-huit", "lon": "2.3"}, "lat", "Un nombre valide est requis."),
    ({"lon": "2.3"}, "lat", "Ce champ est obligatoire."),
])
def test_a_bad_point_is_refused_in_french(staff, territory, ban, params, field, detail):
    answer = staff.get(REVERSE, params)
    assert answer.status_code == 400
    assert answer.json() == {"error": "invalid", "detail": {field: [detail]}}
    assert ban.requests == []


def test_addresses_are_for_the_centre_staff_only(api, partner_agent, territory, ban):
    """The fallback names camera sites, which partners do not see."""
    partner = api.as_member(partner_agent)
    assert partner.get(SEARCH, {"q": "gare"}).status_code == 403
    assert partner.get(REVERSE, {"lat": CENTRE.y, "lon": CENTRE.x}).status_code == 403
    assert factories.TokenClient().get(SEARCH, {"q": "gare"}).status_code in {401, 403}
    assert ban.requests == []
