"""The register of recordings, holds, extractions and destructions; its filters, CSV export and
statistics; who may read it."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from partners.audit import Action, audit
from recordings.models import RecordingSegment, RequisitionStatus
from recordings.requisitions import requisition_create
from recordings.retention import retention_sweep
from tests import factories

URL = "/api/streaming/register/"


def segments(camera, start, count, *, size=1000, gap_at=None):
    rows = []
    for i in range(count):
        s = start + dt.timedelta(minutes=i)
        rows.append(RecordingSegment(camera=camera, start=s, end=s + dt.timedelta(minutes=1),
                                     size=0 if i == gap_at else size, is_gap=i == gap_at,
                                     path="" if i == gap_at else f"{camera.code}/{i}.mp4"))
    return RecordingSegment.objects.bulk_create(rows)


def at_ten(now, *, days_ago: int) -> dt.datetime:
    """10:00 Paris time, ``days_ago`` local days before ``now`` (a DST change in between or not)."""
    day = timezone.localdate(now) - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(10)))


def extraction(requisition, operator):
    requisition.status = RequisitionStatus.DONE
    requisition.save(update_fields=["status"])
    audit(action=Action.EXTRACTION, actor=operator.user, obj=requisition, reason="test")


@pytest.fixture
def filled(area, operator, settings, tmp_path):
    settings.HUB_RECORDINGS_DIR = tmp_path
    now = timezone.now()
    a, b = factories.make_camera(code="CAM-A"), factories.make_camera(code="CAM-B")
    old = at_ten(now, days_ago=20)
    segments(a, old, 5)
    # Yesterday at ten, not "three hours ago": a few minutes of recording on one local day,
    # whatever the hour the suite runs at (at 02:59 three hours ago is the day before).
    recent = at_ten(now, days_ago=1)
    segments(a, recent, 4, gap_at=1)
    segments(b, recent, 2, size=500)
    destroyed = retention_sweep(now=now)
    assert destroyed.destroyed == 5
    first = requisition_create(created_by=operator.user, requesting_officer="OPJ Martin", service="SR Cergy",
                               procedure_number="2026/1", legal_basis="", cameras=[a],
                               window_start=recent, window_end=recent + dt.timedelta(minutes=3))
    second = requisition_create(created_by=operator.user, requesting_officer="OPJ Durand",
                                service="CSP Sarcelles", procedure_number="2026/2", legal_basis="",
                                cameras=[a, b],
                                window_start=recent, window_end=recent + dt.timedelta(minutes=2))
    third = requisition_create(created_by=operator.user, requesting_officer="OPJ Petit", service="SR Cergy",
                               procedure_number="2026/3", legal_basis="", cameras=[b],
                               window_start=recent, window_end=recent + dt.timedelta(minutes=1))
    extraction(first, operator)
    extraction(second, operator)
    return {"a": a, "b": b, "now": now, "recent": recent, "requisitions": [first, second, third]}


def test_the_register_lists_recordings_holds_extractions_and_destructions(api, operator, filled):
    data = api.as_member(operator).get(URL).json()
    by_camera = {r["camera"]: r for r in data["recordings"]}
    assert set(by_camera) == {"CAM-A", "CAM-B"}  # the destroyed day is gone from the index
    assert by_camera["CAM-A"]["segments"] == 3 and by_camera["CAM-A"]["gaps"] == 1
    assert by_camera["CAM-A"]["size"] == 3000 and by_camera["CAM-B"]["size"] == 1000
    assert sum(r["segments"] for r in data["recordings"]) == 5
    assert [d["camera"] for d in data["destructions"]] == ["CAM-A"]
    assert data["destructions"][0]["segments"] == 5 and data["destructions"][0]["size"] == 5000
    assert sorted((h["camera"], h["procedure_number"]) for h in data["holds"]) == [
        ("CAM-A", "2026/1"), ("CAM-A", "2026/2"), ("CAM-B", "2026/2"), ("CAM-B", "2026/3")]
    assert all(h["status"] == "in_force" for h in data["holds"])
    hold = next(h for h in data["holds"] if h["procedure_number"] == "2026/1")
    assert hold["segments"] == 3  # the camera's segments overlapping its window (gap included)
    assert sorted(e["procedure_number"] for e in data["extractions"]) == ["2026/1", "2026/2"]
    assert {e["service"] for e in data["extractions"]} == {"SR Cergy", "CSP Sarcelles"}


def test_filters_camera_kind_since_until(api, operator, filled):
    api.as_member(operator)
    data = api.get(URL, {"camera": "CAM-B"}).json()
    assert [r["camera"] for r in data["recordings"]] == ["CAM-B"]
    assert data["destructions"] == []
    assert {h["procedure_number"] for h in data["holds"]} == {"2026/2", "2026/3"}
    assert [e["procedure_number"] for e in data["extractions"]] == ["2026/2"]
    assert api.get(URL, {"camera": str(filled["b"].pk)}).json()["recordings"] == data["recordings"]
    only = api.get(URL, {"kind": "destruction,hold"}).json()
    assert set(only) == {"holds", "destructions"}
    tomorrow = (timezone.localdate(filled["now"]) + dt.timedelta(days=1)).isoformat()
    later = api.get(URL, {"since": tomorrow}).json()
    assert all(v == [] for v in later.values())
    earlier = api.get(URL, {"until": (filled["recent"] - dt.timedelta(minutes=1)).isoformat()}).json()
    assert earlier["recordings"] == [] and earlier["holds"] == [] and earlier["extractions"] == []
    for bad, field in (({"kind": "nope"}, "kind"), ({"since": "hier"}, "since"),
                       ({"since": tomorrow, "until": tomorrow}, "until")):
        answer = api.get(URL, bad)
        assert answer.status_code == 400 and field in answer.json()["detail"], answer.content


def test_csv_export(api, operator, filled):
    answer = api.as_member(operator).get(URL, {"export": "csv", "camera": "CAM-A"})
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"]
    raw = b"".join(answer.streaming_content)
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    kinds = sorted(r["kind"] for r in rows)
    assert kinds == ["destruction", "extraction", "extraction", "hold", "hold", "recording"]
    assert all(r["camera"].startswith("CAM-A") or "CAM-A" in r["camera"] for r in rows)


def test_statistics_per_month_and_service(api, operator, filled):
    data = api.as_member(operator).get(f"{URL}stats/").json()
    month = timezone.localtime(filled["now"]).strftime("%Y-%m")  # the extractions were done then
    assert data["total"] == 2
    assert data["per_month"] == [{"month": month, "extractions": 2,
                                  "per_service": {"CSP Sarcelles": 1, "SR Cergy": 1}}]
    assert data["per_service"] == [{"service": "CSP Sarcelles", "extractions": 1},
                                   {"service": "SR Cergy", "extractions": 1}]
    later = api.get(f"{URL}stats/", {"since": (timezone.now() + dt.timedelta(days=1)).isoformat()}).json()
    assert later == {"total": 0, "per_month": [], "per_service": []}


def test_auditors_read_it_partners_do_not(api, filled):
    api.as_member(factories.make_member(role="auditor"))
    assert api.get(URL).status_code == 200
    assert api.get(f"{URL}stats/").status_code == 200
    api.as_member(factories.make_member(role="partner_agent"))
    assert api.get(URL).status_code == 403
    assert api.get(URL, {"export": "csv"}).status_code == 403
    assert api.get(f"{URL}stats/").status_code == 403


def test_anonymous_gets_nothing(anon_api, filled):
    assert anon_api.get(URL).status_code in {401, 403}
