"""Browser: an auditor reads the recordings register (/registre/), filters it by camera, exports
it as CSV and reads the statistics; a supervisor releases a legal hold from /requisitions/
(docs/recordings.md)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone

from partners.audit import Action, audit
from recordings.models import (
    DestroyedObject,
    DestructionRecord,
    LegalHold,
    RecordingSegment,
    RequisitionStatus,
)
from recordings.requisitions import hold_release, requisition_create, requisition_progress_report
from tests import factories

LOADED = "() => /au registre/.test(document.getElementById('reg-status').textContent)"


def recorded(camera, start, count=3):
    return RecordingSegment.objects.bulk_create([
        RecordingSegment(camera=camera, start=start + dt.timedelta(minutes=i),
                         end=start + dt.timedelta(minutes=i + 1), size=1000, path=f"{camera.code}/{i}.mp4")
        for i in range(count)])


def requisition(camera, operator, start, *, procedure, service):
    return requisition_create(created_by=operator.user, requesting_officer="OPJ Martin", service=service,
                              procedure_number=procedure, legal_basis="Art. 60-1 CPP", cameras=[camera],
                              window_start=start, window_end=start + dt.timedelta(minutes=2))


@pytest.fixture
def scene(hub):
    """Two cameras, each with recordings, a destruction line and a requisition (holds in force);
    the first camera's requisition was extracted (for the statistics)."""
    factories.make_commune()
    operator = factories.make_member(role="operator")
    now = timezone.now()
    recent = (now - dt.timedelta(hours=3)).replace(second=0, microsecond=0)
    old = now - dt.timedelta(days=20)
    cameras = {}
    for code, procedure, service in (("CAM-REG-A", "2026/REG-1", "SR Cergy"),
                                     ("CAM-REG-B", "2026/REG-2", "CSP Sarcelles")):
        camera = factories.make_camera(code=code)
        recorded(camera, recent)
        DestructionRecord.objects.create(camera=camera, period_start=old,
                                         period_end=old + dt.timedelta(hours=1),
                                         destroyed_at=now - dt.timedelta(hours=1), segment_count=60,
                                         total_size=2_500_000)
        cameras[code] = (camera, requisition(camera, operator, recent, procedure=procedure, service=service))
    extracted = cameras["CAM-REG-A"][1]
    extracted.status = RequisitionStatus.DONE
    extracted.export_destroyed_at = now - dt.timedelta(minutes=30)  # the sweep removed its files
    extracted.save(update_fields=["status", "export_destroyed_at"])
    audit(action=Action.EXTRACTION, actor=operator.user, obj=extracted, reason="test")
    # Its MP4, destroyed later under the retention rule: a line naming the requisition.
    DestructionRecord.objects.create(camera=cameras["CAM-REG-A"][0], object=DestroyedObject.EXTRACTION,
                                     requisition=extracted, period_start=recent,
                                     period_end=recent + dt.timedelta(minutes=2),
                                     destroyed_at=now - dt.timedelta(minutes=30), segment_count=1,
                                     total_size=800_000)
    return {"operator": operator, "now": now, "cameras": cameras}


def rows(page, section: str, camera: str):
    return page.locator(f"#{section} tbody tr[data-camera='{camera}']")


def test_an_auditor_filters_the_register_exports_it_and_reads_the_statistics(scene, signed_in, csp_watch):
    context = signed_in(factories.make_member(role="auditor").user)
    csp_watch(context)
    page = context.new_page()
    page.goto("/registre/")
    page.wait_for_function(LOADED)

    destructions = rows(page, "reg-destructions", "CAM-REG-A")
    assert destructions.count() == 2
    cells = destructions.filter(has_text="enregistrements").locator("td").all_inner_texts()
    assert cells[1:3] == ["CAM-REG-A", "enregistrements"] and cells[4:] == ["60", "2,5 Mo", "—"]
    cells = destructions.filter(has_text="2026/REG-1").locator("td").all_inner_texts()
    assert cells[1:3] == ["CAM-REG-A", "fichier d'extraction"] and cells[4:] == ["1", "800 ko", "2026/REG-1"]
    hold = rows(page, "reg-holds", "CAM-REG-A")
    assert hold.count() == 1
    assert "2026/REG-1" in hold.inner_text() and "SR Cergy" in hold.inner_text()
    assert hold.locator("td").last.inner_text() == "En vigueur"
    assert rows(page, "reg-holds", "CAM-REG-B").count() == 1  # before filtering, both cameras
    extraction = rows(page, "reg-extractions", "CAM-REG-A")
    assert extraction.locator("td").last.inner_text().startswith("Détruits le ")
    assert rows(page, "reg-destructions", "CAM-REG-B").count() == 1
    assert page.locator("#reg-holds h2").inner_text() == "Gels judiciaires (2 lignes)"

    page.get_by_label("Caméra (code)").fill("CAM-REG-A")
    page.get_by_role("button", name="Afficher").click()
    page.wait_for_function("() => !document.querySelector(\"#register tr[data-camera='CAM-REG-B']\")")
    assert rows(page, "reg-holds", "CAM-REG-A").count() == 1
    assert rows(page, "reg-destructions", "CAM-REG-A").count() == 2
    assert rows(page, "reg-recordings", "CAM-REG-A").count() == 1
    assert page.locator("#reg-holds h2").inner_text() == "Gels judiciaires (1 ligne)"
    assert "camera=CAM-REG-A" in page.url  # the filtered register can be bookmarked

    link = page.get_by_role("link", name="Exporter en CSV")
    query = parse_qs(urlparse(link.get_attribute("href")).query)
    assert query == {"camera": ["CAM-REG-A"], "export": ["csv"]}
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename == "registre-enregistrements.csv"
    exported = open(download.value.path(), encoding="utf-8-sig").read()
    lines = list(csv.DictReader(io.StringIO(exported)))
    assert {line["kind"] for line in lines} == {"recording", "hold", "extraction", "destruction"}
    assert {line["camera"] for line in lines} == {"CAM-REG-A"} and "CAM-REG-B" not in exported

    by_service = page.locator("#stats-per-service tbody tr")
    assert by_service.count() == 1
    assert by_service.locator("td").all_inner_texts() == ["SR Cergy", "1"]
    assert page.locator("#stats-total").inner_text() == "Total : 1 extraction"
    assert "SR Cergy : 1" in page.locator("#stats-per-month tbody").inner_text()

    # A period that ends before it starts: the API's refusal, in its own French words.
    today = timezone.localdate(scene["now"])
    page.get_by_label("Du", exact=True).fill(today.isoformat())
    page.get_by_label("Au (inclus)").fill((today - dt.timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Afficher").click()
    alert = page.get_by_role("alert")
    alert.wait_for()
    assert alert.inner_text() == "La fin de la période doit venir après son début."
    assert not link.is_visible()  # no export of a register the hub refused
    assert not page.locator("#reg-holds").is_visible()  # nor the lines of the previous filters

    page.get_by_label("Au (inclus)").fill(today.isoformat())  # inclusive: today's lines are shown
    page.get_by_role("button", name="Afficher").click()
    alert.wait_for(state="hidden")
    page.wait_for_function(LOADED)
    assert rows(page, "reg-holds", "CAM-REG-A").count() == 1
    assert csp_watch.violations(page) == []


def test_a_supervisor_releases_a_hold_with_a_reason(scene, signed_in, csp_watch):
    supervisor = factories.make_member(role="supervisor")
    camera_a, requisition_a = scene["cameras"]["CAM-REG-A"]
    camera_b, requisition_b = scene["cameras"]["CAM-REG-B"]
    hold_a = LegalHold.objects.get(requisition=requisition_a, segment__isnull=True)
    hold_b = LegalHold.objects.get(requisition=requisition_b, segment__isnull=True)

    operator_page = signed_in(scene["operator"].user).new_page()
    operator_page.goto("/requisitions/")
    operator_page.get_by_text("Gel CAM-REG-A en vigueur").wait_for()
    assert operator_page.get_by_role("button", name="Lever le gel").count() == 0  # supervisors only

    context = signed_in(supervisor.user)
    csp_watch(context)
    page = context.new_page()
    page.goto("/requisitions/")
    page.wait_for_function("() => document.getElementById('connection').dataset.state === 'open'")
    item = page.locator("li.requisition", has_text="2026/REG-1")
    item.get_by_text("Gel CAM-REG-A en vigueur").wait_for()
    item.get_by_role("button", name="Lever le gel").click()
    reason = item.get_by_label("Motif de la levée du gel CAM-REG-A")
    focused = "(input) => input === document.activeElement"
    assert reason.evaluate(focused)
    item.get_by_role("button", name="Confirmer la levée").click()  # no reason: the browser refuses
    assert reason.evaluate("(input) => input.validity.valueMissing")
    hold_a.refresh_from_db()
    assert hold_a.released_at is None

    reason.fill("   ")  # passes the browser's check, not the hub's
    item.get_by_role("button", name="Confirmer la levée").click()
    item.get_by_role("alert").filter(has_text="Donnez le motif de la levée.").wait_for()
    hold_a.refresh_from_db()
    assert hold_a.released_at is None

    # A live event re-renders the requisition while the reason is being typed: nothing is lost.
    reason.fill("")
    reason.focus()
    page.keyboard.type("Classement")
    requisition_progress_report(requisition_id=requisition_a.pk, progress=100)
    page.wait_for_function("() => [...document.querySelectorAll('li.requisition progress')]"
                           ".some((bar) => bar.value === 100)")
    assert reason.evaluate(focused) and reason.input_value() == "Classement"
    page.keyboard.type(" sans suite")
    assert reason.input_value() == "Classement sans suite"
    item.get_by_role("button", name="Confirmer la levée").click()
    released = item.locator("p.holds span.hold")
    released.filter(has_text="levé").wait_for()
    assert released.inner_text().startswith("Gel CAM-REG-A levé le ")
    assert released.inner_text().endswith(f" par {supervisor.user.username} (Classement sans suite)")
    assert item.get_by_role("button", name="Lever le gel").count() == 0
    assert item.locator("form.hold-release").count() == 0
    hold_a.refresh_from_db()
    assert hold_a.released_at is not None and hold_a.released_by == supervisor.user
    assert hold_a.release_reason == "Classement sans suite"
    assert LegalHold.objects.get(pk=hold_b.pk).released_at is None  # only the one chosen

    # Someone else released the other hold meanwhile: the page says so and shows it released.
    other = page.locator("li.requisition", has_text="2026/REG-2")
    other.get_by_role("button", name="Lever le gel").click()
    hold_release(hold=hold_b, by=supervisor.user, reason="Levé depuis un autre poste")
    other.get_by_label("Motif de la levée du gel CAM-REG-B").fill("Fin de procédure")
    other.get_by_role("button", name="Confirmer la levée").click()
    notice = "Ce gel avait déjà été levé : la réquisition est rechargée."
    page.locator("#req-notice", has_text=notice).wait_for()
    other.locator("p.holds span.hold", has_text="Levé depuis un autre poste").wait_for()
    hold_b.refresh_from_db()
    assert hold_b.release_reason == "Levé depuis un autre poste"
    assert csp_watch.violations(page) == []


def test_an_auditor_reads_the_destruction_of_objects_no_index_row_named(hub, signed_in, csp_watch):
    factories.make_commune()
    camera = factories.make_camera(code="CAM-REG-S")
    now = timezone.now()
    day = dt.datetime.combine(now.date() - dt.timedelta(days=16), dt.time(), tzinfo=dt.UTC)
    for kind, size in ((DestroyedObject.UNINDEXED_RECORDING, 1_200_000),
                       (DestroyedObject.UNINDEXED_SNAPSHOT, 80_000)):
        DestructionRecord.objects.create(camera=camera, object=kind, period_start=day,
                                         period_end=day + dt.timedelta(days=1),
                                         destroyed_at=now - dt.timedelta(hours=1), segment_count=1,
                                         total_size=size)
    context = signed_in(factories.make_member(role="auditor").user)
    csp_watch(context)
    page = context.new_page()
    page.goto("/registre/")
    page.wait_for_function(LOADED)
    destructions = rows(page, "reg-destructions", "CAM-REG-S")
    assert destructions.count() == 2
    objects = sorted(destructions.nth(i).locator("td").nth(2).inner_text() for i in range(2))
    assert objects == ["captures d'image non indexées", "enregistrements non indexés"]
    assert csp_watch.violations(page) == []
