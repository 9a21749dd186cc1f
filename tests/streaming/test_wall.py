"""The video wall kept on the server: which camera in which tile, set from the console, announced
to the centre (``wall.updated``); the ``/mur/`` page by codes or ids, saying what it leaves out."""

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from realtime.models import Event
from streaming.models import Wall, WallTile
from tests import factories


@pytest.fixture
def cameras(db, area):
    shown = factories.make_camera(code="95014-s001-ptz")
    other = factories.make_camera(code="95014-s001-pano")
    unauthorised = factories.make_camera(code="95014-s002-fixe")
    factories.make_authorisation(cameras=[shown, other])
    today = timezone.localdate()
    factories.make_authorisation(cameras=[unauthorised], valid_until=today - dt.timedelta(days=1),
                                 valid_from=today - dt.timedelta(days=30))
    return {"shown": shown, "other": other, "unauthorised": unauthorised}


def wall_events() -> list[Event]:
    return list(Event.objects.filter(type="wall.updated").order_by("id"))


@pytest.mark.django_db
def test_the_main_wall_is_empty_until_an_operator_sends_a_camera(cameras, operator, api):
    api.as_member(operator)
    layout = api.get("/api/streaming/walls/principal/").json()
    assert (layout["name"], layout["label"], layout["columns"], layout["rows"], layout["tiles"]) == (
        "principal", "Mur principal", 4, 4, [])
    assert not Wall.objects.exists()  # reading writes nothing

    answer = api.post("/api/streaming/walls/principal/tiles/", {"position": 3, "camera": "95014-s001-ptz"})
    assert answer.status_code == 200
    tiles = answer.json()["tiles"]
    assert [(t["position"], t["camera_code"], t["set_by"]) for t in tiles] == [
        (3, "95014-s001-ptz", operator.user.username)]
    # By id as well; a tile keeps one camera.
    api.post("/api/streaming/walls/principal/tiles/", {"position": 3, "camera": str(cameras["other"].pk)})
    api.post("/api/streaming/walls/principal/tiles/", {"position": 1, "camera": "95014-s001-ptz"})
    layout = api.get("/api/streaming/walls/principal/").json()
    assert [(t["position"], t["camera_code"]) for t in layout["tiles"]] == [
        (1, "95014-s001-ptz"), (3, "95014-s001-pano")]
    # Emptied.
    api.post("/api/streaming/walls/principal/tiles/", {"position": 1, "camera": None})
    assert [t["position"] for t in api.get("/api/streaming/walls/").json()[0]["tiles"]] == [3]

    events = wall_events()
    assert len(events) == 4 and all(e.audience == ["csu"] for e in events)
    assert [t["camera_code"] for t in events[-1].data["wall"]["tiles"]] == ["95014-s001-pano"]


@pytest.mark.django_db
def test_a_tile_refuses_what_the_wall_cannot_show(cameras, operator, api):
    api.as_member(operator)
    unknown = api.post("/api/streaming/walls/principal/tiles/", {"position": 2, "camera": "95014-s999-ptz"})
    assert unknown.status_code == 400
    assert unknown.json()["detail"] == {
        "camera": ["Aucune caméra ne porte le code ou le numéro 95014-s999-ptz."]}
    refused = api.post("/api/streaming/walls/principal/tiles/", {"position": 2, "camera": "95014-s002-fixe"})
    assert refused.status_code == 403
    assert refused.json()["detail"] == {"camera": [
        "Aucune autorisation préfectorale en vigueur ne couvre la caméra 95014-s002-fixe : elle ne peut pas "
        "être affichée."]}
    outside = api.post("/api/streaming/walls/principal/tiles/", {"position": 17, "camera": "95014-s001-ptz"})
    assert outside.status_code == 400
    assert outside.json()["detail"] == {"position": ["Les tuiles de ce mur sont numérotées de 1 à 16."]}
    nowhere = api.post("/api/streaming/walls/salle-de-crise/tiles/",
                       {"position": 1, "camera": "95014-s001-ptz"})
    assert nowhere.status_code == 400
    assert api.get("/api/streaming/walls/salle-de-crise/").status_code == 404
    assert not WallTile.objects.exists() and wall_events() == []


@pytest.mark.django_db
def test_named_walls_are_listed_and_kept_apart(cameras, operator, api):
    Wall.objects.create(name="salle-de-crise", label="Salle de crise", columns=2, rows=2)
    api.as_member(operator)
    api.post("/api/streaming/walls/salle-de-crise/tiles/", {"position": 4, "camera": "95014-s001-ptz"})
    walls = {w["name"]: w for w in api.get("/api/streaming/walls/").json()}
    assert set(walls) == {"principal", "salle-de-crise"}
    assert [t["position"] for t in walls["salle-de-crise"]["tiles"]] == [4]
    assert walls["principal"]["tiles"] == []


@pytest.mark.django_db
def test_only_the_centre_sets_the_wall(cameras, partner_agent, api):
    api.as_member(partner_agent)
    assert api.get("/api/streaming/walls/").status_code == 403
    assert api.post("/api/streaming/walls/principal/tiles/", {"position": 1, "camera": "95014-s001-ptz"}
                    ).status_code == 403
    assert not WallTile.objects.exists()


# --- The /mur/ page.


def _page(member, query: str = "") -> str:
    client = Client()
    client.force_login(member.user)
    response = client.get(f"/mur/{query}")
    assert response.status_code == 200
    return response


@pytest.mark.django_db
def test_the_wall_page_takes_codes_and_ids_and_says_what_it_leaves_out(cameras, operator):
    shown, other = cameras["shown"], cameras["other"]
    response = _page(operator, f"?cameras=95014-s001-ptz,{other.pk},95014-s999-ptz,424242,95014-s002-fixe,"
                               f"{shown.pk}")
    layout = response.context["layout"]
    assert [(t["position"], t["camera_code"]) for t in layout["tiles"]] == [
        (1, "95014-s001-ptz"), (2, "95014-s001-pano")]
    assert [(r["reference"], r["reason"]) for r in response.context["refused"]] == [
        ("95014-s999-ptz", "aucune caméra ne porte ce code"),
        ("424242", "aucune caméra ne porte ce numéro"),
        ("95014-s002-fixe", "aucune autorisation préfectorale en vigueur ne couvre cette caméra"),
        (str(shown.pk), "déjà affichée"),
    ]
    html = response.content.decode()
    assert "Caméras non affichées" in html and "aucune caméra ne porte ce code" in html


@pytest.mark.django_db
def test_the_wall_page_follows_the_shared_wall_by_default(cameras, operator, api):
    api.as_member(operator).post("/api/streaming/walls/principal/tiles/",
                                 {"position": 2, "camera": "95014-s001-ptz"})
    response = _page(operator)
    assert response.context["layout"]["name"] == "principal"
    assert [t["camera_code"] for t in response.context["layout"]["tiles"]] == ["95014-s001-ptz"]
    assert 'data-wall-name="principal"' in response.content.decode()


@pytest.mark.django_db
def test_the_wall_is_for_the_centre(cameras, partner_agent):
    client = Client()
    client.force_login(partner_agent.user)
    assert client.get("/mur/").status_code == 403
