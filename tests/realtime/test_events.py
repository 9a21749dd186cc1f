"""Every event type: its schema (built from real objects, as the producer publishes it) and its audience.

The list of types is ``realtime.events.REGISTRY`` after every app's ``events``
module is imported: a new type without a sample below fails here.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
from dataclasses import dataclass, field

import pytest
from django.apps import apps
from pydantic import ValidationError

from incidents.events import IncidentUpdated, incident_data
from incidents.models import Incident
from incidents.selectors.incidents import incident_audience, incidents_visible_to
from incidents.services.incidents import incident_share, incident_unshare
from incidents.services.journal import journal_append
from partners.models import Member
from realtime.audiences import groups_of
from realtime.events import REGISTRY, EventSchema
from realtime.models import Event
from streaming.services import grant_create, grant_revoke
from tests import factories
from tests.incidents.field_story import field_events
from tests.realtime import helpers

for _app in apps.get_app_configs():
    if importlib.util.find_spec(f"{_app.name}.events") is not None:
        importlib.import_module(f"{_app.name}.events")

CSU, PN, GN, CRF = "csu", "agency.pn-test", "agency.gn-test", "agency.crf-test"
GN_AGENTS = "agents.gn-test"  # a grant's news: the gendarmerie's agents, not its field units


@dataclass
class Story:
    """An incident's life: opened, shared with PN, then with the CRF, unshared from it, a note;
    then the incident shared with the gendarmerie, a camera shown to it and taken back."""

    incident: Incident
    crew: dict[str, Member]
    rows: list[Event] = field(default_factory=list)

    def row(self, event_type: str, nth: int = 0) -> Event:
        return [r for r in self.rows if r.type == event_type][nth]


@pytest.fixture
def story(db) -> Story:
    crew = helpers.people()
    author = crew["operator"]
    start = helpers.latest_id()
    incident = helpers.open_incident(author)
    incident = incident_share(incident=incident, agency_code="pn-test", member=author)
    incident = incident_share(incident=incident, agency_code="crf-test", member=author)
    incident = incident_unshare(incident=incident, agency_code="crf-test", member=author)
    journal_append(incident=incident, member=author, text="Patrouille sur place")
    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera], recipients=["PN", "GN"])
    # A camera goes only to a service the incident is shared with: the gendarmerie first.
    incident = incident_share(incident=incident, agency_code="gn-test", member=author)
    grant = grant_create(camera=camera, agency_code="gn-test", incident=incident, granted_by=author.user,
                         minutes=10)
    grant_revoke(grant=grant, by=author.user, reason="fin de l'intervention")
    incident.refresh_from_db()
    return Story(incident=incident, crew=crew,
                 rows=list(Event.objects.filter(id__gt=start).order_by("id")))


def test_the_story_publishes_what_a_screen_needs(story):
    assert [(r.type, r.data.get("entry", {}).get("kind")) for r in story.rows] == [
        ("incident.created", None),
        ("journal.appended", "opened"),
        ("journal.appended", "shared"),
        ("incident.shared", None),
        ("journal.appended", "shared"),
        ("incident.shared", None),
        ("incident.unshared", None),
        ("incident.updated", None),
        ("journal.appended", "unshared"),
        ("journal.appended", "note"),
        ("journal.appended", "shared"),
        ("incident.shared", None),
        ("grant.created", None),
        ("grant.revoked", None),
    ]


def camera_went_offline(story: Story) -> Event:
    """A camera's video source lost, as its pipeline reports it (streaming)."""
    from streaming.services import camera_status_set

    camera = factories.make_camera()
    camera_status_set(camera_id=camera.pk, online=False, detail="source lost")
    return Event.objects.filter(type="camera.status").latest("id")


# How to get each type as its producer builds it. A type with a producer is read
# back from the outbox row the real service wrote; one without (yet) is built
# from the real incident with the helper the producers use.
SAMPLES = {
    "incident.created": lambda s: s.row("incident.created"),
    "incident.shared": lambda s: s.row("incident.shared"),
    "incident.unshared": lambda s: s.row("incident.unshared"),
    "journal.appended": lambda s: s.row("journal.appended"),
    "incident.updated": lambda s: IncidentUpdated(incident=incident_data(s.incident)),
    "grant.created": lambda s: s.row("grant.created"),
    "grant.revoked": lambda s: s.row("grant.revoked"),
}


def grant_ended(story: Story) -> Event:
    """A grant that expired, as the sweep announces it (streaming.services.grants_end_sweep)."""
    import datetime as dt

    from django.utils import timezone

    from streaming.models import Grant
    from streaming.services import grants_end_sweep

    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera], recipients=["GN"])
    grant = grant_create(camera=camera, agency_code="gn-test", incident=story.incident,
                         granted_by=story.crew["operator"].user, minutes=10)
    Grant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    grants_end_sweep()
    return Event.objects.filter(type="grant.ended").latest("id")


def grant_watched(story: Story) -> Event:
    """A gendarme starts watching a grant (the viewing the WHEP endpoint journals)."""
    from streaming.services import viewing_start

    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera], recipients=["GN"])
    grant = grant_create(camera=camera, agency_code="gn-test", incident=story.incident,
                         granted_by=story.crew["operator"].user, minutes=10)
    viewing_start(viewer=story.crew["gn"].user, camera=camera, grant=grant, session=f"s-{grant.pk}")
    return Event.objects.filter(type="grant.viewers").latest("id")


def wall_changed(story: Story) -> Event:
    """An operator sends a camera to a tile of the centre's wall."""
    from streaming.services import wall_tile_set

    camera = factories.make_camera()
    factories.make_authorisation(cameras=[camera])
    wall_tile_set(wall_name="principal", position=2, camera=camera, by=story.crew["operator"].user)
    return Event.objects.filter(type="wall.updated").latest("id")


SAMPLES.update({"grant.ended": grant_ended, "grant.viewers": grant_watched, "wall.updated": wall_changed})
if "camera.status" in REGISTRY:  # the video pipeline's type (streaming)
    SAMPLES["camera.status"] = camera_went_offline


def requisition_advanced(story: Story) -> Event:
    """A requisition's extraction advancing, as the extraction reports it (recordings)."""
    import datetime as dt

    from django.utils import timezone

    from recordings.requisitions import requisition_create, requisition_progress_report

    now = timezone.now()
    requisition = requisition_create(
        created_by=story.crew["operator"].user, requesting_officer="OPJ Martin", service="SR Cergy",
        procedure_number="2026/1", cameras=[factories.make_camera()],
        window_start=now - dt.timedelta(hours=2), window_end=now - dt.timedelta(hours=1))
    requisition_progress_report(requisition_id=requisition.pk, status="running", progress=45)
    return Event.objects.filter(type="requisition.progress").latest("id")


if "requisition.progress" in REGISTRY:
    SAMPLES["requisition.progress"] = requisition_advanced


def ptz_taken(story: Story) -> Event:
    """An operator takes control of a PTZ camera (ptz.services.lease_take: the camera itself is
    not asked anything)."""
    from cameras.choices import CameraKind
    from ptz.models import PtzEndpoint
    from ptz.services import lease_take

    camera = factories.make_camera(kind=CameraKind.PTZ)
    PtzEndpoint.objects.create(camera=camera, host="127.0.0.1", port=9)
    lease_take(camera=camera, by=story.crew["operator"].user)
    return Event.objects.filter(type="ptz.lease").latest("id")


def ptz_moved(story: Story) -> Event:
    """A PTZ camera's position read back (ptz.services.position_record)."""
    from cameras.choices import CameraKind
    from ptz.services import position_record

    camera = factories.make_camera(kind=CameraKind.PTZ)
    position_record(camera.pk, status=None, preset=None, moving=True)
    return Event.objects.filter(type="ptz.position").latest("id")


if "ptz.lease" in REGISTRY:
    SAMPLES.update({"ptz.lease": ptz_taken, "ptz.position": ptz_moved})


def _nodes(story: Story) -> dict[str, Event]:
    """Recorder nodes (streaming.nodes): one joins and holds a recorded camera, another joins and
    leaves, the first stops renewing and is lost; the camera goes unrecorded, then held again."""
    if not hasattr(story, "nodes"):
        import datetime as dt

        from django.utils import timezone

        from recordings.models import RecordingPlan
        from streaming.nodes import node_join, node_leave, nodes_check, rebalance

        t0 = timezone.now() - dt.timedelta(minutes=5)
        RecordingPlan.objects.create(camera=factories.make_camera())
        first = node_join(name="rec-1", now=t0, host="rec1", pid=101)
        rebalance(first, now=t0)
        node_leave(node_join(name="rec-2", now=t0), now=t0)
        nodes_check(now=t0 + dt.timedelta(seconds=60))
        later = t0 + dt.timedelta(seconds=61)
        rebalance(node_join(name="rec-3", now=later), now=later)
        story.nodes = {t: Event.objects.filter(type=t).latest("id") for t in NODE_TYPES}
    return story.nodes


NODE_TYPES = ("node.joined", "node.left", "node.lost", "camera.unrecorded", "camera.recorded")
if "node.joined" in REGISTRY:
    SAMPLES.update({t: (lambda s, t=t: _nodes(s)[t]) for t in NODE_TYPES})


def _storage(story: Story) -> dict[str, Event]:
    """The recordings' object store (recordings.objects): an upload fails (the alarm), then one
    succeeds again (its end); no buffer on disk."""
    if not hasattr(story, "storage"):
        import tempfile

        from django.test import override_settings

        from recordings.objects import _alarm, _recovered

        with tempfile.TemporaryDirectory() as buffer, override_settings(HUB_RECORDINGS_DIR=buffer):
            _alarm("put_object: ServiceUnavailable")
            _recovered(2)
        story.storage = {t: Event.objects.filter(type=t).latest("id") for t in STORAGE_TYPES}
    return story.storage


STORAGE_TYPES = ("storage.unavailable", "storage.available")
if "storage.unavailable" in REGISTRY:
    SAMPLES.update({t: (lambda s, t=t: _storage(s)[t]) for t in STORAGE_TYPES})
# Radio traffic, field units and Croix-Rouge alerts: tests/incidents/field_story.py.
FIELD_TYPES = ("radio.message", "radio.acknowledged", "radio.escalated", "unit.position", "unit.status",
               "unit.engaged", "unit.updated", "alert.raised", "alert.updated")


def _field(story: Story, event_type: str):
    if not hasattr(story, "field"):
        story.field = field_events(story.incident, story.crew["operator"])
    return story.field[event_type]


SAMPLES.update({t: (lambda s, t=t: _field(s, t)[0]) for t in FIELD_TYPES})


def sample(story: Story, event_type: str) -> EventSchema:
    built = SAMPLES[event_type](story)
    if isinstance(built, Event):
        return REGISTRY[event_type].model_validate(built.data)
    return built


TYPES = sorted(REGISTRY)


def test_every_registered_type_has_a_sample():
    assert set(REGISTRY) == set(SAMPLES), "add a schema and audience test for each new event type"


@pytest.mark.parametrize("event_type", TYPES)
def test_schema(story, event_type):
    """Built as its producer builds it, the event survives JSON; the schema refuses a field
    it does not declare (at the top or nested) and one it needs that is missing."""
    event = sample(story, event_type)
    schema = REGISTRY[event_type]
    assert type(event) is schema and schema.type == event_type
    wire = json.loads(json.dumps(event.model_dump(mode="json")))
    assert schema.model_validate(wire) == event

    built = SAMPLES[event_type](story)
    if isinstance(built, Event):  # what the producer stored is the schema's JSON, field for field
        assert schema.model_validate(built.data).model_dump(mode="json") == built.data

    with pytest.raises(ValidationError, match="extra"):
        schema.model_validate({**wire, "unexpected": 1})
    for name, value in wire.items():
        if isinstance(value, dict):
            with pytest.raises(ValidationError, match="extra"):
                schema.model_validate({**wire, name: {**value, "unexpected": 1}})
        if schema.model_fields[name].is_required():
            with pytest.raises(ValidationError, match="missing"):
                schema.model_validate({k: v for k, v in wire.items() if k != name})


def test_incident_data_is_the_incident(story):
    created = sample(story, "incident.created").incident
    incident = story.incident
    assert created.id == incident.pk
    assert created.reference == incident.reference
    assert created.nature == "rixe"
    assert created.commune == incident.commune.insee_code
    assert created.location.coordinates == pytest.approx((incident.location.x, incident.location.y))
    assert created.version == 1 and created.shared_with == []
    shared = [sample(story, "incident.shared")]
    assert shared[0].agency == "pn-test" and shared[0].incident.shared_with == ["pn-test"]
    second = REGISTRY["incident.shared"].model_validate(story.row("incident.shared", 1).data)
    assert second.agency == "crf-test" and second.incident.shared_with == ["crf-test", "pn-test"]
    unshared = sample(story, "incident.unshared")
    assert (unshared.incident_id, unshared.reference, unshared.agency) == (
        incident.pk, incident.reference, "crf-test")


def test_grant_data_is_the_grant(story):
    created, revoked = sample(story, "grant.created").grant, sample(story, "grant.revoked").grant
    assert created.id == revoked.id
    assert (created.agency, created.incident_id, created.incident_reference) == (
        "gn-test", story.incident.pk, story.incident.reference)
    assert created.revoked_at is None and created.ended_at is None and created.end_reason is None
    assert created.granted_by == story.crew["operator"].user.username
    assert revoked.revoked_at is not None and revoked.ended_at == revoked.revoked_at
    assert (revoked.end_reason, revoked.revoke_reason) == ("revoked", "fin de l'intervention")


def test_grant_news_is_the_grant(story):
    ended = sample(story, "grant.ended").grant
    assert (ended.agency, ended.end_reason, ended.ended_at) == ("gn-test", "expired", ended.expires_at)
    watched = sample(story, "grant.viewers")
    assert watched.agency == "gn-test" and watched.incident_id == story.incident.pk
    assert [v.username for v in watched.viewers] == [story.crew["gn"].user.username]
    wall = sample(story, "wall.updated").wall
    assert (wall.name, [t.position for t in wall.tiles]) == ("principal", [2])
    assert wall.tiles[0].set_by == story.crew["operator"].user.username


# --- Audiences: the centre, plus exactly the agencies the incident is shared with (a grant:
# the agency it is granted to).


def audience_of(story: Story, event_type: str) -> list[tuple[list[str], list[str]]]:
    """``(actual, expected)`` audiences of every event of this type in the story."""
    expected = {
        # Opened: no partner has it yet.
        ("incident.created", 0): [CSU],
        ("journal.appended", 0): [CSU],
        # Shared with PN: the PN hears the share and its journal line.
        ("journal.appended", 1): [PN, CSU],
        ("incident.shared", 0): [PN, CSU],
        # Shared with the CRF too: both partners hear it.
        ("journal.appended", 2): [CRF, PN, CSU],
        ("incident.shared", 1): [CRF, PN, CSU],
        # Unshared from the CRF: it is told (to drop the incident), then hears nothing more.
        ("incident.unshared", 0): [CRF, PN, CSU],
        ("journal.appended", 3): [PN, CSU],
        ("journal.appended", 4): [PN, CSU],
        # A camera shown to the gendarmerie: the incident is shared with it on the way...
        ("journal.appended", 5): [GN, PN, CSU],
        ("incident.shared", 2): [GN, PN, CSU],
        # ... but the grant itself is the gendarmerie's business, not the PN's.
        ("grant.created", 0): [GN_AGENTS, CSU],
        ("grant.revoked", 0): [GN_AGENTS, CSU],
    }
    if event_type in FIELD_TYPES:
        row, audience = _field(story, event_type)
        return [(row.audience, audience)]
    if event_type == "camera.status":  # the centre only: partners get no camera identifiers
        return [(camera_went_offline(story).audience, [CSU])]
    if event_type in {"grant.ended", "grant.viewers"}:  # a grant's news: its agency and the centre
        return [(SAMPLES[event_type](story).audience, [GN_AGENTS, CSU])]
    if event_type == "wall.updated":  # the centre's wall: the centre only
        return [(wall_changed(story).audience, [CSU])]
    if event_type == "requisition.progress":  # judicial business: the centre only
        return [(requisition_advanced(story).audience, [CSU])]
    if event_type in NODE_TYPES:  # the recorder nodes and the recording alarm: the centre only
        return [(_nodes(story)[event_type].audience, [CSU])]
    if event_type in STORAGE_TYPES:  # the object store's alarm: the centre only
        return [(_storage(story)[event_type].audience, [CSU])]
    if event_type in {"ptz.lease", "ptz.position"}:  # who drives a camera: the centre only
        return [(SAMPLES[event_type](story).audience, [CSU])]
    if event_type == "incident.updated":  # no producer yet: the selector its producer will call
        return [(list(incident_audience(story.incident)), sorted([GN, PN, CSU]))]
    rows = [r for r in story.rows if r.type == event_type]
    assert rows
    return [(r.audience, sorted(expected[(event_type, n)])) for n, r in enumerate(rows)]


@pytest.mark.parametrize("event_type", TYPES)
def test_audience_is_the_centre_and_exactly_the_agencies_concerned(story, event_type):
    for actual, expected in audience_of(story, event_type):
        assert actual == expected


def test_the_event_stream_and_the_rest_api_agree_on_who_sees_an_incident(story):
    """Whoever listens on a group of the incident's audience may read it over REST, and no one else."""
    audience = set(incident_audience(story.incident))
    for name, member in story.crew.items():
        hears = bool(audience & set(groups_of(member.user, member)))
        reads = incidents_visible_to(member).filter(pk=story.incident.pk).exists()
        assert hears == reads, name
        assert hears == (name in {"operator", "supervisor", "pn", "gn"}), name


def test_every_event_type_says_who_may_see_it_again_in_a_replay():
    """A replay sends only what the member may see now (realtime.visibility): a type without a
    rule would never be replayed, so each app registers one for each of its types."""
    from realtime.visibility import replay_rule

    assert [t for t in TYPES if replay_rule(t) is None] == []
