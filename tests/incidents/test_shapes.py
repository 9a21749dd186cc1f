"""One shape per object: what REST answers about an incident, a journal line, a radio message, a
unit or an alert is what its events carry, field for field and string for string; the OpenAPI
schema names the same fields."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from incidents.events import AlertData, IncidentData, JournalEntryData, RadioMessageData, UnitData
from realtime.models import Event
from tests.realtime import helpers


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(("component", "model"), [
    ("IncidentData", IncidentData), ("JournalEntryData", JournalEntryData), ("UnitData", UnitData),
    ("AlertData", AlertData), ("RadioMessageData", RadioMessageData)])
def test_the_openapi_schema_names_the_fields_of_the_events_shape(schema, component, model):
    properties = schema["components"]["schemas"][component]["properties"]
    assert list(properties) == list(model.model_fields)


@pytest.mark.parametrize(("path", "component"), [
    ("/api/incidents/", "IncidentList"), ("/api/units/", "UnitList"), ("/api/alerts/", "AlertList"),
    ("/api/radio/messages/", "RadioMessageList"), ("/api/alarms/", "AlarmList")])
def test_the_lists_are_declared_as_lists_of_that_shape(schema, path, component):
    answer = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": f"#/components/schemas/{component}"}
    assert schema["components"]["schemas"][component]["type"] == "array"


@pytest.mark.parametrize(("path", "method", "status", "component"), [
    ("/api/incidents/", "post", "201", "IncidentData"),
    ("/api/incidents/{id}/shares/", "post", "201", "IncidentData"),
    ("/api/incidents/{id}/shares/{agency}/", "delete", "200", "IncidentData"),
    ("/api/incidents/{id}/journal/", "post", "201", "JournalEntryData")])
def test_the_answers_about_one_incident_are_declared_with_the_events_shape(schema, path, method, status,
                                                                          component):
    answer = schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    assert answer == {"$ref": f"#/components/schemas/{component}"}
    assert schema["components"]["schemas"][component]["additionalProperties"] is False


def test_rest_and_the_event_say_the_same_incident_and_journal_line(db, api):
    crew = helpers.people()
    start = helpers.latest_id()
    incident = helpers.open_incident(crew["operator"], shared_with=("PN",))
    events = {e.type: e.data for e in Event.objects.filter(id__gt=start).order_by("id")}
    for member in (crew["operator"], crew["pn"]):
        api.as_member(member)
        [listed] = api.get("/api/incidents/").json()
        detail = api.get(f"/api/incidents/{incident.pk}/").json()
        assert listed == events["incident.shared"]["incident"]
        assert {k: detail[k] for k in listed} == listed
        # Local time with its offset on both paths (not +00:00 in one and +01:00 in the other).
        assert listed["created_at"].endswith(("+01:00", "+02:00"))
        assert detail["journal"][-1] == events["journal.appended"]["entry"]


def test_each_answer_of_a_change_is_the_incident_its_event_carries(db, api):
    """Open, share, change, note, unshare through REST: every answer about the incident equals,
    field for field and string for string, the incident (or the line) in the event it made."""
    crew = helpers.people()
    api.as_member(crew["operator"])

    def made(start: int) -> dict[str, dict]:
        return {e.type: e.data for e in Event.objects.filter(id__gt=start).order_by("id")}

    start = helpers.latest_id()
    created = api.post("/api/incidents/", {
        "nature": "rixe", "priority": 2, "location": {"type": "Point", "coordinates": [2.3230, 48.9880]},
        "description": "Attroupement devant la mairie"})
    assert created.status_code == 201
    assert created.json() == made(start)["incident.created"]["incident"]
    url = f"/api/incidents/{created.json()['id']}/"

    start = helpers.latest_id()
    shared = api.post(url + "shares/", {"agency": "pn-test"})
    assert shared.status_code == 201
    assert shared.json() == made(start)["incident.shared"]["incident"]

    start = helpers.latest_id()
    changed = api.patch(url, {"version": shared.json()["version"], "priority": 1,
                              "address": "Place du marché"})
    assert changed.status_code == 200
    incident = made(start)["incident.updated"]["incident"]
    assert {field: changed.json()[field] for field in incident} == incident

    start = helpers.latest_id()
    note = api.post(url + "journal/", {"text": "Patrouille sur place"})
    assert note.status_code == 201
    assert note.json() == made(start)["journal.appended"]["entry"]

    start = helpers.latest_id()
    unshared = api.delete(url + "shares/pn-test/")
    assert unshared.status_code == 200
    assert unshared.json() == made(start)["incident.updated"]["incident"]
    assert unshared.json()["shared_with"] == []
