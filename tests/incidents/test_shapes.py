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
    ("IncidentOutput", IncidentData), ("JournalOutput", JournalEntryData), ("UnitData", UnitData),
    ("AlertData", AlertData), ("RadioMessageData", RadioMessageData)])
def test_the_openapi_schema_names_the_fields_of_the_events_shape(schema, component, model):
    properties = schema["components"]["schemas"][component]["properties"]
    assert list(properties) == list(model.model_fields)


@pytest.mark.parametrize(("path", "component"), [
    ("/api/incidents/", "IncidentOutput"), ("/api/units/", "UnitList"), ("/api/alerts/", "AlertList"),
    ("/api/radio/messages/", "RadioMessageList")])
def test_the_lists_are_declared_as_lists_of_that_shape(schema, path, component):
    answer = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    if component == "IncidentOutput":
        assert answer == {"type": "array", "items": {"$ref": f"#/components/schemas/{component}"}}
    else:
        assert answer == {"$ref": f"#/components/schemas/{component}"}
        assert schema["components"]["schemas"][component]["type"] == "array"


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
