"""For every event type and several roles: what REST gave a member's screen, with the events the
member's socket then receives applied (``tests/verify.py``: the pages' stores, declared), equals a
fresh REST read after the action; live, and again on a replay from before the action.

Each case is one action that makes its event type, the roles that must hear it and roles that
must not (for them too, REST before + what they hear = REST after: what they may not hear did not
change what they may read). Actions go through the REST API as the member who does them, or
through the service the hub's own process calls (a pipeline reporting a camera, a Celery sweep,
an extraction reporting progress).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from channels.db import database_sync_to_async
from django.apps import apps
from django.utils import timezone

from cameras.choices import CameraKind
from incidents.models import Incident, Unit
from partners.models import Member
from realtime.events import REGISTRY
from tests import factories
from tests.factories import CENTRE, TokenClient, offset
from tests.realtime import helpers
from tests.verify import (
    NO_REST_COUNTERPART,
    RULES,
    Scene,
    compare,
    differences,
    reduce,
    rest_state,
    viewer_of,
)

for _app in apps.get_app_configs():
    if importlib.util.find_spec(f"{_app.name}.events") is not None:
        importlib.import_module(f"{_app.name}.events")

db = database_sync_to_async


@dataclass
class World:
    """The people and objects every case starts from: an incident shared with the police
    (PN), a PN unit and a Croix-Rouge unit with their tablets, a PTZ camera authorised for the
    PN and the GN."""

    crew: dict[str, Member]
    incident: Incident
    pn_unit: Unit
    crf_unit: Unit
    camera_id: int
    scene: Scene
    extra: dict = field(default_factory=dict)

    def api(self, role: str) -> TokenClient:
        return TokenClient().as_member(self.crew[role])

    def ok(self, answer, status: int = 200):
        assert answer.status_code == status, answer.content[:500]
        return answer.json() if answer.content else None


def build_world() -> World:
    from ptz.models import PtzEndpoint

    crew = helpers.people()
    pn, crf = helpers.agency("PN"), helpers.agency("CRF")
    pn_unit = factories.make_unit(agency=pn, callsign="TV 12")
    crf_unit = factories.make_unit(agency=crf, callsign="CRF MARAUDE 1")
    crew["pn_unit"], crew["crf_unit"] = pn_unit.member, crf_unit.member
    incident = helpers.open_incident(crew["operator"], shared_with=("PN",))
    camera = factories.make_camera(kind=CameraKind.PTZ)
    PtzEndpoint.objects.create(camera=camera, host="127.0.0.1", port=9)
    factories.make_authorisation(cameras=[camera], recipients=["PN", "GN"])
    return World(crew=crew, incident=incident, pn_unit=pn_unit, crf_unit=crf_unit, camera_id=camera.pk,
                 scene=Scene(ptz_cameras=[camera.pk], cameras=[camera.pk]))


# --- The actions -----------------------------------------------------------------------------


def open_incident(w: World) -> None:
    w.ok(w.api("operator").post("/api/incidents/", {
        "nature": "rixe", "priority": 2, "location": {"type": "Point", "coordinates": [2.3230, 48.9880]},
        "description": "Attroupement devant la mairie"}), 201)


def update_incident(w: World) -> None:
    w.incident.refresh_from_db()
    w.ok(w.api("operator").patch(f"/api/incidents/{w.incident.pk}/", {
        "version": w.incident.version, "priority": 1, "address": "Place du marché"}))


def share_with_gn(w: World) -> None:
    w.ok(w.api("operator").post(f"/api/incidents/{w.incident.pk}/shares/", {"agency": "gn-test"}), 201)


def also_shared_with_gn(w: World) -> None:
    share_with_gn(w)


def unshare_pn(w: World) -> None:
    w.ok(w.api("operator").delete(f"/api/incidents/{w.incident.pk}/shares/pn-test/"))


def note_by_pn(w: World) -> None:
    w.ok(w.api("pn").post(f"/api/incidents/{w.incident.pk}/journal/",
                          {"text": "Équipage PN en route"}), 201)


def also_shared_with_crf(w: World) -> None:
    w.ok(w.api("operator").post(f"/api/incidents/{w.incident.pk}/shares/", {"agency": "crf-test"}), 201)


def attach_camera(w: World) -> None:
    """A camera line of the main courante: never for the Croix-Rouge (no camera data)."""
    w.ok(w.api("operator").post(f"/api/incidents/{w.incident.pk}/cameras/", {"camera": w.camera_id}), 201)


def close_incident_then_sweep(w: World) -> None:
    """The incident closed: its grants stop at once, and the beat sweep tells their screens."""
    from streaming.services import grants_end_sweep

    w.ok(w.api("operator").post(f"/api/incidents/{w.incident.pk}/transitions/",
                                {"status": "closed", "comment": "Individus interpellés"}))
    assert grants_end_sweep() == 1


def flash_to_unit(w: World) -> None:
    w.ok(w.api("operator").post("/api/radio/messages/", {
        "to_unit": w.pn_unit.pk, "priority": "flash", "text": "Rappelez le CSU"}), 201)


def pn_agent_on_its_net(w: World) -> None:
    """A partner speaks on its agency's net: its units and the centre must acknowledge."""
    api = w.api("pn")
    nets = w.ok(api.get("/api/radio/nets/"))
    [net] = [n for n in nets if n["kind"] == "agency" and n["agency"] == "pn-test"]
    w.ok(api.post("/api/radio/messages/", {"net": net["id"], "priority": "urgent",
                                           "text": "Véhicule suspect rue de la gare"}), 201)


def earlier_flash_to_unit(w: World) -> None:
    from incidents.services.radio import radio_message_send

    now = timezone.now()
    w.extra["message"] = radio_message_send(member=w.crew["operator"], to_unit=w.pn_unit, priority="flash",
                                            text="Rappelez le CSU", now=now)
    w.extra["sent_at"] = now


def unit_acknowledges(w: World) -> None:
    w.ok(w.api("pn_unit").post(f"/api/radio/messages/{w.extra['message'].pk}/ack/"))


def nobody_acknowledges(w: World) -> None:
    """The Celery beat follow-up, later and later: re-sent, then escalated to the supervisors."""
    from incidents.services.radio import radio_follow_up

    for minutes in (10, 20, 30):
        radio_follow_up(now=w.extra["sent_at"] + dt.timedelta(minutes=minutes))


def rename_unit(w: World) -> None:
    w.ok(w.api("supervisor").patch(f"/api/units/{w.pn_unit.pk}/", {"callsign": "TV 13"}))


def retire_unit(w: World) -> None:
    w.ok(w.api("supervisor").patch(f"/api/units/{w.pn_unit.pk}/", {"member": None, "retired": True}))


def move_unit_to_gn(w: World) -> None:
    """The unit changes agency (its tablet taken back first: a PN member drives no GN unit)."""
    w.ok(w.api("supervisor").patch(f"/api/units/{w.pn_unit.pk}/", {"member": None, "agency": "gn-test"}))


def gn_unit(w: World) -> None:
    w.extra["gn_unit"] = factories.make_unit(agency=helpers.agency("GN"), callsign="GN 3")
    w.crew["gn_unit"] = w.extra["gn_unit"].member


def engage_gn_unit(w: World) -> None:
    """An incident not yet shared with the gendarmerie: it is, on the way."""
    w.ok(w.api("operator").post(f"/api/units/{w.extra['gn_unit'].pk}/engage/", {"incident": w.incident.pk}))


def unit_reports_position(w: World) -> None:
    point = offset(CENTRE, bearing=90, metres=150)
    w.ok(w.api("pn_unit").post(f"/api/units/{w.pn_unit.pk}/position/", {
        "location": {"type": "Point", "coordinates": [point.x, point.y]}}), 201)


def unit_unavailable(w: World) -> None:
    w.ok(w.api("pn_unit").post(f"/api/units/{w.pn_unit.pk}/status/", {"status": "unavailable"}))


def engage_unit(w: World) -> None:
    w.ok(w.api("operator").post(f"/api/units/{w.pn_unit.pk}/engage/", {"incident": w.incident.pk}))


def raise_alert(w: World) -> None:
    w.ok(w.api("operator").post("/api/alerts/", {
        "location": {"type": "Point", "coordinates": [2.3222, 48.9883]}, "address": "Parvis de la gare",
        "description": "Homme âgé allongé sur un banc", "conditions": ["cold"]}), 201)


def earlier_alert(w: World) -> None:
    from incidents.services.alerts import alert_raise

    w.extra["alert"] = alert_raise(member=w.crew["operator"], location=CENTRE,
                                   description="Personne au sol, froid")


def crf_acknowledges(w: World) -> None:
    w.ok(w.api("crf").post(f"/api/alerts/{w.extra['alert'].pk}/ack/"))


def crf_unit_takes_charge(w: World) -> None:
    w.ok(w.api("crf_unit").post(f"/api/alerts/{w.extra['alert'].pk}/take-charge/", {}))


def crf_closes(w: World) -> None:
    w.ok(w.api("crf").post(f"/api/alerts/{w.extra['alert'].pk}/close/",
                           {"outcome": "refused", "note": "Ne souhaite pas d'aide"}))


def grant_to_pn(w: World) -> None:
    w.ok(w.api("operator").post("/api/streaming/grants/", {
        "camera": w.camera_id, "agency": "pn-test", "incident": w.incident.pk, "minutes": 10,
        "reason": "Suivi des individus"}), 201)


def earlier_grant(w: World) -> None:
    from cameras.models import Camera
    from streaming.services import grant_create

    w.extra["grant"] = grant_create(camera=Camera.objects.get(pk=w.camera_id), agency_code="pn-test",
                                    incident=w.incident, granted_by=w.crew["operator"].user, minutes=10)


def revoke_grant(w: World) -> None:
    w.ok(w.api("operator").post(f"/api/streaming/grants/{w.extra['grant'].pk}/revoke/",
                                {"reason": "Fin de l'intervention"}))


def extend_grant(w: World) -> None:
    w.ok(w.api("operator").post(f"/api/streaming/grants/{w.extra['grant'].pk}/extend/", {"minutes": 20}))


def grant_expires(w: World) -> None:
    """The beat sweep, once the grant's time is up."""
    from streaming.services import grants_end_sweep

    assert grants_end_sweep(now=w.extra["grant"].expires_at + dt.timedelta(seconds=1)) == 1


def pn_agent_watches(w: World) -> None:
    """What the WHEP endpoint journals when the agent's player starts (no video needed here)."""
    from cameras.models import Camera
    from streaming.services import viewing_start

    viewing_start(viewer=w.crew["pn"].user, camera=Camera.objects.get(pk=w.camera_id),
                  grant=w.extra["grant"], session="verify-action")


def camera_to_wall(w: World) -> None:
    w.ok(w.api("operator").post("/api/streaming/walls/principal/tiles/",
                                {"position": 2, "camera": str(w.camera_id)}))


def source_lost(w: World) -> None:
    """What the camera's video pipeline reports."""
    from streaming.services import camera_status_set

    assert camera_status_set(camera_id=w.camera_id, online=False, detail="source lost")


def operator_takes_ptz(w: World) -> None:
    """The lease service the PTZ API calls (the API also opens the ONVIF client in the
    background, which there is no camera here to answer)."""
    from cameras.models import Camera
    from ptz.services import lease_take

    lease_take(camera=Camera.objects.get(pk=w.camera_id), by=w.crew["operator"].user, incident=w.incident)


def ptz_read_back(w: World) -> None:
    """Where the camera says it is, as the PTZ driver reads it back."""
    from ptz.services import position_record

    position_record(w.camera_id, status=None, preset=None, moving=True)


def earlier_requisition(w: World) -> None:
    from cameras.models import Camera
    from recordings.requisitions import requisition_create

    now = timezone.now()
    w.extra["requisition"] = requisition_create(
        created_by=w.crew["operator"].user, requesting_officer="OPJ Martin", service="SR Cergy",
        procedure_number="2026/4242", cameras=[Camera.objects.get(pk=w.camera_id)],
        window_start=now - dt.timedelta(hours=2), window_end=now - dt.timedelta(hours=1))


def extraction_advances(w: World) -> None:
    """What the extraction (a Celery task) reports as it goes."""
    from recordings.requisitions import requisition_progress_report

    requisition_progress_report(requisition_id=w.extra["requisition"].pk, status="running", progress=45)


# --- The cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    event_type: str
    act: Callable[[World], None]
    hears: tuple[str, ...]
    silent: tuple[str, ...]
    before: Callable[[World], None] | None = None
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.event_type}{'-' + self.name if self.name else ''}"


CENTRE_ONLY_SILENT = ("pn", "auditor")
CASES = [
    Case("incident.created", open_incident, hears=("operator", "supervisor"), silent=("pn", "crf")),
    Case("incident.updated", update_incident, hears=("operator", "pn", "pn_unit"), silent=("gn", "crf")),
    Case("incident.shared", share_with_gn, hears=("operator", "pn", "gn"), silent=("sdis", "crf")),
    Case("incident.unshared", unshare_pn, hears=("operator", "pn", "pn_unit", "gn"), silent=("sdis",),
         before=also_shared_with_gn),
    Case("journal.appended", note_by_pn, hears=("operator", "pn", "pn_unit"), silent=("gn", "auditor")),
    Case("journal.appended", attach_camera, hears=("operator", "pn"), silent=("crf", "gn"),
         before=also_shared_with_crf, name="camera-line"),
    Case("radio.message", flash_to_unit, hears=("operator", "pn_unit"), silent=("pn", "crf_unit")),
    Case("radio.message", pn_agent_on_its_net, hears=("operator", "pn", "pn_unit"), silent=("gn",),
         name="agency-net"),
    Case("radio.acknowledged", unit_acknowledges, hears=("operator", "pn_unit"), silent=("pn",),
         before=earlier_flash_to_unit),
    Case("radio.escalated", nobody_acknowledges, hears=("operator", "supervisor", "pn_unit"), silent=("pn",),
         before=earlier_flash_to_unit),
    Case("unit.updated", rename_unit, hears=("supervisor", "operator", "pn", "pn_unit"), silent=("gn",),
         name="renamed"),
    Case("unit.updated", retire_unit, hears=("supervisor", "pn", "pn_unit"), silent=("gn",), name="retired"),
    Case("unit.updated", move_unit_to_gn, hears=("supervisor", "pn", "gn"), silent=("sdis",), name="moved"),
    Case("unit.position", unit_reports_position, hears=("operator", "pn", "pn_unit"), silent=("gn",)),
    Case("unit.status", unit_unavailable, hears=("operator", "pn", "pn_unit"), silent=("gn", "crf")),
    Case("unit.engaged", engage_unit, hears=("operator", "pn", "pn_unit"), silent=("gn", "crf")),
    Case("unit.engaged", engage_gn_unit, hears=("operator", "gn", "gn_unit"), silent=("sdis",),
         before=gn_unit, name="shared-on-the-way"),
    Case("alert.raised", raise_alert, hears=("operator", "crf", "crf_unit"), silent=("pn", "pn_unit")),
    Case("alert.updated", crf_acknowledges, hears=("operator", "crf", "crf_unit"), silent=("pn",),
         before=earlier_alert, name="acknowledged"),
    Case("alert.updated", crf_unit_takes_charge, hears=("operator", "crf", "crf_unit"), silent=("pn",),
         before=earlier_alert, name="taken-charge"),
    Case("alert.updated", crf_closes, hears=("operator", "crf"), silent=("pn",),
         before=earlier_alert, name="closed"),
    Case("grant.created", grant_to_pn, hears=("operator", "pn"), silent=("gn", "crf", "pn_unit")),
    Case("grant.created", extend_grant, hears=("operator", "pn"), silent=("gn",), before=earlier_grant,
         name="extended"),
    Case("grant.revoked", revoke_grant, hears=("operator", "pn"), silent=("gn",), before=earlier_grant),
    Case("grant.ended", grant_expires, hears=("operator", "pn"), silent=("gn",), before=earlier_grant,
         name="expired"),
    Case("grant.ended", close_incident_then_sweep, hears=("operator", "pn"), silent=("gn",),
         before=earlier_grant, name="incident-closed"),
    Case("grant.viewers", pn_agent_watches, hears=("operator", "pn"), silent=("gn",), before=earlier_grant),
    Case("wall.updated", camera_to_wall, hears=("operator", "supervisor"), silent=CENTRE_ONLY_SILENT),
    Case("camera.status", source_lost, hears=("operator", "supervisor"), silent=CENTRE_ONLY_SILENT),
    Case("ptz.lease", operator_takes_ptz, hears=("operator", "supervisor"), silent=CENTRE_ONLY_SILENT),
    Case("ptz.position", ptz_read_back, hears=("operator", "supervisor"), silent=CENTRE_ONLY_SILENT),
    Case("requisition.progress", extraction_advances, hears=("operator", "supervisor"),
         silent=CENTRE_ONLY_SILENT, before=earlier_requisition),
]
# Disagreements found and not fixed here, each with its reason: the test fails (strict) once fixed.
KNOWN_DEFECTS: dict[tuple[str, str], str] = {}


def _pair(case: Case, role: str):
    reason = KNOWN_DEFECTS.get((case.id, role))
    marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    return pytest.param(case, role, id=f"{case.id}-{role}", marks=marks)


PAIRS = [_pair(case, role) for case in CASES for role in case.hears + case.silent]


# --- The coverage ------------------------------------------------------------------------------


KIND_OF_ROLE = {"operator": "centre", "supervisor": "centre", "auditor": "auditor",
                "pn": "partner agent", "gn": "partner agent", "sdis": "partner agent", "crf": "Croix-Rouge",
                "pn_unit": "field unit", "gn_unit": "field unit", "crf_unit": "Croix-Rouge field unit"}
# Who an event type reaches besides the centre (docs/realtime.md); the centre alone otherwise.
BEYOND_THE_CENTRE = {"incident.created", "incident.updated", "incident.shared", "incident.unshared",
                     "journal.appended", "radio.message", "radio.acknowledged", "radio.escalated",
                     "unit.updated", "unit.position", "unit.status", "unit.engaged", "alert.raised",
                     "alert.updated", "grant.created", "grant.revoked", "grant.ended", "grant.viewers"}


def test_every_registered_event_type_has_a_verify_action_case_and_a_rule():
    """A new event type fails here until it has a case above (or a documented exclusion in
    ``tests/verify.py``) and a rule saying what a screen does with it."""
    covered = {case.event_type for case in CASES}
    assert set(REGISTRY) - set(NO_REST_COUNTERPART) == covered
    assert not covered & set(NO_REST_COUNTERPART)
    assert set(RULES) == set(REGISTRY) - set(NO_REST_COUNTERPART)
    for event_type in covered:
        cases = [case for case in CASES if case.event_type == event_type]
        heard_by = {KIND_OF_ROLE[role] for case in cases for role in case.hears}
        silent = {role for case in cases for role in case.silent}
        assert "centre" in heard_by and silent, event_type  # the centre hears everything
        if event_type in BEYOND_THE_CENTRE and event_type != "incident.created":
            assert heard_by - {"centre"}, f"{event_type}: check a role beyond the centre that hears it"
        else:
            assert len({role for case in cases for role in case.hears}) >= 2, event_type


# --- verify_action -------------------------------------------------------------------------------


async def frames_until_marker(client, member: Member) -> list[dict]:
    """The events this client receives before a marker published now (in id order: nothing the
    action published can come after it)."""
    marker = await db(helpers.marker)(member)
    frames = []
    while True:
        frame = await client.frame(timeout=5)
        if frame.get("id") == marker:
            return frames
        if "id" in frame:
            frames.append(frame)


async def replayed_frames(connect, member: Member, after: int) -> list[dict]:
    """A socket that reconnects from ``after``: what it is replayed, and then hears live."""
    ok, client = await connect(member.user, last_event_id=after)
    assert ok
    await client.send({"type": "ping"})  # answered once the replay is sent
    frames = []
    while True:
        frame = await client.frame(timeout=5)
        if frame["type"] == "pong":
            break
        if "id" in frame:
            frames.append(frame)
    frames += await frames_until_marker(client, member)
    await client.close()
    return frames


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("case", "role"), PAIRS)
async def test_rest_before_and_the_events_heard_make_rest_after(connect, case: Case, role: str):
    world = await db(build_world)()
    if case.before is not None:
        await db(case.before)(world)
    member = world.crew[role]
    viewer = await db(viewer_of)(member)
    before = await db(rest_state)(member, world.scene)
    start = await db(helpers.latest_id)()
    ok, live = await connect(member.user)
    assert ok

    await db(case.act)(world)  # verify_action: the action, then what the socket heard

    heard = await frames_until_marker(live, member)
    after = await db(rest_state)(member, world.scene)
    types = [frame["type"] for frame in heard]
    if role in case.hears:
        assert case.event_type in types, f"{role} heard {types}"
    else:
        assert case.event_type not in types, f"{role} heard {types}"
    reduced = compare(reduce(before, heard, viewer), after)
    assert reduced == after, f"live, having heard {types}: {differences(reduced, after)}"

    replayed = await replayed_frames(connect, member, start)
    reduced = compare(reduce(before, replayed, viewer), after)
    assert reduced == after, \
        f"replay of {[frame['type'] for frame in replayed]}: {differences(reduced, after)}"
