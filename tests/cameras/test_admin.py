"""The admin of the camera registry at the real scale (the Plaine Vallée demo registry: 396 sites,
2,142 cameras, their presets, masks and authorisations), in French.

A page is bounded when it runs a fixed handful of queries and lists no site nor camera in a
select, however many exist: that is the check. The time each page took in this run is printed
(``-s`` shows it), never asserted.
"""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cameras.demo import demo_cameras_ensure
from cameras.models import Authorisation, Camera, CameraRelocation, PrivacyMask, PtzPreset, Site
from geo.models import Commune
from geo.services import demo_communes_ensure, read_demo_communes
from tests import factories

# The most queries a page of this admin may run, whatever the size of the registry (session,
# user, the object, its inlines, the list and its count, the filters' choices).
MAX_QUERIES = 25


@pytest.fixture(scope="module")
def registry(django_db_setup, django_db_blocker):
    """The demo registry, made once for this module (its tests roll back only what they add)."""
    with django_db_blocker.unblock():
        rows = read_demo_communes()
        demo_communes_ensure(rows=rows)
        demo_cameras_ensure(centres={r["insee_code"]: (r["lon"], r["lat"]) for r in rows})
        yield
        Authorisation.objects.all().delete()
        CameraRelocation.objects.all().delete()
        Camera.objects.all().delete()  # presets and masks go with their camera
        Site.objects.all().delete()
        Commune.objects.all().delete()


@pytest.fixture
def admin_client(registry, db) -> Client:
    user = get_user_model().objects.create_user("admin-test", is_staff=True, is_superuser=True)
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def fetch(client: Client, url: str) -> tuple[str, int]:
    """The page's HTML and how many queries it ran; prints how long it took."""
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - start
    assert response.status_code == 200, url
    print(f"{url}: {elapsed * 1000:.0f} ms, {len(queries)} queries, {len(response.content) // 1024} KB")
    return response.content.decode(), len(queries)


def options(html: str) -> int:
    return len(re.findall(r"<option\b", html))


def test_the_registry_is_at_the_real_scale(registry, db):
    assert Camera.objects.count() == 2142
    assert Site.objects.filter(nomadic_pool=False).count() == 396


def test_camera_change_page_is_bounded_and_lists_no_site_nor_preset_of_other_cameras(admin_client):
    camera = Camera.objects.filter(kind="ptz", masks__isnull=False).distinct().first()
    assert camera.presets.exists()
    url = f"/admin/cameras/camera/{camera.pk}/change/"
    fetch(admin_client, url)  # the first request also compiles the templates
    html, queries = fetch(admin_client, url)

    assert queries <= MAX_QUERIES
    # The site is searched as one types: only the chosen one is in the page.
    assert re.search(r'<select[^>]*name="site"[^>]*data-autocomplete', html) or \
        re.search(r'<select[^>]*admin-autocomplete[^>]*name="site"', html)
    # A mask's preset is chosen among this camera's presets, not the registry's 1,500.
    assert options(html) < 100
    other = PtzPreset.objects.exclude(camera=camera).first()
    assert f'value="{other.pk}"' not in html or str(other) not in html


@pytest.mark.parametrize("url", [
    "/admin/cameras/camera/",
    "/admin/cameras/camera/?authorisation=in_force",
    "/admin/cameras/site/",
    "/admin/cameras/privacymask/",
    "/admin/cameras/authorisation/",
    "/admin/cameras/camera/add/",
    "/admin/cameras/privacymask/add/",
    "/admin/cameras/authorisation/add/",
])
def test_lists_and_add_pages_are_bounded(admin_client, url):
    fetch(admin_client, url)
    html, queries = fetch(admin_client, url)
    assert queries <= MAX_QUERIES
    assert options(html) < 100  # filters' and actions' choices, never the cameras or sites


def test_other_change_pages_are_bounded(admin_client):
    mask = PrivacyMask.objects.filter(preset__isnull=False).first()
    authorisation = Authorisation.objects.order_by("-valid_until").first()
    site = Site.objects.filter(nomadic_pool=False).first()
    for url in [f"/admin/cameras/privacymask/{mask.pk}/change/",
                f"/admin/cameras/authorisation/{authorisation.pk}/change/",
                f"/admin/cameras/site/{site.pk}/change/"]:
        fetch(admin_client, url)
        html, queries = fetch(admin_client, url)
        assert queries <= MAX_QUERIES, url
        assert options(html) < 100 + authorisation.cameras.count(), url
    # An authorisation's page shows its own cameras, not the other communes' ones.
    html, _ = fetch(admin_client, f"/admin/cameras/authorisation/{authorisation.pk}/change/")
    elsewhere = Camera.objects.exclude(authorisations=authorisation).first()
    assert elsewhere.code not in html


def test_camera_list_speaks_french(admin_client):
    html, _ = fetch(admin_client, "/admin/cameras/camera/")
    for french in ["Par type", "Par statut", "Par commune", "Par autorisation préfectorale", "Portée (m)",
                   "Angle de champ (°)", "Orientation (°)", "Autorisation en vigueur", "Dôme motorisé (PTZ)",
                   "En service", "En vigueur", "Expirée (aucune en vigueur)", "2142 caméras"]:
        assert french in html, french
    for english in ["Par kind", "Range m", "Heading", "Kind", "By kind"]:
        assert english not in html, english


def test_admin_index_names_models_in_french_with_their_plurals(admin_client):
    html, _ = fetch(admin_client, "/admin/")
    for french in ["Masques de vie privée", "Autorisations préfectorales", "Sites d’implantation",
                   "Caméras", "Déplacements de caméras nomades", "Communes",
                   "Services", "Membres", "Jetons d’API", "Natures d’incident",
                   "Murs d’images", "Événements"]:
        assert french.replace("’", "'") in html.replace("&#x27;", "'").replace("’", "'"), french
    for wrong in ["Masque de vie privées", "Autorisation préfectorales", "Privacy masks"]:
        assert wrong not in html


def test_change_page_labels_in_french(admin_client):
    camera = Camera.objects.filter(kind="fixed").first()
    html, _ = fetch(admin_client, f"/admin/cameras/camera/{camera.pk}/change/")
    for french in ["Modification de caméra", "Portée (m)", "Orientation (°)", "Adresse du flux",
                   "Conservation (jours)", "Masques de vie privée", "Préréglages PTZ",
                   "Degrés depuis le nord, sens horaire."]:
        assert french in html, french


def changelist_count(client: Client, query: str) -> int:
    response = client.get(f"/admin/cameras/camera/?{query}")
    assert response.status_code == 200
    return response.context["cl"].result_count


def test_camera_list_filters_by_commune_kind_status_and_authorisation(admin_client):
    today = timezone.localdate()
    commune = Commune.objects.order_by("-population").first()
    assert changelist_count(admin_client, f"commune={commune.pk}") == \
        Camera.objects.filter(site__commune=commune).count() > 0
    assert changelist_count(admin_client, "kind__exact=nomadic") == \
        Camera.objects.filter(kind="nomadic").count() > 0

    Camera.objects.filter(pk__in=Camera.objects.filter(kind="fixed").values("pk")[:3]).update(
        status="maintenance")
    assert changelist_count(admin_client, "status__exact=maintenance") == \
        Camera.objects.filter(status="maintenance").count() >= 3

    # The demo has one commune whose order expired: its cameras have none in force.
    expired = Authorisation.objects.get(valid_until__lt=today)
    assert changelist_count(admin_client, "authorisation=expired") == expired.cameras.count() > 0
    in_force = Camera.objects.filter(authorisations__valid_from__lte=today,
                                     authorisations__valid_until__gte=today).distinct().count()
    assert changelist_count(admin_client, "authorisation=in_force") == in_force
    assert changelist_count(admin_client, "authorisation=none") == 0

    uncovered = factories.make_camera(site=Site.objects.filter(commune=commune).first())
    response = admin_client.get("/admin/cameras/camera/?authorisation=none")
    assert [c.pk for c in response.context["cl"].result_list] == [uncovered.pk]
    assert "Aucune" in response.content.decode()
