"""Browser: an operator records a judicial requisition, watches its extraction progress live,
downloads the video and the signed manifest, and their hashes match (docs/recordings.md)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import time
import zoneinfo

import pytest
from django.utils import timezone

from partners.models import AuditRecord
from recordings.models import Requisition, RequisitionStatus
from recordings.requisitions import hold_release
from recordings.retention import retention_sweep
from tests import factories
from tests.recordings.test_export import record

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module", autouse=True)
def _storage_for_the_server(tmp_path_factory):
    """The server (started by ``hub``, after this) records, exports and signs in a temp dir,
    and runs the extraction in the request (no worker in these tests)."""
    tmp = tmp_path_factory.mktemp("recordings")
    values = {"HUB_RECORDINGS_DIR": str(tmp / "recordings"), "HUB_EXPORTS_DIR": str(tmp / "exports"),
              "HUB_SIGNING_KEY_PATH": str(tmp / "keys" / "hub.pem"), "CELERY_TASK_ALWAYS_EAGER": "1"}
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    yield tmp
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def local(moment: dt.datetime) -> str:
    return moment.astimezone(PARIS).strftime("%Y-%m-%dT%H:%M:%S")


def test_an_operator_records_a_requisition_and_downloads_the_verified_extraction(
        _storage_for_the_server, hub, signed_in, settings, csp_watch):
    tmp = _storage_for_the_server
    settings.HUB_RECORDINGS_DIR = tmp / "recordings"
    settings.HUB_RECORDING_MIN_FREE_BYTES = 0
    factories.make_commune()
    operator = factories.make_member(role="operator")
    camera = factories.make_camera()
    segments = record(camera, segments=4, seconds=0.5)
    start = segments[0].start.replace(microsecond=0) - dt.timedelta(seconds=1)
    end = segments[-1].end.replace(microsecond=0) + dt.timedelta(seconds=1)
    time.sleep(max(0.0, (end - timezone.now()).total_seconds() + 0.2))  # the window is in the past

    context = signed_in(operator.user)
    csp_watch(context)
    # Every value the progress bar takes, as the page shows it.
    context.add_init_script("""
        window.__progress = [];
        new MutationObserver(() => {
          for (const bar of document.querySelectorAll("progress.requisition-progress")) {
            const last = window.__progress[window.__progress.length - 1];
            if (last !== bar.value) window.__progress.push(bar.value);
          }
        }).observe(document, { subtree: true, childList: true, attributes: true });""")
    page = context.new_page()
    page.goto("/requisitions/")
    page.wait_for_function("() => document.getElementById('connection').dataset.state === 'open'")
    page.get_by_label("Officier requérant").fill("OPJ Martin")
    page.get_by_label("Service").fill("SR Cergy")
    page.get_by_label("Numéro de procédure").fill("2026/4242")
    page.get_by_label("Fondement juridique").fill("Art. 60-1 CPP")
    page.get_by_label("Caméras (codes, séparés par des virgules)").fill(camera.code)
    page.get_by_label("Début de la période").fill(local(start))
    page.get_by_label("Fin de la période").fill(local(end))
    page.get_by_role("button", name="Enregistrer la réquisition (gel immédiat)").click()

    item = page.locator("li.requisition").first
    item.get_by_text("En attente d'extraction").wait_for()
    requisition = Requisition.objects.get(procedure_number="2026/4242")
    assert requisition.holds.filter(segment__isnull=False).count() == 4  # held before extracting
    assert item.locator("p.holds").inner_text() == f"Gel {camera.code} en vigueur"

    item.get_by_role("button", name="Lancer l'extraction").click()
    done = "() => document.querySelector('li.requisition[data-status=\"done\"] a.file-manifest')"
    page.wait_for_function(done, timeout=30_000)
    assert item.locator("progress").evaluate("(bar) => bar.value") == 100
    assert item.get_by_text("Extraction terminée").is_visible()
    seen = page.evaluate("() => window.__progress")
    assert seen[-1] == 100 and any(0 < value < 100 for value in seen), seen  # it moved, live
    requisition.refresh_from_db()
    assert requisition.status == RequisitionStatus.DONE

    with page.expect_download() as video_download:
        item.locator("a.file-video").click()
    with page.expect_download() as manifest_download:
        item.locator("a.file-manifest").click()
    video = video_download.value
    manifest_bytes = open(manifest_download.value.path(), "rb").read()
    assert manifest_download.value.suggested_filename == "manifest.json"
    manifest = json.loads(manifest_bytes)
    entry = manifest["cameras"][0]
    assert entry["code"] == camera.code and video.suggested_filename == entry["file"]["name"]
    video_bytes = open(video.path(), "rb").read()
    assert hashlib.sha256(video_bytes).hexdigest() == entry["file"]["sha256"]
    assert len(video_bytes) == entry["file"]["size"]
    links = item.locator("ul.requisition-files a").all()
    hash_of = "(a) => a.parentElement.querySelector('code').textContent"
    shown = {a.get_attribute("data-name"): a.evaluate(hash_of) for a in links}
    assert shown[entry["file"]["name"]] == entry["file"]["sha256"]
    assert shown["manifest.json"] == hashlib.sha256(manifest_bytes).hexdigest()
    assert manifest["requisition"]["procedure_number"] == "2026/4242"
    assert math.isclose(dt.datetime.fromisoformat(manifest["window"]["start"]).timestamp(), start.timestamp())

    item.get_by_role("button", name="Remise effectuée").click()
    page.locator("p.handover-done").wait_for()
    # The hand-over's time as the journal holds it, read in Paris time.
    handed = AuditRecord.objects.get(action="handover").at.astimezone(PARIS)
    assert page.locator("p.handover-done").inner_text().startswith(
        f"Remise effectuée le {handed:%d/%m/%Y %H:%M:%S} par {operator.user.username}")

    # Months later, the procedure closed (holds released): the sweep destroys the hub's copy,
    # and the page says so instead of offering dead links.
    supervisor = factories.make_member(role="supervisor")
    hold_release(hold=requisition.holds.get(segment__isnull=True), by=supervisor.user,
                 reason="Procédure close")
    assert retention_sweep(now=end + dt.timedelta(days=15)).extraction_files == 1
    page.reload()
    gone = page.locator("li.requisition li.file-destroyed")
    gone.wait_for()
    assert gone.inner_text().startswith(f"Vidéo {camera.code} ({camera.code}.mp4) détruite le ")
    assert page.locator("li.requisition a.file-video").count() == 0
    assert page.get_by_role("button", name="Remise effectuée").count() == 0  # nothing left to hand over
    assert csp_watch.violations(page) == []
