"""The writes of the incidents app and the events they publish: each change its events, once;
a refused or failed change none."""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone

from config.errors import Conflict
from incidents.models import Incident, JournalEntry
from incidents.services.common import OutsideServiceArea, UnknownAgency, UnknownNature
from incidents.services.incidents import incident_create, incident_share, incident_unshare
from incidents.services.journal import journal_append
from realtime.models import Event
from realtime.services import relay_safely
from tests import factories
from tests.factories import CENTRE

FAR_AWAY = Point(2.35, 48.85, srid=4326)  # Paris: outside the service area


@pytest.fixture
def author(area, operator):
    factories.make_agency(kind="PN", code="pn-test")
    factories.make_agency(kind="GN", code="gn-test")
    return operator


def events_since(start: int) -> list[tuple[str, list[str]]]:
    return list(Event.objects.filter(id__gt=start).order_by("id").values_list("type", "audience"))


def last_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def create(author, **kwargs) -> Incident:
    return incident_create(**{"member": author, "nature": "rixe", "location": CENTRE,
                              "description": "Rixe devant la gare", **kwargs})


@pytest.mark.django_db
def test_create_opens_the_incident_with_its_journal_and_tells_the_centre(author):
    start = last_id()
    incident = create(author)
    year = timezone.localtime(incident.created_at).year
    assert incident.reference == f"CSU-{year}-000001"
    assert incident.commune.insee_code == "95428"
    assert list(incident.journal.values_list("kind", "text")) == [("opened", "Rixe devant la gare")]
    assert events_since(start) == [("incident.created", ["csu"]), ("journal.appended", ["csu"])]
    assert create(author).reference == f"CSU-{year}-000002"


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "error"), [
    ({"location": FAR_AWAY}, OutsideServiceArea),
    ({"nature": "no-such-nature"}, UnknownNature),
    ({"description": "   "}, Exception),
    ({"priority": 7}, Exception),
])
def test_a_refused_creation_writes_and_publishes_nothing(author, change, error):
    start = last_id()
    with pytest.raises(error):
        create(author, **change)
    assert not Incident.objects.exists()
    assert events_since(start) == []


@pytest.mark.django_db
def test_a_creation_rolled_back_by_its_caller_leaves_no_event(author, django_capture_on_commit_callbacks):
    start = last_id()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError):
        with transaction.atomic():
            create(author)
            raise RuntimeError("the request failed afterwards")
    assert callbacks == []
    assert not Incident.objects.exists()
    assert events_since(start) == []


@pytest.mark.django_db
def test_share_tells_the_agency_once(author):
    incident = create(author)
    start = last_id()
    incident = incident_share(incident=incident, agency_code="pn-test", member=author)
    # Sent once the transaction commits: one relay is scheduled for all its events.
    assert [cb for _, cb, _ in connection.run_on_commit if cb is relay_safely] == [relay_safely]
    assert events_since(start) == [("journal.appended", ["agency.pn-test", "csu"]),
                                   ("incident.shared", ["agency.pn-test", "csu"])]
    assert incident.version == 2
    assert list(incident.shared_with.values_list("code", flat=True)) == ["pn-test"]

    start = last_id()
    incident_share(incident=incident, agency_code="pn-test", member=author)  # again: no-op
    assert events_since(start) == []
    assert Incident.objects.get(pk=incident.pk).version == 2


@pytest.mark.django_db
@pytest.mark.parametrize("code", ["csu", "no-such-agency"])
def test_sharing_with_the_centre_or_an_unknown_agency_is_refused(author, code):
    incident = create(author)
    start = last_id()
    with pytest.raises(UnknownAgency):
        incident_share(incident=incident, agency_code=code, member=author)
    assert events_since(start) == []
    assert not incident.shared_with.exists()


@pytest.mark.django_db
def test_a_closed_incident_cannot_be_shared(author):
    incident = create(author)
    Incident.objects.filter(pk=incident.pk).update(status="closed")
    start = last_id()
    with pytest.raises(Conflict):
        incident_share(incident=incident, agency_code="pn-test", member=author)
    assert events_since(start) == []


@pytest.mark.django_db
def test_unshare_tells_the_agency_before_it_loses_the_incident(author):
    incident = create(author)
    incident = incident_share(incident=incident, agency_code="pn-test", member=author)
    incident = incident_share(incident=incident, agency_code="gn-test", member=author)
    start = last_id()
    incident = incident_unshare(incident=incident, agency_code="pn-test", member=author)
    assert events_since(start) == [
        ("incident.unshared", ["agency.gn-test", "agency.pn-test", "csu"]),
        # Those who keep it get its new version.
        ("incident.updated", ["agency.gn-test", "csu"]),
        ("journal.appended", ["agency.gn-test", "csu"]),
    ]
    assert list(incident.shared_with.values_list("code", flat=True)) == ["gn-test"]

    start = last_id()
    with pytest.raises(UnknownAgency):  # not shared with it (any more)
        incident_unshare(incident=incident, agency_code="pn-test", member=author)
    assert events_since(start) == []


@pytest.mark.django_db
def test_journal_append_publishes_to_the_incident_audience(author):
    incident = incident_share(incident=create(author), agency_code="gn-test", member=author)
    start = last_id()
    entry = journal_append(incident=incident, member=author, text="  Patrouille sur place  ")
    assert entry.text == "Patrouille sur place"
    [(kind, audience)] = events_since(start)
    assert (kind, audience) == ("journal.appended", ["agency.gn-test", "csu"])
    data = Event.objects.get(id__gt=start).data
    assert data == {"incident_id": incident.pk, "entry": {
        "id": entry.pk, "at": timezone.localtime(entry.at).isoformat(), "author": author.user.get_username(),
        "kind": "note", "text": "Patrouille sur place", "corrects": None}}

    other = create(author)
    first = other.journal.get()
    start = last_id()
    with pytest.raises(Exception, match="un autre incident"):
        journal_append(incident=incident, member=author, text="correction", corrects=first)
    assert events_since(start) == []
    assert JournalEntry.objects.filter(text="correction").count() == 0


INCIDENT = {"nature": "rixe", "description": "Rixe devant la gare",
            "location": {"type": "Point", "coordinates": [2.3222, 48.9883]}}


@pytest.mark.django_db
def test_only_the_centre_opens_incidents_over_the_api(area, api, partner_agent):
    start = last_id()
    response = api.as_member(partner_agent).post("/api/incidents/", INCIDENT)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    assert events_since(start) == []


@pytest.mark.django_db
def test_bad_input_over_the_api_is_a_400_that_publishes_nothing(area, api, operator):
    api.as_member(operator)
    start = last_id()
    for body in [{**INCIDENT, "location": {"type": "Point", "coordinates": [2.35, 48.85]}},
                 {**INCIDENT, "nature": "nope"}, {**INCIDENT, "description": ""},
                 {**INCIDENT, "priority": 9}, {"nature": "rixe"}]:
        response = api.post("/api/incidents/", body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]
    assert events_since(start) == []
    assert not Incident.objects.exists()
