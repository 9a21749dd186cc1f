"""The API against its own OpenAPI schema (schemathesis): every operation, seeded and bounded.

The schema is the one ``/api/schema/`` serves (drf-spectacular's generator, every endpoint);
each of its operations becomes one test here. Schemathesis generates requests from it, valid
ones and deliberately invalid ones (wrong types, missing fields, out-of-range values, odd
characters in filters), sends them to the hub in this process (its WSGI application: the
same views, middleware and error handler as under Daphne, no network), and checks every
answer:

- ``not_a_server_error``: never a 5xx;
- ``response_schema_conformance``: an answer whose status the schema declares has the body
  the schema says;
- ``status_code_conformance``: the status is one the schema declares for the operation.

Each request is made by the member of the centre who may make it, so that the hub's input
checks are reached and not only its refusals: the access journal by an auditor, the writes
reserved to supervisors (cameras, masks, relocations, legal holds, units) by a supervisor,
everything else by an operator (bearer tokens). ``POST /api/auth/token/revoke/`` is called
with a throwaway token issued for that one request, so that it revokes that one and the run
keeps its own tokens; ``POST /api/auth/token/`` is called without one, as programs do.

Ids in paths point at the fixture's objects (an incident, a camera and its mask, a unit, an
alert), so that generated bodies and filters reach their checks instead of a 404; a
malformed id is sent as generated when the path is what the case is about.

The run is reproducible: the seed is fixed (``SEED``) and Hypothesis keeps no example
database, so the same requests are sent each time. Its size is bounded: the coverage
phase's negative cases (derived from the schema: for each parameter and body field, a
few values of the wrong type, missing, out of range, past a length), and at most
``MAX_EXAMPLES`` generated requests per operation in the fuzzing phase, valid and invalid.
At the end the totals are printed (operations, requests by phase, answers by status,
failures by kind); docs/security.md ("The API against its schema") gives them with the
command.
"""

from __future__ import annotations

import collections
import json

import pytest
import schemathesis
from django.core import signals
from django.core.serializers.json import DjangoJSONEncoder
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from cameras.services import mask_create
from incidents.services.alerts import alert_raise
from incidents.services.incidents import incident_create, incident_share
from partners.choices import AgencyKind
from partners.services import api_token_issue
from tests import factories

SEED = 20261207
MAX_EXAMPLES = 10
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]

# Operations only a supervisor (or an administrator) may make: run as a supervisor.
SUPERVISOR_OPERATIONS = {
    ("PATCH", "/api/cameras/{id}/"),
    ("POST", "/api/cameras/{id}/masks/"),
    ("DELETE", "/api/cameras/{id}/masks/{mask_id}/"),
    ("POST", "/api/cameras/{id}/relocate/"),
    ("POST", "/api/streaming/holds/{id}/release/"),
    ("POST", "/api/units/"),
    ("PATCH", "/api/units/{id}/"),
}
# Operations of the access journal: run as an auditor.
AUDITOR_OPERATIONS = {("GET", "/api/audit/")}
REVOKE = ("POST", "/api/auth/token/revoke/")


def _openapi() -> dict:
    """The schema ``/api/schema/`` serves, as plain JSON data."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(raw, cls=DjangoJSONEncoder))


CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
    # Methods an address does not take (405) are tested once in tests/test_bad_requests.py,
    # not on each of the schema's paths.
    "phases": {"coverage": {"unexpected-methods": [], "generation": {"mode": "negative"}}},
})
# WHEP's offers are SDP text: sent as they are.
schemathesis.serializer.alias("application/sdp", "text/plain")
schema = schemathesis.openapi.from_dict(_openapi(), config=CONFIG)
schema.app = get_wsgi_application()

# Totals of the run, printed at the end of the module (see _report).
TOTALS: dict[str, collections.Counter] = {
    "operations": collections.Counter(), "phases": collections.Counter(), "statuses": collections.Counter(),
    "failures": collections.Counter()}
FAILED: set[tuple[str, str]] = set()


@pytest.fixture(scope="module", autouse=True)
def _report(request):
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    operations = TOTALS["operations"]
    lines = [
        f"schemathesis (seed {SEED}, at most {MAX_EXAMPLES} generated requests per operation): "
        f"{len(operations)} operations, {sum(operations.values())} requests",
        "requests by phase: " + ", ".join(f"{phase}: {count}" for phase, count
                                          in sorted(TOTALS["phases"].items())),
        "answers by status: " + ", ".join(f"{status}: {count}" for status, count
                                          in sorted(TOTALS["statuses"].items())),
        "failures (operation and kind): " + (", ".join(f"{check}: {count}" for check, count
                                           in sorted(TOTALS["failures"].items())) or "none"),
    ]
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            for line in lines:
                reporter.write_line(line)


@pytest.fixture
def hub(db, settings):
    """What the generated requests need: a service area with a camera under a prefectoral
    authorisation (with a privacy mask), an incident shared with the Police nationale, a unit
    of that agency, a Croix-Rouge alert, and a member of the centre per role with a bearer
    token. No address search leaves the machine."""
    settings.HUB_GEOCODER_URL = ""
    # Django closes the database connection at the end of every request; here the requests
    # run inside the test's transaction, which must outlive them (as in Django's test client).
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    commune = factories.make_commune()
    camera = factories.make_camera(commune=commune)
    factories.make_authorisation(cameras=[camera])
    mask = mask_create(camera=camera, polygon=[[0.1, 0.1], [0.4, 0.1], [0.4, 0.4]], label="Fenêtre")
    tokens, members = {}, {}
    for role in ("operator", "supervisor", "auditor"):
        members[role] = factories.make_member(role=role)
        tokens[role], _ = api_token_issue(user=members[role].user)
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-test")
    factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    author = members["operator"]
    incident = incident_create(member=author, nature="rixe", location=factories.CENTRE,
                               description="Rixe devant la gare")
    incident_share(incident=incident, agency_code=pn.code, member=author)
    unit = factories.make_unit(agency=pn, callsign="PS 21")
    alert = alert_raise(member=author, location=factories.CENTRE, description="Personne au sol")
    # The object a generated id stands for, by the first segments of the path.
    ids = {"/api/incidents/": {"id": incident.pk, "agency": pn.code},
           "/api/cameras/": {"id": camera.pk, "mask_id": mask.pk},
           "/api/ptz/cameras/": {"id": camera.pk},
           "/api/streaming/cameras/": {"id": camera.pk},
           "/api/streaming/masks/": {"mask_id": mask.pk},
           "/api/units/": {"id": unit.pk},
           "/api/alerts/": {"id": alert.pk}}
    yield {"tokens": tokens, "ids": ids}
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _key(case) -> tuple[str, str]:
    return case.method.upper(), case.path


def _point_at_the_fixtures(case, ids: dict[str, dict]) -> None:
    """Ids in the path become those of the fixtures' objects, so that the request reaches the
    checks of its body and filters instead of a 404; except when the path is what the case
    is about: a malformed path value (the coverage phase's negative cases for that parameter,
    a non-integer id from the fuzzing phase) is sent as generated."""
    target = getattr(case.meta.phase.data, "parameter_location", None) if case.meta else None
    for prefix, values in ids.items():
        if case.path.startswith(prefix):
            for name, value in values.items():
                current = (case.path_parameters or {}).get(name)
                if current is None:
                    continue
                if target is not None and target != "path":  # the case is about the body or a filter
                    case.path_parameters[name] = value
                elif isinstance(value, int) and (
                        (isinstance(current, int) and not isinstance(current, bool))
                        or (isinstance(current, str) and current.isascii() and current.isdigit())):
                    case.path_parameters[name] = value
                elif isinstance(value, str) and isinstance(current, str) and current.isascii() \
                        and current.replace("-", "").isalnum():
                    case.path_parameters[name] = value
            return


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_the_schema(case, hub):
    key = _key(case)
    _point_at_the_fixtures(case, hub["ids"])
    tokens = hub["tokens"]
    if key == REVOKE:
        token, _ = api_token_issue(user=factories.make_member(role="operator").user)
    elif key in SUPERVISOR_OPERATIONS:
        token = tokens["supervisor"]
    elif key in AUDITOR_OPERATIONS:
        token = tokens["auditor"]
    else:
        token = tokens["operator"]
    headers = {} if key == ("POST", "/api/auth/token/") else {"Authorization": f"Bearer {token}"}
    response = case.call(headers=headers)
    TOTALS["operations"][case.operation.label] += 1
    TOTALS["phases"][str(case.meta.phase.name.value if case.meta else "explicit")] += 1
    TOTALS["statuses"][response.status_code] += 1
    try:
        case.validate_response(response, checks=CHECKS)
    except BaseException as exc:
        # Counted once per operation and kind (Hypothesis replays a failure while shrinking it).
        for failure in getattr(exc, "exceptions", None) or [exc]:
            kind = getattr(failure, "title", type(failure).__name__)
            if (case.operation.label, kind) not in FAILED:
                FAILED.add((case.operation.label, kind))
                TOTALS["failures"][kind] += 1
        raise


# The filters each list reads (issue 13: those of the incidents and of the journal were missing
# from the schema, so no generated request ever tried them).
FILTERS = {
    "/api/incidents/": {"status", "nature", "commune", "bbox", "since", "until", "q", "limit"},
    "/api/audit/": {"actor", "agency", "action", "object_type", "object_id", "since", "until", "q",
                    "export", "limit"},
    "/api/alerts/": {"status"},
    "/api/alerts/stats/": {"year"},
    "/api/radio/messages/": {"after", "pending"},
    "/api/radio/nets/{id}/messages/": {"after"},
    "/api/units/": {"retired"},
    "/api/streaming/register/": {"camera", "kind", "since", "until", "export"},
    "/api/streaming/register/stats/": {"since", "until"},
    "/api/streaming/grants/": {"active", "incident"},
    "/api/streaming/snapshots/": {"camera", "incident"},
    "/api/cameras/": {"bbox"},
}


@pytest.mark.parametrize("path", sorted(FILTERS))
def test_the_schema_declares_the_filters_each_list_reads(path):
    declared = {p["name"] for p in schema.raw_schema["paths"][path]["get"].get("parameters", [])
                if p["in"] == "query"}
    assert declared == FILTERS[path]


def test_every_error_status_has_the_error_body():
    for path, operations in schema.raw_schema["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if int(status) >= 400:
                    assert response["content"] == {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Error"}}}, (method, path, status)
