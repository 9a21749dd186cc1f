# ruff: noqa: E501  (MATRIX is a table: one row per action, aligned columns)
"""The access matrix over REST (and the pages): every role against every kind of object and action.

This module is the source of truth for the matrix written in ``docs/security.md``.
``MATRIX`` below reads as the table: one row per action, one column per role.
A cell says ``A`` (allowed: the action's success answer), ``D`` (denied: 401 for
an anonymous caller, otherwise the action's refusal, 403 or 404), or the exact
answer expected when it is neither (the incidents or grants listed, the reason
the video rule gives, a status).

One scene is built once for the module (in a transaction rolled back at the
end); each cell runs inside a savepoint of it, so writes of one cell (a
revoked grant, a deleted mask) never reach another.

The WebSocket side of the matrix is ``test_access_matrix_ws.py``. The attack
cases not covered elsewhere close this module.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from cameras.choices import CameraKind
from cameras.services import mask_create
from incidents.choices import NATURES
from incidents.models import Incident, Nature
from incidents.services.incidents import incident_attach_camera, incident_create, incident_share
from partners.audit import Action as AuditAction
from partners.choices import AgencyKind
from partners.models import ApiToken, AuditRecord
from partners.services import api_token_issue
from recordings.requisitions import requisition_create
from streaming.selectors import camera_view_denial
from streaming.services import grant_create
from tests import factories

PASSWORD = "correct horse battery"
FAST_HASHER = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- The roles (columns) -------------------------------------------------------------------

ROLES = ("anonymous", "operator", "supervisor", "admin", "auditor",
         "pn_agent", "pm_agent", "gn_agent", "sdis_agent", "crf_agent",
         "pn_unit", "pn_agent_expired", "no_profile")
# anonymous         no credential at all
# operator, supervisor, admin, auditor: members of the CSU
# xx_agent          partner agent of that service, habilitation in force (the CRF's too:
#                   the Croix-Rouge is refused video whatever its papers say)
# pn_unit           field unit of the PN, habilitation in force
# pn_agent_expired  partner agent of the PN whose habilitation ended yesterday
# no_profile        an account without a member profile (made outside create_member); it
#                   cannot sign in (see the last tests), its REST cells use a token issued
#                   from the shell, to show that the rules deny it by themselves

A, D = "allow", "deny"

# Incidents of the scene (what the lists return).
ALL = frozenset({"shared_pn", "shared_sdis", "shared_crf", "private"})
PN = frozenset({"shared_pn"})
SDIS = frozenset({"shared_sdis"})
CRF = frozenset({"shared_crf"})
NONE: frozenset[str] = frozenset()
# Grants of the scene: camera A to the PN, camera B to the SDIS.
G_ALL = frozenset({"grant_pn", "grant_sdis"})
G_PN = frozenset({"grant_pn"})
G_SDIS = frozenset({"grant_sdis"})
# Video refused: the reason streaming.selectors.camera_view_denial gives.
V_MEMBER = "not_a_member"
V_GRANT = "no_active_grant"
V_LISTED = "service_not_listed_in_authorisation"
V_HAB = "no_valid_habilitation"
V_ROLE = "role_cannot_view_video"
V_CRF = "crf_never_receives_video"
# For incident details: camera data (suggested/attached cameras, camera journal lines) present or not.
SHOWN, HIDDEN = "shown", "hidden"

# --- The matrix ----------------------------------------------------------------------------------
#                            anon      oper   sup    admin  auditor pn        pm        gn        sdis     crf     pn_unit pn_exp  no_prof
MATRIX: dict[str, tuple] = {
    # Sign-in (POST /api/auth/token/)
    "token_obtain":         (D,        A,     A,     A,     A,      A,        A,        A,        A,       A,      A,      A,      D),
    "token_password_only":  (D,        A,     D,     D,     A,      D,        D,        D,        D,       D,      A,      D,      D),
    # Reference data
    "natures":              (D,        A,     A,     A,     A,      A,        A,        A,        A,       A,      A,      A,      A),
    "communes":             (D,        A,     A,     A,     A,      A,        A,        A,        A,       A,      A,      A,      A),
    # Incidents
    "list_incidents":       (401,      ALL,   ALL,   ALL,   NONE,   PN,       NONE,     NONE,     SDIS,    CRF,    PN,     PN,     NONE),
    "read_shared_incident": (D,        A,     A,     A,     D,      A,        D,        D,        D,       D,      A,      A,      D),
    "read_private":         (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "create_incident":      (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "append_journal":       (D,        A,     A,     A,     D,      A,        D,        D,        D,       D,      A,      A,      D),
    "update_incident":      (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "transition_incident":  (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "share_incident":       (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "unshare_incident":     (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "attach_camera":        (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "suggested_cameras":    (D,        A,     A,     A,     D,      HIDDEN,   D,        D,        D,       D,      HIDDEN, HIDDEN, D),
    "crf_camera_names":     (D,        A,     A,     A,     D,      D,        D,        D,        D,       HIDDEN, D,      D,      D),
    # Cameras
    "camera_layer":         (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "coverage":             (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "camera_detail":        (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "camera_patch":         (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "masks_list":           (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "mask_create":          (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "mask_delete":          (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "relocate_nomadic":     (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    # Video handoff (grants) and the right to watch
    "grants_list":          (401,      G_ALL, G_ALL, G_ALL, NONE,   G_PN,     NONE,     NONE,     G_SDIS,  NONE,   NONE,   G_PN,   NONE),
    "grant_create":         (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "grant_revoke":         (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "grant_extend":         (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "camera_video_facts":   (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "walls_list":           (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "wall_tile_set":        (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    # PTZ cameras: driven by the centre's staff alone, one at a time (a lease)
    "ptz_state":            (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "ptz_lease":            (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "ptz_move":             (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "ptz_home":             (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "watch_camera_a":       (V_MEMBER, A,     A,     A,     V_ROLE, A,        V_GRANT,  V_GRANT,  V_GRANT, V_CRF,  V_ROLE, V_HAB,  V_MEMBER),
    "watch_camera_b":       (V_MEMBER, A,     A,     A,     V_ROLE, V_LISTED, V_LISTED, V_LISTED, A,       V_CRF,  V_ROLE, V_HAB,  V_MEMBER),
    # Recordings: judicial requisitions, legal holds, the register, snapshots
    "requisitions_list":    (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "requisition_create":   (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "requisition_detail":   (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "hold_release":         (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "register":             (D,        A,     A,     A,     A,      D,        D,        D,        D,       D,      D,      D,      D),
    "register_export":      (D,        A,     A,     A,     A,      D,        D,        D,        D,       D,      D,      D,      D),
    "snapshots_list":       (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "recorder_nodes":       (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "technical_alarms":     (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    # Field units: created, edited, handed over, retired by the centre's supervisors
    "unit_create":          (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "unit_update":          (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "unit_retire":          (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    # Access journal
    "audit_list":           (D,        D,     D,     A,     A,      D,        D,        D,        D,       D,      D,      D,      D),
    "audit_export":         (D,        D,     D,     A,     A,      D,        D,        D,        D,       D,      D,      D,      D),
    # Pages (session): 302 = to the login page (anonymous, the admin) or to the console (centre)
    "console_page":         (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "portal_page":          (D,        302,   302,   302,   D,      A,        A,        A,        A,       A,      A,      A,      D),
    "admin_page":           (D,        D,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "requisitions_page":    (D,        A,     A,     A,     D,      D,        D,        D,        D,       D,      D,      D,      D),
    "register_page":        (D,        A,     A,     A,     A,      D,        D,        D,        D,       D,      D,      D,      D),
}

EXPECTED: dict[tuple[str, str], Any] = {
    (role, action): cell
    for action, row in MATRIX.items()
    for role, cell in zip(ROLES, row, strict=True)
}


# --- The scene -----------------------------------------------------------------------------------

@dataclass
class Scene:
    members: dict  # role → Member (no anonymous, no no_profile)
    users: dict  # role → User (no anonymous)
    tokens: dict  # role → raw bearer token (no anonymous)
    secrets: dict  # role → TOTP secret (roles that have one)
    incidents: dict  # name → Incident
    cameras: dict  # "a", "b", "nomadic" → Camera
    grants: dict  # name → Grant
    mask_id: int
    requisition_id: int
    hold_id: int
    # One client per role for the module: a Django test client builds its middleware stack
    # (WhiteNoise indexing the static files) on its first request, which costs more than a cell.
    apis: dict = field(default_factory=dict)  # role → API client (bearer token)
    ptz_camera_id: int = 0  # a PTZ camera far from the incidents, whose ONVIF port answers nothing
    browsers: dict = field(default_factory=dict)  # role → page client (signed-in session)

    def incident_name(self, pk: int) -> str:
        return next(name for name, incident in self.incidents.items() if incident.pk == pk)

    def grant_name(self, pk: int) -> str:
        return next(name for name, grant in self.grants.items() if grant.pk == pk)


def _build() -> Scene:
    from django.contrib.gis.geos import Point

    for code, label in NATURES:
        Nature.objects.get_or_create(code=code, defaults={"label": label})
    factories.make_commune()
    factories.make_agency(kind=AgencyKind.CSU, code="csu")
    agency = {kind: factories.make_agency(kind=kind, code=f"{kind.lower()}-test")
              for kind in (AgencyKind.PN, AgencyKind.PM, AgencyKind.GN, AgencyKind.SDIS, AgencyKind.CRF)}
    today = timezone.localdate()
    habilitation = {"habilitation_reference": "HAB-TEST", "habilitation_authority": "Préfecture",
                    "habilitation_valid_until": today + dt.timedelta(days=30)}
    secrets = {}

    def member(name, role, agency_kind=None, mfa=False, **extra):
        if mfa:
            secrets[name] = extra["totp_secret"] = pyotp.random_base32()
        return factories.make_member(role=role, username=name, password=PASSWORD,
                                     agency=agency[agency_kind] if agency_kind else None, **extra)

    members = {
        "operator": member("operator", "operator"),
        "supervisor": member("supervisor", "supervisor", mfa=True),
        "admin": member("admin", "admin", mfa=True),
        "auditor": member("auditor", "auditor"),
        "pn_agent": member("pn_agent", "partner_agent", AgencyKind.PN, mfa=True, **habilitation),
        "pm_agent": member("pm_agent", "partner_agent", AgencyKind.PM, mfa=True, **habilitation),
        "gn_agent": member("gn_agent", "partner_agent", AgencyKind.GN, mfa=True, **habilitation),
        "sdis_agent": member("sdis_agent", "partner_agent", AgencyKind.SDIS, mfa=True, **habilitation),
        "crf_agent": member("crf_agent", "partner_agent", AgencyKind.CRF, mfa=True, **habilitation),
        "pn_unit": member("pn_unit", "field_unit", AgencyKind.PN, **habilitation),
        "pn_agent_expired": member(
            "pn_agent_expired", "partner_agent", AgencyKind.PN, mfa=True,
            habilitation_reference="HAB-OLD", habilitation_valid_from=today - dt.timedelta(days=400),
            habilitation_valid_until=today - dt.timedelta(days=1)),
    }
    users = {role: m.user for role, m in members.items()}
    users["no_profile"] = get_user_model().objects.create_user(username="no_profile", password=PASSWORD)
    tokens = {role: api_token_issue(user=user)[0] for role, user in users.items()}

    # Camera A: authorisation for PN, PM, GN and SDIS; camera B: for the SDIS alone; a nomadic one.
    south = factories.offset(factories.CENTRE, bearing=180, metres=40)
    north = factories.offset(factories.CENTRE, bearing=0, metres=40)
    cameras = {
        "a": factories.make_camera(location=south, heading=0, code="cam-a"),
        "b": factories.make_camera(location=north, heading=180, code="cam-b"),
        "nomadic": factories.make_camera(location=south, heading=90, kind=CameraKind.NOMADIC, code="cam-n"),
    }
    factories.make_authorisation(cameras=[cameras["a"], cameras["nomadic"]],
                                 recipients=["PN", "PM", "GN", "SDIS"])
    factories.make_authorisation(cameras=[cameras["b"]], recipients=["SDIS"])
    mask = mask_create(camera=cameras["a"], polygon=[[0.1, 0.1], [0.4, 0.1], [0.4, 0.4]], label="fenêtre")

    author = users["operator"]
    operator = author.member
    here = Point(factories.CENTRE.x, factories.CENTRE.y, srid=4326)

    def incident(description):
        return incident_create(member=operator, nature="rixe", location=here, description=description)

    incidents = {"shared_pn": incident("Rixe devant la gare"), "shared_sdis": incident("Feu de poubelle"),
                 "shared_crf": incident("Personne sans abri"), "private": incident("Doute levé")}
    incident_attach_camera(incident=incidents["shared_pn"], camera=cameras["a"], member=operator)
    incident_attach_camera(incident=incidents["shared_crf"], camera=cameras["a"], member=operator)
    incident_share(incident=incidents["shared_crf"], agency_code="crf-test", member=operator)
    # A camera goes only to a service the incident is shared with.
    incident_share(incident=incidents["shared_pn"], agency_code="pn-test", member=operator)
    incident_share(incident=incidents["shared_sdis"], agency_code="sdis-test", member=operator)
    grants = {
        "grant_pn": grant_create(camera=cameras["a"], agency_code="pn-test",
                                 incident=incidents["shared_pn"], granted_by=author),
        "grant_sdis": grant_create(camera=cameras["b"], agency_code="sdis-test",
                                   incident=incidents["shared_sdis"], granted_by=author),
    }
    for each in incidents.values():
        each.refresh_from_db()
    requisition = requisition_create(
        created_by=author, requesting_officer="OPJ Martin", service="SR Cergy", procedure_number="2026/1",
        cameras=[cameras["a"]], window_start=timezone.now() - dt.timedelta(hours=3),
        window_end=timezone.now() - dt.timedelta(hours=2))
    scene = Scene(members=members, users=users, tokens=tokens, secrets=secrets, incidents=incidents,
                  cameras=cameras, grants=grants, mask_id=mask.pk, requisition_id=requisition.pk,
                  hold_id=requisition.holds.get().pk)
    from ptz.models import PtzEndpoint
    from tests.ptz.virtual import free_port

    ptz = factories.make_camera(location=factories.offset(factories.CENTRE, bearing=90, metres=900),
                                kind=CameraKind.PTZ, range_m=50, code="cam-ptz")
    PtzEndpoint.objects.create(camera=ptz, host="127.0.0.1", port=free_port())
    scene.ptz_camera_id = ptz.pk
    for role in ROLES:
        scene.apis[role] = factories.TokenClient()
        scene.browsers[role] = Client()
        if role != "anonymous":
            scene.apis[role].credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[role]}")
            # Signed in here, outside the cells' savepoints, so that the session outlives each cell.
            scene.browsers[role].force_login(users[role])
    return scene


@pytest.fixture(autouse=True)
def _nomenclature():
    """Overrides tests/conftest.py's: the scene seeded the natures once for every cell."""


@pytest.fixture(autouse=True)
def _forget_login_counters(request):
    """Overrides tests/conftest.py's, which scans Redis after every test: here only the tests
    that sign in (the token cells, the attack cases) leave counters and used codes behind."""
    yield
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    if "action" in params and not params["action"].startswith("token"):
        return
    from django.conf import settings
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    for pattern in ("login-fail:*", "totp-used:*"):
        keys = list(client.scan_iter(f"{prefix}:*:{pattern}"))
        if keys:
            client.delete(*keys)


@pytest.fixture(scope="module")
def scene(django_db_setup, django_db_blocker):
    """Built once; rolled back when the module ends. Each test runs in a savepoint of it."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with override_settings(PASSWORD_HASHERS=FAST_HASHER):
                yield _build()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# --- The actions (rows) ---------------------------------------------------------------------------

@dataclass
class Ctx:
    role: str
    scene: Scene

    @property
    def api(self) -> APIClient:
        return self.scene.apis[self.role]

    @property
    def browser(self) -> Client:
        return self.scene.browsers[self.role]

    @property
    def member(self):
        return self.scene.members.get(self.role)

    def incident(self, name: str) -> Incident:
        return Incident.objects.get(pk=self.scene.incidents[name].pk)


@dataclass(frozen=True)
class Act:
    run: Callable[[Ctx], Any]
    allow: Any  # what "A" means for this action
    deny: Any  # what "D" means for a signed-in caller
    deny_anonymous: Any = 401


def _status(response) -> int:
    return response.status_code


def _token(ctx: Ctx, *, with_otp: bool) -> int:
    if ctx.role == "anonymous":
        body = {"username": "nobody-at-all", "password": PASSWORD}
    else:
        body = {"username": ctx.scene.users[ctx.role].username, "password": PASSWORD}
        if with_otp and ctx.role in ctx.scene.secrets:
            body["otp"] = pyotp.TOTP(ctx.scene.secrets[ctx.role]).now()
    return ctx.scene.apis["anonymous"].post("/api/auth/token/", body, format="json").status_code


def _listed(response, name_of) -> int | frozenset[str]:
    if response.status_code != 200:
        return response.status_code
    return frozenset(name_of(row["id"]) for row in response.json())


def _detail(ctx: Ctx, incident: str):
    return ctx.api.get(f"/api/incidents/{ctx.scene.incidents[incident].pk}/")


def _suggested(ctx: Ctx) -> int | str:
    """Whether the incident as served carries the centre's camera fields."""
    response = _detail(ctx, "shared_pn")
    if response.status_code != 200:
        return response.status_code
    body = response.json()
    return SHOWN if {"cameras", "suggested_cameras"} <= set(body) else HIDDEN


def _camera_names(ctx: Ctx) -> int | str:
    """Whether the incident shared with the CRF (camera A attached) names a camera anywhere:
    camera fields, journal lines."""
    response = _detail(ctx, "shared_crf")
    if response.status_code != 200:
        return response.status_code
    text = response.content.decode()
    named = any(camera.code in text for camera in ctx.scene.cameras.values())
    return SHOWN if named or "cameras" in response.json() else HIDDEN


def _video(ctx: Ctx, camera: str) -> str:
    return camera_view_denial(ctx.member, ctx.scene.cameras[camera]) or A


def _incident_url(ctx: Ctx, name: str = "shared_pn", suffix: str = "") -> str:
    return f"/api/incidents/{ctx.scene.incidents[name].pk}/{suffix}"


def _camera_url(ctx: Ctx, name: str = "a", suffix: str = "") -> str:
    return f"/api/cameras/{ctx.scene.cameras[name].pk}/{suffix}"


def _grant_url(ctx: Ctx, suffix: str) -> str:
    return f"/api/streaming/grants/{ctx.scene.grants['grant_pn'].pk}/{suffix}"


def _csv(response) -> int:
    if response.status_code == 200:
        assert response["Content-Type"].startswith("text/csv")
        assert b"".join(response.streaming_content).decode("utf-8-sig").startswith("id,at,")
    return response.status_code


def _unit_url(ctx: Ctx) -> str:
    """A PN unit made for the cell (its savepoint takes it away)."""
    from incidents.services.units import unit_create
    from partners.models import Agency

    unit = unit_create(by=None, callsign="MATRICE 1", agency=Agency.objects.get(code="pn-test"))
    return f"/api/units/{unit.pk}/"


def _ptz_url(ctx: Ctx, suffix: str = "") -> str:
    return f"/api/ptz/cameras/{ctx.scene.ptz_camera_id}/{suffix}"


def _ptz_command(ctx: Ctx, suffix: str, body: dict) -> int:
    """Take the camera, then command it. The scene's PTZ camera answers nothing (a closed
    port): a command the hub lets through reaches for it and says "caméra injoignable" (503)."""
    ctx.api.post(_ptz_url(ctx, "lease/"), {})
    return _status(ctx.api.post(_ptz_url(ctx, suffix), body))


HERE = {"type": "Point", "coordinates": [factories.CENTRE.x, factories.CENTRE.y]}
NEARBY = factories.offset(factories.CENTRE, bearing=90, metres=150)

ACTIONS: dict[str, Act] = {
    "token_obtain": Act(lambda c: _token(c, with_otp=True), 201, 401),
    "token_password_only": Act(lambda c: _token(c, with_otp=False), 201, 401),
    "natures": Act(lambda c: _status(c.api.get("/api/natures/")), 200, 403),
    "communes": Act(lambda c: _status(c.api.get("/api/geo/communes/")), 200, 403),
    "list_incidents": Act(lambda c: _listed(c.api.get("/api/incidents/"), c.scene.incident_name),
                          None, None),
    "read_shared_incident": Act(lambda c: _status(c.api.get(_incident_url(c))), 200, 404),
    "read_private": Act(lambda c: _status(c.api.get(_incident_url(c, "private"))), 200, 404),
    "create_incident": Act(lambda c: _status(c.api.post("/api/incidents/", {
        "nature": "vol", "location": HERE, "description": "Vol à l'arraché"})), 201, 403),
    "append_journal": Act(lambda c: _status(c.api.post(_incident_url(c, suffix="journal/"),
                                                       {"text": "Patrouille sur place"})), 201, 404),
    "update_incident": Act(lambda c: _status(c.api.patch(_incident_url(c), {
        "version": c.incident("shared_pn").version, "priority": 1})), 200, 403),
    "transition_incident": Act(lambda c: _status(c.api.post(_incident_url(c, suffix="transitions/"),
                                                            {"status": "engaged"})), 200, 403),
    "share_incident": Act(lambda c: _status(c.api.post(_incident_url(c, suffix="shares/"),
                                                       {"agency": "gn-test"})), 201, 403),
    "unshare_incident": Act(lambda c: _status(c.api.delete(_incident_url(c, suffix="shares/pn-test/"))),
                            200, 403),
    "attach_camera": Act(lambda c: _status(c.api.post(_incident_url(c, suffix="cameras/"),
                                                      {"camera": c.scene.cameras["b"].pk})), 201, 403),
    "suggested_cameras": Act(_suggested, SHOWN, 404),
    "crf_camera_names": Act(_camera_names, SHOWN, 404),
    "camera_layer": Act(lambda c: _status(c.api.get("/api/cameras/")), 200, 403),
    "coverage": Act(lambda c: _status(c.api.get(
        f"/api/cameras/coverage/?lat={factories.CENTRE.y}&lon={factories.CENTRE.x}")), 200, 403),
    "camera_detail": Act(lambda c: _status(c.api.get(_camera_url(c))), 200, 403),
    "camera_patch": Act(lambda c: _status(c.api.patch(_camera_url(c), {"name": "Gare, parvis"})), 200, 403),
    "masks_list": Act(lambda c: _status(c.api.get(_camera_url(c, suffix="masks/"))), 200, 403),
    "mask_create": Act(lambda c: _status(c.api.post(_camera_url(c, suffix="masks/"), {
        "polygon": [[0.5, 0.5], [0.9, 0.5], [0.9, 0.9]], "label": "balcon"})), 201, 403),
    "mask_delete": Act(lambda c: _status(c.api.delete(_camera_url(c, suffix=f"masks/{c.scene.mask_id}/"))),
                       204, 403),
    "relocate_nomadic": Act(lambda c: _status(c.api.post(_camera_url(c, "nomadic", "relocate/"), {
        "location": {"type": "Point", "coordinates": [NEARBY.x, NEARBY.y]}, "heading": 45,
        "reason": "Marché du samedi"})), 200, 403),
    "grants_list": Act(lambda c: _listed(c.api.get("/api/streaming/grants/"), c.scene.grant_name),
                       None, None),
    "grant_create": Act(lambda c: _status(c.api.post("/api/streaming/grants/", {
        "camera": c.scene.cameras["a"].pk, "agency": "pn-test",
        "incident": c.scene.incidents["shared_pn"].pk})), 201, 403),
    "grant_revoke": Act(lambda c: _status(c.api.post(_grant_url(c, "revoke/"), {"reason": "fin"})), 200, 403),
    "grant_extend": Act(lambda c: _status(c.api.post(_grant_url(c, "extend/"), {"minutes": 60})), 200, 403),
    "camera_video_facts": Act(lambda c: _status(c.api.get(
        f"/api/streaming/cameras/?ids={c.scene.cameras['a'].pk}")), 200, 403),
    "walls_list": Act(lambda c: _status(c.api.get("/api/streaming/walls/")), 200, 403),
    "wall_tile_set": Act(lambda c: _status(c.api.post("/api/streaming/walls/principal/tiles/", {
        "position": 1, "camera": c.scene.cameras["a"].code})), 200, 403),
    "ptz_state": Act(lambda c: _status(c.api.get(_ptz_url(c))), 200, 403),
    "ptz_lease": Act(lambda c: _status(c.api.post(_ptz_url(c, "lease/"), {})), 200, 403),
    "ptz_move": Act(lambda c: _ptz_command(c, "move/", {"pan": 0.5, "tilt": 0}), 503, 403),
    "ptz_home": Act(lambda c: _ptz_command(c, "home/", {}), 503, 403),
    "watch_camera_a": Act(lambda c: _video(c, "a"), A, None),
    "watch_camera_b": Act(lambda c: _video(c, "b"), A, None),
    "requisitions_list": Act(lambda c: _status(c.api.get("/api/streaming/requisitions/")), 200, 403),
    "requisition_create": Act(lambda c: _status(c.api.post("/api/streaming/requisitions/", {
        "officer": "OPJ Durand", "service": "BR Gendarmerie", "procedure_number": "2026/2",
        "cameras": [c.scene.cameras["b"].pk],
        "start": (timezone.now() - dt.timedelta(hours=2)).isoformat(),
        "end": (timezone.now() - dt.timedelta(hours=1)).isoformat()})), 201, 403),
    "requisition_detail": Act(lambda c: _status(c.api.get(
        f"/api/streaming/requisitions/{c.scene.requisition_id}/")), 200, 403),
    "hold_release": Act(lambda c: _status(c.api.post(f"/api/streaming/holds/{c.scene.hold_id}/release/",
                                                     {"reason": "Procédure close"})), 200, 403),
    "register": Act(lambda c: _status(c.api.get("/api/streaming/register/")), 200, 403),
    "register_export": Act(lambda c: _status(c.api.get("/api/streaming/register/?export=csv")), 200, 403),
    "snapshots_list": Act(lambda c: _status(c.api.get("/api/streaming/snapshots/")), 200, 403),
    "recorder_nodes": Act(lambda c: _status(c.api.get("/api/streaming/nodes/")), 200, 403),
    "technical_alarms": Act(lambda c: _status(c.api.get("/api/alarms/")), 200, 403),
    "unit_create": Act(lambda c: _status(c.api.post("/api/units/", {"callsign": "MATRICE 2", "agency": "pn-test"})),
                       201, 403),
    "unit_update": Act(lambda c: _status(c.api.patch(_unit_url(c), {"callsign": "MATRICE 3"})), 200, 403),
    "unit_retire": Act(lambda c: _status(c.api.patch(_unit_url(c), {"retired": True})), 200, 403),
    "audit_list": Act(lambda c: _status(c.api.get("/api/audit/")), 200, 403),
    "audit_export": Act(lambda c: _csv(c.api.get("/api/audit/?export=csv")), 200, 403),
    "console_page": Act(lambda c: _status(c.browser.get("/console/")), 200, 403, deny_anonymous=302),
    "portal_page": Act(lambda c: _status(c.browser.get("/portail/incidents/")), 200, 403,
                       deny_anonymous=302),
    "admin_page": Act(lambda c: _status(c.browser.get("/admin/")), 200, 302, deny_anonymous=302),
    "requisitions_page": Act(lambda c: _status(c.browser.get("/requisitions/")), 200, 403, deny_anonymous=302),
    "register_page": Act(lambda c: _status(c.browser.get("/registre/")), 200, 403, deny_anonymous=302),
}


def expected(role: str, action: str) -> Any:
    cell, act = EXPECTED[(role, action)], ACTIONS[action]
    if cell == A:
        return act.allow
    if cell == D:
        return act.deny_anonymous if role == "anonymous" else act.deny
    return cell


# How docs/security.md writes each cell (its table must be this matrix: see the test below).
DOC_SYMBOLS: dict[Any, str] = {
    A: "✓", D: "✗", 401: "✗", 302: "→ console", HIDDEN: "✗ omitted",
    V_MEMBER: "✗ no member", V_GRANT: "✗ no grant", V_LISTED: "✗ not listed", V_HAB: "✗ habilitation",
    V_ROLE: "✗ role", V_CRF: "✗ CRF",
}
DOC_LISTS: dict[frozenset, str] = {ALL: "all", PN: "PN's", SDIS: "SDIS's", CRF: "CRF's", NONE: "none",
                                   G_ALL: "all", G_PN: "PN's", G_SDIS: "SDIS's"}


def doc_row(action: str) -> list[str]:
    return [DOC_LISTS[cell] if isinstance(cell, frozenset) else DOC_SYMBOLS[cell] for cell in MATRIX[action]]


def documented_rows(names) -> dict[str, list[str]]:
    """The rows of the access-matrix table of docs/security.md named in ``names``."""
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "security.md"
    rows = {}
    for line in doc.read_text(encoding="utf-8").splitlines():
        found = re.match(r"\|\s*`(\w+)`\s*\|", line)
        if found and found.group(1) in names:
            rows[found.group(1)] = [cell.strip() for cell in line.strip().strip("|").split("|")][1:1 + len(ROLES)]
    return rows


def test_docs_security_md_shows_this_matrix():
    assert documented_rows(MATRIX) == {action: doc_row(action) for action in MATRIX}


def test_the_matrix_is_complete():
    assert set(MATRIX) == set(ACTIONS)
    for (role, action), cell in EXPECTED.items():
        assert expected(role, action) is not None, f"{role}-{action}: say what the refusal is"
        assert cell != A or ACTIONS[action].allow is not None, f"{role}-{action}"


CELLS = [pytest.param(role, action, id=f"{role}-{action}") for action in MATRIX for role in ROLES]


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "action"), CELLS)
def test_cell(scene, role, action):
    observed = ACTIONS[action].run(Ctx(role=role, scene=scene))
    assert observed == expected(role, action)


# --- Attack cases not covered elsewhere (see docs/security.md for the full list) ---------------
# They run while the module's scene is open: they use it rather than build a second service area.


@pytest.mark.django_db
@pytest.mark.parametrize("superuser", [True, False], ids=["createsuperuser", "plain"])
def test_an_account_without_a_member_profile_cannot_sign_in(scene, superuser):
    """No agency, no role, no second factor: a bare account (``createsuperuser``) would
    otherwise reach the admin on a password alone."""
    User = get_user_model()
    make = User.objects.create_superuser if superuser else User.objects.create_user
    user = make(username="root", password=PASSWORD, email="root@example.org")

    response = APIClient().post("/api/auth/token/", {"username": "root", "password": PASSWORD},
                                format="json")
    assert response.status_code == 401 and response.json()["error"] == "bad_credentials"
    assert not ApiToken.objects.filter(user=user).exists()

    browser = Client()
    page = browser.post("/accounts/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert page.status_code == 401
    assert "_auth_user_id" not in browser.session
    assert browser.get("/admin/").status_code == 302
    failed = AuditRecord.objects.filter(action=AuditAction.LOGIN_FAILED, actor_username="root")
    assert failed.count() == 2
    assert not AuditRecord.objects.filter(action=AuditAction.LOGIN, actor=user).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["admin", "operator", "supervisor"])
def test_the_centre_roles_are_given_only_within_the_centre(scene, role):
    """An 'admin' of a police station would be a superuser of the whole hub."""
    from config.errors import DomainError

    with pytest.raises(DomainError, match="CSU"):
        factories.make_member(role=role, agency=scene.members["pn_agent"].agency, username="intruder")
    assert not get_user_model().objects.filter(username="intruder").exists()


@pytest.mark.django_db
def test_another_agencys_incident_is_answered_like_a_missing_one(scene):
    """Ids are sequential, so guessing one must tell nothing: the same 404 as an id that does
    not exist, on reading it and on writing to its journal."""
    client = Ctx(role="pm_agent", scene=scene).api
    theirs = scene.incidents["shared_pn"].pk
    missing = max(i.pk for i in scene.incidents.values()) + 1000
    hidden, absent = client.get(f"/api/incidents/{theirs}/"), client.get(f"/api/incidents/{missing}/")
    assert (hidden.status_code, hidden.json()) == (absent.status_code, absent.json())
    assert hidden.status_code == 404 and hidden.json()["error"] == "not_found"
    hidden = client.post(f"/api/incidents/{theirs}/journal/", {"text": "?"})
    absent = client.post(f"/api/incidents/{missing}/journal/", {"text": "?"})
    assert (hidden.status_code, hidden.json()) == (absent.status_code, absent.json())
    assert not scene.incidents["shared_pn"].journal.filter(text="?").exists()


@pytest.mark.django_db
def test_session_authenticated_api_writes_need_the_csrf_token(scene):
    """A page of another site cannot make a signed-in browser write through the API."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(scene.users["operator"])
    before = Incident.objects.count()
    body = json.dumps({"nature": "vol", "location": HERE, "description": "Vol"})
    refused = browser.post("/api/incidents/", body, content_type="application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert Incident.objects.count() == before
    browser.get("/console/")  # the page sets the csrftoken cookie its script sends back
    token = browser.cookies["csrftoken"].value
    done = browser.post("/api/incidents/", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert done.status_code == 201
    # The sign-in form is protected too.
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/accounts/login/", {"username": "x", "password": "y"}).status_code == 403


@pytest.mark.django_db
def test_a_password_flood_on_the_login_page_is_locked_too(scene, settings):
    """The page and the API share one counter: the flood is locked whichever door it uses."""
    username = factories.make_member(role="operator", password=PASSWORD).user.username
    for _ in range(settings.HUB_LOGIN_MAX_FAILURES_PER_ACCOUNT - 1):
        page = Client().post("/accounts/login/", {"username": username, "password": "guess"})
        assert page.status_code == 401
    assert APIClient().post("/api/auth/token/", {"username": username, "password": "guess"},
                            format="json").status_code == 401
    browser = Client()
    locked = browser.post("/accounts/login/", {"username": username, "password": PASSWORD})
    assert locked.status_code == 401 and "Trop de tentatives" in locked.content.decode()
    assert "_auth_user_id" not in browser.session
    assert AuditRecord.objects.filter(action=AuditAction.LOGIN_LOCKED, actor_username=username).exists()


@pytest.mark.django_db
def test_the_second_factor_cannot_be_skipped_nor_replaced_by_a_new_enrolment(scene):
    """Without the password, the next steps send back to the login; with the password alone,
    the enrolment page does not let an attacker bind their own authenticator."""
    agent = scene.members["pn_agent"]
    browser = Client()
    assert browser.get("/accounts/login/code/")["Location"] == "/accounts/login/"
    assert browser.get("/accounts/login/enrol/")["Location"] == "/accounts/login/"
    step_one = browser.post("/accounts/login/", {"username": agent.user.username, "password": PASSWORD})
    assert step_one["Location"] == "/accounts/login/code/"
    attacker = pyotp.random_base32()
    assert browser.get("/accounts/login/enrol/")["Location"] == "/accounts/login/"
    assert browser.post("/accounts/login/enrol/", {"otp": pyotp.TOTP(attacker).now()}).status_code == 302
    agent.refresh_from_db()
    assert agent.totp_secret == scene.secrets["pn_agent"]
    assert "_auth_user_id" not in browser.session
    assert browser.get("/portail/incidents/").status_code == 302  # to the login page


@pytest.mark.django_db
def test_security_headers_and_their_two_exceptions(scene):
    """Strict CSP on our pages; inline scripts in the admin only, inline styles in the admin
    and the API docs only (see config/security.py)."""
    browser = Client()
    page = browser.get("/accounts/login/")
    csp = page["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "unsafe-inline" not in csp
    for directive in ("default-src 'self'", "object-src 'none'", "frame-ancestors 'none'",
                      "base-uri 'self'", "form-action 'self'"):
        assert directive in csp
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    assert page["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in page["Permissions-Policy"]
    browser.force_login(scene.users["supervisor"])
    admin = browser.get("/admin/")
    assert admin.status_code == 200
    assert "script-src 'self' 'unsafe-inline'" in admin["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in admin["Content-Security-Policy"]
    docs = browser.get("/api/docs/")["Content-Security-Policy"]
    assert "script-src 'self';" in docs and "style-src 'self' 'unsafe-inline'" in docs
    console = browser.get("/console/")["Content-Security-Policy"]
    assert "unsafe-inline" not in console


@pytest.mark.django_db
def test_a_supervisor_cannot_make_anyone_a_superuser_in_the_admin(scene):
    """Supervisors manage accounts in the admin, but the superuser flag and individual
    permissions are not theirs to give (themselves included)."""
    from django.contrib.auth.models import Permission

    supervisor = scene.users["supervisor"]
    # The form gives the date joined in local time, to the second: joined at a fixed hour, not
    # "now", which in the hour the autumn change repeats is ambiguous and refused as such.
    supervisor.date_joined = timezone.make_aware(dt.datetime(2026, 1, 15, 9, 30))
    supervisor.save(update_fields=["date_joined"])
    browser = scene.browsers["supervisor"]
    url = f"/admin/auth/user/{supervisor.pk}/change/"
    page = browser.get(url)
    assert page.status_code == 200
    assert 'name="is_superuser"' not in page.content.decode()
    assert 'name="user_permissions"' not in page.content.decode()
    joined = timezone.localtime(supervisor.date_joined)
    form = {"username": supervisor.username, "first_name": "", "last_name": "", "email": "",
            "is_active": "on", "is_staff": "on", "is_superuser": "on",
            "user_permissions": [Permission.objects.get(codename="delete_incident").pk],
            "groups": list(supervisor.groups.values_list("pk", flat=True)),
            "date_joined_0": joined.strftime("%d/%m/%Y"), "date_joined_1": joined.strftime("%H:%M:%S"),
            "initial-date_joined_0": joined.strftime("%d/%m/%Y"),
            "initial-date_joined_1": joined.strftime("%H:%M:%S"), "_save": "Enregistrer"}
    saved = browser.post(url, form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    supervisor.refresh_from_db()
    assert not supervisor.is_superuser
    assert not supervisor.user_permissions.exists()
    assert not supervisor.has_perm("incidents.delete_incident")
    # The administrators keep the flag.
    assert 'name="is_superuser"' in scene.browsers["admin"].get(url).content.decode()
