"""One error path: whatever goes wrong under /api/ is a JSON ``{"error", "detail"}`` with a
French ``detail``, bad input is a 400 (or a 413 for a body too large) that writes nothing,
and the hub answers the next request as usual."""

from __future__ import annotations

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from cameras.models import PrivacyMask
from config.limits import BodySizeLimit
from config.parsers import json_depth_exceeds
from incidents.models import Incident, JournalEntry
from tests import factories

pytestmark = pytest.mark.django_db

# (role, address, the parameter named, a piece of the French detail)
BAD_FILTERS = [
    ("operator", "/api/incidents/?since=2026-02-30T00:00:00", "since", "date et une heure, par exemple"),
    ("operator", "/api/incidents/?until=2026-13-01T00:00:00", "until", "date et une heure, par exemple"),
    ("auditor", "/api/audit/?since=2026-02-30T00:00:00", "since", "date et heure ISO 8601"),
    ("operator", "/api/streaming/register/?since=2026-02-30T00:00:00", "since", "n'est pas une date"),
    ("operator", "/api/streaming/register/stats/?since=2026-02-30T00:00:00", "since", "n'est pas une date"),
    ("operator", "/api/incidents/?q=a%00b", "q", "caractère NUL"),
    ("operator", "/api/incidents/?nature=%00", "nature", "caractère NUL"),
    ("operator", "/api/units/?q=%00", "q", "caractère NUL"),
    ("auditor", "/api/audit/?actor=%00", "actor", "caractère NUL"),
    ("operator", "/api/streaming/register/stats/?camera=x%00", "camera", "caractère NUL"),
    ("operator", "/api/geo/address/search/?q=%00", "q", "caractère NUL"),
    ("operator", "/api/streaming/snapshots/?camera=%C2%B2", "camera", "identifiant"),
    ("operator", "/api/alerts/stats/?year=0", "year", "Une année entre"),
    ("operator", "/api/alerts/stats/?year=99999", "year", "Une année entre"),
]

# What answering normally means, for each role the bad requests came from.
NORMAL = {"operator": "/api/incidents/", "auditor": "/api/audit/"}


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].split(";")[0] == "application/json", response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error", "detail"}, body
    if code is not None:
        assert body["error"] == code, body
    return body


@pytest.mark.parametrize(("role", "url", "field", "french"), BAD_FILTERS)
def test_a_bad_filter_is_a_400_naming_it_in_french_and_the_hub_answers_the_next_request(
        api, area, role, url, field, french):
    api.as_member(factories.make_member(role=role))
    body = assert_json_error(api.get(url), 400, "invalid")
    assert french in body["detail"][field][0], body
    assert api.get(NORMAL[role]).status_code == 200


def test_nothing_at_an_api_address_is_a_json_404_in_french(api, operator):
    api.as_member(operator)
    for url in ("/api/nothing/", "/api/incidents/not-a-number/", "/ws/nothing"):
        body = assert_json_error(api.get(url), 404, "not_found")
        assert body["detail"] == "Rien à cette adresse."
    # Anonymous too: the address is unknown before anyone is asked who they are.
    assert_json_error(Client().get("/api/nothing/"), 404, "not_found")
    # Pages keep their HTML.
    assert Client().get("/nothing/")["Content-Type"].startswith("text/html")


def test_a_method_an_address_does_not_take_is_a_json_405_with_allow(api, operator):
    api.as_member(operator)
    response = api.delete("/api/natures/")
    body = assert_json_error(response, 405, "method_not_allowed")
    assert "DELETE" in body["detail"] and "GET" in response["Allow"]


def test_a_crash_is_a_json_500_in_french_that_tells_nothing_of_the_code(api, operator, monkeypatch):
    from incidents.api import incidents as incidents_api

    def crash(self, request):
        raise RuntimeError("a bug")

    monkeypatch.setattr(incidents_api.NatureListApi, "get", crash)
    client = factories.TokenClient(raise_request_exception=False).as_member(operator)
    body = assert_json_error(client.get("/api/natures/"), 500, "server_error")
    assert body["detail"] == "Erreur interne du hub : elle a été consignée dans ses journaux."
    assert "a bug" not in json.dumps(body)


def test_a_json_body_100000_levels_deep_is_a_400_and_writes_nothing(api, area, operator):
    api.as_member(operator)
    deep = "[" * 100_000 + "]" * 100_000
    for body in (deep, '{"description": ' + deep + "}"):
        answer = api.generic("POST", "/api/incidents/", body)
        detail = assert_json_error(answer, 400, "malformed")["detail"]
        assert detail == "Le corps JSON est imbriqué sur plus de 32 niveaux."
    assert not Incident.objects.exists()
    assert api.get("/api/incidents/").status_code == 200


def test_a_mask_polygon_5000_levels_deep_is_a_400_and_writes_nothing(api, area):
    camera = factories.make_camera()
    api.as_member(factories.make_member(role="supervisor"))
    polygon = "[" * 5000 + "[0.1, 0.1]" + "]" * 5000
    answer = api.generic("POST", f"/api/cameras/{camera.pk}/masks/", '{"polygon": ' + polygon + "}")
    assert_json_error(answer, 400, "malformed")
    assert not PrivacyMask.objects.exists()
    # A real mask still goes in.
    answer = api.post(f"/api/cameras/{camera.pk}/masks/",
                      {"polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]], "label": "Fenêtre"})
    assert answer.status_code == 201, answer.content


def test_a_nul_character_in_a_json_body_is_a_400_and_writes_nothing(api, area, operator):
    api.as_member(operator)
    incident = api.post("/api/incidents/", {"nature": "rixe", "location": {
        "type": "Point", "coordinates": [2.3222, 48.9883]}, "description": "Bagarre"})
    assert incident.status_code == 201, incident.content
    before = JournalEntry.objects.count()
    url = f"/api/incidents/{incident.json()['id']}/journal/"
    for body in ('{"text": "a\\u0000b"}', '{"text": "ok", "\\u0000": 1}'):
        answer = api.generic("POST", url, body)
        assert answer.status_code == 400, answer.content
        assert "NUL" in json.dumps(answer.json(), ensure_ascii=False)
    assert JournalEntry.objects.count() == before
    assert api.post(url, {"text": "Suite"}).status_code == 201


def test_a_body_past_the_limit_is_a_json_413_in_french_and_writes_nothing(api, area, operator, settings):
    api.as_member(operator)
    big = json.dumps({"nature": "rixe", "description": "x" * (20 * 1024 * 1024)})
    body = assert_json_error(api.generic("POST", "/api/incidents/", big), 413, "too_large")
    assert body["detail"] == "Le corps de la requête dépasse 262\u202f144 octets, la limite à cette adresse."
    assert not Incident.objects.exists()
    # Masks may be larger: a 600 KiB polygon is read (and refused for what it is).
    camera = factories.make_camera()
    api.as_member(factories.make_member(role="supervisor"))
    ring = [[0.1 + i * 1e-7, 0.1] for i in range(30_000)]
    answer = api.post(f"/api/cameras/{camera.pk}/masks/", {"polygon": ring})
    assert answer.status_code != 413, answer.content[:300]


def test_the_depth_is_read_without_decoding():
    assert not json_depth_exceeds('{"a": [[1, 2], [3, 4]], "b": "[[[[[[[[["}', 3)
    assert json_depth_exceeds('{"a": [[[1]]]}', 3)
    assert not json_depth_exceeds('{"a": "\\"[[[[", "b": [[1]]}', 3)


async def _asgi_post(path: str, chunks: list[bytes], *, declared: int | None) -> tuple[int, dict, bool]:
    """POST ``chunks`` through :class:`BodySizeLimit` around an application that reads the body;
    the status, the JSON answer, and whether the application ran."""
    ran = []

    async def app(scope, receive, send):
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        ran.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(size).encode()})

    headers = [(b"content-type", b"application/json")]
    if declared is not None:
        headers.append((b"content-length", str(declared).encode()))
    communicator = ApplicationCommunicator(BodySizeLimit(app), {
        "type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b""})
    for n, chunk in enumerate(chunks):
        await communicator.send_input({"type": "http.request", "body": chunk,
                                       "more_body": n < len(chunks) - 1})
    start = await communicator.receive_output(5)
    body = await communicator.receive_output(5)
    await communicator.wait(5)
    answer = json.loads(body["body"]) if start["status"] != 200 else {"size": int(body["body"])}
    return start["status"], answer, bool(ran)


async def test_under_asgi_a_body_past_the_limit_is_refused_before_the_application_reads_it():
    mib = 1024 * 1024
    # Declared too large: refused at once, nothing read.
    status, answer, ran = await _asgi_post("/api/incidents/", [b"x" * 100], declared=20 * mib)
    assert (status, answer["error"], ran) == (413, "too_large", False)
    assert "262\u202f144 octets" in answer["detail"]
    # Chunked, no length declared: refused once the bytes received pass the limit.
    status, answer, ran = await _asgi_post("/api/incidents/", [b"x" * 100_000] * 5, declared=None)
    assert (status, ran) == (413, False)
    # Under the limit, and a larger limit where the table gives one: the application gets it all.
    status, answer, ran = await _asgi_post("/api/incidents/", [b"x" * 100_000] * 2, declared=None)
    assert (status, answer, ran) == (200, {"size": 200_000}, True)
    status, answer, ran = await _asgi_post("/api/cameras/7/masks/", [b"x" * 100_000] * 5, declared=500_000)
    assert (status, answer, ran) == (200, {"size": 500_000}, True)
