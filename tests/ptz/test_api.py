"""The PTZ API against ipycam on loopback: leases, commands, masks that follow the position,
journal lines and events, bad input and faults."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import threading
import time

import pytest
from django.utils import timezone

from cameras.choices import CameraKind
from incidents.services.incidents import incident_create
from partners.audit import Action
from partners.models import AuditRecord
from ptz.driver import OnvifPtzDriver
from ptz.models import LeaseEnd, PtzEndpoint, PtzLease
from ptz.runtime import get_runtime
from ptz.services import leases_sweep
from realtime import audiences
from realtime.models import Event
from streaming.selectors import camera_current_preset, camera_off_presets, masks_now
from tests import factories

pytestmark = pytest.mark.django_db


def client(member):
    return factories.TokenClient().as_member(member)


def url(scene, action: str = "") -> str:
    return f"/api/ptz/cameras/{scene['camera'].pk}/{action + '/' if action else ''}"


def camera_status(scene):
    async def read():
        driver = OnvifPtzDriver(host="127.0.0.1", port=scene["virtual"].onvif_port)
        try:
            return await driver.status()
        finally:
            await driver.close()

    return asyncio.run(read())


def ptz_events(kind: str) -> list[Event]:
    return list(Event.objects.filter(type=kind).order_by("id"))


def test_one_operator_at_a_time_the_second_sees_who_and_a_supervisor_takes_over(ptz_scene):
    first, second = client(ptz_scene["operator"]), client(ptz_scene["other"])
    boss = client(ptz_scene["supervisor"])
    taken = first.post(url(ptz_scene, "lease"), {})
    assert taken.status_code == 200, taken.json()
    assert taken.json()["holder"]["username"] == ptz_scene["operator"].user.username

    refused = second.post(url(ptz_scene, "lease"), {"take_over": True})
    assert refused.status_code == 409
    assert refused.json()["error"] == "lease_held"
    assert refused.json()["detail"].startswith("Caméra prise par ")
    assert refused.json()["holder"]["username"] == ptz_scene["operator"].user.username
    moved = second.post(url(ptz_scene, "move"), {"pan": 0.5, "tilt": 0})
    assert moved.status_code == 409 and moved.json()["error"] == "lease_held"
    assert camera_status(ptz_scene).position.pan == pytest.approx(0.0)  # nothing reached the camera

    over = boss.post(url(ptz_scene, "lease"), {"take_over": True, "reason": "Suivi d'un individu"})
    assert over.status_code == 200
    assert over.json()["holder"]["username"] == ptz_scene["supervisor"].user.username
    event = ptz_events("ptz.lease")[-1]
    assert event.data["reason"] == "taken_over"
    assert event.data["previous"]["username"] == ptz_scene["operator"].user.username
    assert event.audience == list(audiences.centre())
    record = AuditRecord.objects.get(action=Action.PTZ_TAKEOVER)
    assert record.details["from"] == ptz_scene["operator"].user.username
    assert record.details["to"] == ptz_scene["supervisor"].user.username
    assert record.reason == "Suivi d'un individu"
    lost = first.post(url(ptz_scene, "move"), {"pan": 0.5, "tilt": 0})
    assert lost.status_code == 409 and lost.json()["error"] == "lease_held"
    assert PtzLease.objects.get(holder=ptz_scene["operator"].user).end_reason == LeaseEnd.TAKEN_OVER


def test_an_operator_on_a_more_urgent_incident_takes_over(ptz_scene):
    point = ptz_scene["camera"].location
    normal = incident_create(member=ptz_scene["operator"], nature="rixe", location=point,
                             description="rixe", priority=3)
    urgent = incident_create(member=ptz_scene["other"], nature="rixe", location=point,
                             description="blessé", priority=1)
    holder = client(ptz_scene["operator"])
    assert holder.post(url(ptz_scene, "lease"), {"incident": normal.pk}).status_code == 200
    same = client(ptz_scene["other"])
    assert same.post(url(ptz_scene, "lease"), {"incident": normal.pk, "take_over": True}).status_code == 409
    assert same.post(url(ptz_scene, "lease"), {"incident": urgent.pk, "take_over": True}).status_code == 200


def test_a_joystick_drag_moves_the_camera_blanks_partners_and_is_one_journal_line(ptz_scene):
    api = client(ptz_scene["operator"])
    camera_id = ptz_scene["camera"].pk
    assert api.post(url(ptz_scene, "lease"), {}).status_code == 200
    started = api.post(url(ptz_scene, "move"), {"pan": 1, "tilt": 0, "zoom": 0})
    assert started.status_code == 200 and started.json()["result"] == "sent"
    assert camera_off_presets(camera_id) and masks_now(camera_id).partners_blank
    time.sleep(0.4)
    stopped = api.post(url(ptz_scene, "move"), {"pan": 0, "tilt": 0, "zoom": 0})
    assert stopped.status_code == 200
    position = stopped.json()["position"]
    assert position["pan"] > 0.1 and position["moving"] is False and position["preset"] is None
    assert camera_status(ptz_scene).position.pan == pytest.approx(position["pan"])
    # Off its presets, still: partners stay blanked.
    assert masks_now(camera_id).partners_blank
    (record,) = AuditRecord.objects.filter(action=Action.PTZ_MOVE)
    assert record.details["from"]["pan"] in (None, 0.0)
    assert record.details["to"]["pan"] == pytest.approx(position["pan"])
    assert record.actor_id == ptz_scene["operator"].user.pk


def test_a_preset_recall_is_read_back_before_its_masks_apply(ptz_scene):
    api = client(ptz_scene["operator"])
    camera_id = ptz_scene["camera"].pk
    api.post(url(ptz_scene, "lease"), {})
    api.post(url(ptz_scene, "move"), {"pan": -1, "tilt": 0})
    assert masks_now(camera_id).partners_blank
    api.post(url(ptz_scene, "move"), {"pan": 0, "tilt": 0})
    recalled = api.post(url(ptz_scene, "preset"), {"preset": 1})
    assert recalled.status_code == 200, recalled.json()
    assert recalled.json()["position"]["preset"] == 1
    assert recalled.json()["position"]["pan"] == pytest.approx(0.5)
    assert camera_current_preset(camera_id) == 1 and not camera_off_presets(camera_id)
    masks = masks_now(camera_id)
    assert not masks.partners_blank
    assert ((0.0, 0.0), (0.25, 0.0), (0.25, 1.0), (0.0, 1.0)) in masks.partners
    record = AuditRecord.objects.get(action=Action.PTZ_PRESET)
    assert record.details["preset"] == 1 and record.details["reached"] is True
    event = ptz_events("ptz.position")[-1]
    assert event.data["preset"] == 1 and event.data["moving"] is False


def test_aim_at_the_incident_turns_by_the_bearing_or_recalls_the_preset_that_sees_it(ptz_scene):
    camera = ptz_scene["camera"]
    api = client(ptz_scene["operator"])
    api.post(url(ptz_scene, "lease"), {})
    south = factories.offset(camera.location, bearing=180, metres=200)
    behind = incident_create(member=ptz_scene["operator"], nature="rixe", location=south,
                             description="au sud")
    aimed = api.post(url(ptz_scene, "aim"), {"incident": behind.pk})
    assert aimed.status_code == 200, aimed.json()
    body = aimed.json()
    assert body["method"] == "absolute" and body["reached"] is True
    assert body["bearing"] == pytest.approx(180, abs=0.5)
    # Pan 0 looks north and the pan space spans 360°: south is the end of the pan range.
    assert abs(camera_status(ptz_scene).position.pan) == pytest.approx(1.0, abs=0.01)
    assert body["position"]["zoom"] == pytest.approx((200 - 30) / 270, abs=0.02)

    east = factories.offset(camera.location, bearing=90, metres=100)
    seen = incident_create(member=ptz_scene["operator"], nature="rixe", location=east,
                           description="à l'est")
    aimed = api.post(url(ptz_scene, "aim"), {"incident": seen.pk}).json()
    assert aimed["method"] == "preset" and aimed["preset"] == 1 and aimed["reached"] is True
    assert camera_current_preset(camera.pk) == 1 and not camera_off_presets(camera.pk)


def test_a_joystick_command_reads_the_camera_with_its_endpoint_once(ptz_scene):
    """Each joystick command is a request (ten a second per operator): its ONVIF endpoint comes
    with the camera, not from further queries (benchmarks/ptz.py measured two more)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = client(ptz_scene["operator"])
    assert api.post(url(ptz_scene, "lease"), {}).status_code == 200
    assert api.post(url(ptz_scene, "move"), {"pan": 0.3, "tilt": 0}).status_code == 200  # the drag starts
    with CaptureQueriesContext(connection) as queries:
        moved = api.post(url(ptz_scene, "move"), {"pan": 0.4, "tilt": 0.1})
    assert moved.status_code == 200 and moved.json()["result"] == "sent"
    endpoint_reads = [q["sql"] for q in queries if '"ptz_ptzendpoint"' in q["sql"]]
    assert len(endpoint_reads) == 1 and 'FROM "cameras_camera"' in endpoint_reads[0]
    assert api.post(url(ptz_scene, "move"), {"pan": 0, "tilt": 0}).json()["result"] == "sent"
    assert camera_status(ptz_scene).position.pan > 0  # the commands did reach the camera


def test_bad_input_is_refused_and_nothing_moves(ptz_scene, partner_agent):
    api = client(ptz_scene["operator"])
    assert api.post(url(ptz_scene, "move"), {"pan": 1, "tilt": 0}).json()["error"] == "lease_required"
    api.post(url(ptz_scene, "lease"), {})
    for body in ({"pan": 2, "tilt": 0}, {"pan": "vite", "tilt": 0}, {"tilt": 0}):
        answer = api.post(url(ptz_scene, "move"), body)
        assert answer.status_code == 400, body
    unknown = api.post(url(ptz_scene, "preset"), {"preset": 7})
    assert unknown.status_code == 400 and unknown.json()["error"] == "unknown_preset"
    assert "préréglage" in str(unknown.json()["detail"])
    assert client(partner_agent).post(url(ptz_scene, "lease"), {}).status_code == 403
    assert client(partner_agent).get(url(ptz_scene)).status_code == 403
    fixed = factories.make_camera(kind=CameraKind.FIXED)
    not_ptz = api.post(f"/api/ptz/cameras/{fixed.pk}/lease/", {})
    assert not_ptz.status_code == 400 and not_ptz.json()["error"] == "not_ptz"
    assert api.post("/api/ptz/cameras/999999/lease/", {}).status_code == 404
    status = camera_status(ptz_scene).position
    assert (status.pan, status.tilt, status.zoom) == pytest.approx((0.0, 0.0, 0.0))
    assert not AuditRecord.objects.filter(action__in=[Action.PTZ_MOVE, Action.PTZ_PRESET]).exists()


def test_a_camera_that_does_not_answer_keeps_the_lease_and_says_injoignable(ptz_scene):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        PtzEndpoint.objects.filter(pk=ptz_scene["endpoint"].pk).update(port=silent.getsockname()[1])
        api = client(ptz_scene["operator"])
        api.post(url(ptz_scene, "lease"), {})
        answer = api.post(url(ptz_scene, "move"), {"pan": 0.5, "tilt": 0})
    assert answer.status_code == 503
    assert answer.json()["error"] == "camera_unreachable"
    assert "injoignable" in answer.json()["detail"].lower()
    state = api.get(url(ptz_scene)).json()
    assert state["holder"]["username"] == ptz_scene["operator"].user.username
    assert state["position"]["reachable"] is False


def test_wrong_credentials_are_said(ptz_scene, secured_camera):
    endpoint = ptz_scene["endpoint"]
    endpoint.port, endpoint.username = secured_camera.onvif_port, "admin"
    endpoint.set_password("wrong")
    endpoint.save()
    api = client(ptz_scene["operator"])
    api.post(url(ptz_scene, "lease"), {})
    answer = api.post(url(ptz_scene, "home"))
    assert answer.status_code == 502 and answer.json()["error"] == "camera_auth_failed"
    endpoint.set_password("s3cret")
    endpoint.save()
    assert api.post(url(ptz_scene, "home")).status_code == 200


def test_the_password_is_encrypted_at_rest(ptz_scene, settings, tmp_path):
    endpoint = ptz_scene["endpoint"]
    endpoint.set_password("s3cret-onvif")
    endpoint.save()
    stored = PtzEndpoint.objects.values_list("password_encrypted", flat=True).get(pk=endpoint.pk)
    assert "s3cret" not in stored and stored
    assert PtzEndpoint.objects.get(pk=endpoint.pk).password() == "s3cret-onvif"
    from ptz.crypto import CredentialUnreadable, _fernet

    settings.HUB_PTZ_KEY_PATH = tmp_path / "other.key"
    _fernet.cache_clear()
    with pytest.raises(CredentialUnreadable):
        PtzEndpoint.objects.get(pk=endpoint.pk).password()


class HeldClock:
    """The joystick's clock, held still: it moves only when the test says (seconds)."""

    def __init__(self) -> None:
        self.now = time.perf_counter()  # held from here

    def __call__(self) -> float:
        return self.now


def wait_until(predicate, what: str) -> None:
    """Wait for a state on a busy machine: up to 20 s, ending as soon as it is there."""
    deadline = time.monotonic() + 20
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.mark.django_db(transaction=True)  # the key is pressed from two threads: committed data
def test_a_stuck_key_is_coalesced_and_the_last_command_wins(ptz_scene, settings, monkeypatch):
    # The joystick's interval is driven by a held clock: the whole burst falls within one
    # interval whatever the machine's speed, and the interval passes when the test moves it.
    # A command waits for its answer up to 3 timeouts + 1 s: 19 s here, so that the move held
    # for the interval waits for the release however busy the machine is.
    settings.HUB_PTZ_TIMEOUT_SECONDS = 6
    clock = HeldClock()
    runtime = get_runtime()
    monkeypatch.setattr(runtime, "clock", clock)
    interval = 1 / settings.HUB_PTZ_MAX_COMMANDS_PER_SECOND
    api = client(ptz_scene["operator"])
    api.post(url(ptz_scene, "lease"), {})
    camera_id = ptz_scene["camera"].pk
    reached_before = len(runtime.sent_timings(camera_id))
    results: list[str] = []
    held = threading.Event()  # the key is down

    def press(velocity: dict, *, once: bool = False) -> None:
        from django.db import connection

        own = client(ptz_scene["operator"])
        while once or held.is_set():
            answer = own.post(url(ptz_scene, "move"), velocity)
            results.append(answer.json().get("result", f"{answer.status_code} {answer.json()}"))
            if once:
                break
        connection.close()

    # A stuck key: moves sent from two threads as fast as they are answered, all within one
    # interval. Each waits while the command before it waits for the interval, so every press
    # that arrives answers the one that waited.
    held.set()
    threads = [threading.Thread(target=press, args=({"pan": 0.2, "tilt": 0},)) for _ in range(2)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(results) >= 40, "the stuck key's moves were not answered")
    held.clear()
    # One thread stops pressing; the other's last move waits for the interval.
    wait_until(lambda: sum(t.is_alive() for t in threads) == 1 and runtime.waiting(camera_id) == 1,
               "the burst did not settle")
    # The key is released: the stop replaces the move that waited.
    release = threading.Thread(target=press, args=({"pan": 0, "tilt": 0},), kwargs={"once": True})
    release.start()
    for thread in threads:
        thread.join(20)
    assert not any(t.is_alive() for t in threads), "the waiting move was not replaced by the stop"
    burst = list(results)
    # Only the first of the burst was sent, every other move was replaced by the next.
    assert sorted(burst) == ["coalesced"] * (len(burst) - 1) + ["sent"], burst
    clock.now += interval  # the interval passes: the stop goes
    release.join(20)
    assert not release.is_alive() and results[len(burst):] == ["sent"]
    # The camera got the burst's first move and the stop: nothing else.
    assert len(runtime.sent_timings(camera_id)) - reached_before == 2
    stopped_at = camera_status(ptz_scene).position.pan
    time.sleep(0.3)
    assert camera_status(ptz_scene).position.pan == pytest.approx(stopped_at)  # nothing left moving


def test_an_idle_lease_lapses_and_the_camera_goes_home_later(ptz_scene, settings):
    api = client(ptz_scene["operator"])
    api.post(url(ptz_scene, "lease"), {})
    api.post(url(ptz_scene, "preset"), {"preset": 1})
    assert camera_status(ptz_scene).position.pan == pytest.approx(0.5)
    now = timezone.now()
    lapse = now + dt.timedelta(seconds=settings.HUB_PTZ_LEASE_IDLE_SECONDS + 1)
    assert leases_sweep(now=lapse, settle=0) == {"ended": 1, "homed": 0}
    assert PtzLease.objects.get().end_reason == LeaseEnd.IDLE
    event = ptz_events("ptz.lease")[-1]
    assert event.data["reason"] == "idle" and event.data["holder"] is None
    assert camera_status(ptz_scene).position.pan == pytest.approx(0.5)
    home = lapse + dt.timedelta(seconds=settings.HUB_PTZ_HOME_AFTER_SECONDS + 1)
    assert leases_sweep(now=home, settle=0) == {"ended": 0, "homed": 1}
    assert camera_status(ptz_scene).position.pan == pytest.approx(0.0)
    record = AuditRecord.objects.get(action=Action.PTZ_HOME)
    assert record.actor_id is None and record.reason == "retour automatique"
    assert record.details["from"]["preset"] == 1
