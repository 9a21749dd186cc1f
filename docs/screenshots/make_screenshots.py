#!/usr/bin/env python
"""Screenshots of the hub's pages for the README, taken with Debian's Chromium through Playwright.

    source var/env.sh && python docs/screenshots/make_screenshots.py
        starts a hub of its own on a free port (the demo data loaded if missing, the offline
        basemap of var/basemap/ drawn if missing), takes the pictures, stops it;
    python docs/screenshots/make_screenshots.py --url http://127.0.0.1:8000/
        uses a hub already running (``make run``, in demo mode).

It signs in with the demo accounts (the operator, a Police nationale agent, a patrol's tablet,
the Croix-Rouge desk; the one-time code from the published demo secret), puts a small scene on
the hub through the REST API when no incident is in progress (an incident shared with the
police with a long description and a note, a flash message to a patrol, a Croix-Rouge alert, a
camera on the wall and granted to the police), then writes docs/screenshots/*.png at 1920×1080
(the tablet at 1280×800).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

DEMO_PASSWORD = "csu-demo-2026"  # noqa: S105 (published demo accounts, demo mode only)
DEMO_TOTP_SECRET = "CSUIDEMOPLAINEVALLEEXXVIAAAAAAAA"
OPERATOR = "operateur"
POLICE = "agent-pn-montmorency"
TABLET = "tablette-ps-montmorency-1"
CROIX_ROUGE = "agent-crf-plaine-vallee"
SCENE_CAMERA = "95014-s009-pano"  # recorded and streamed (synthetic) in the demo

DESKTOP = {"width": 1920, "height": 1080}
TABLET_SIZE = {"width": 1280, "height": 800}

# (file, account, path, viewport, what to wait for)
SHOTS = [
    ("console.png", OPERATOR, "/console/", DESKTOP, "#connection[data-state='open']"),
    ("wall.png", OPERATOR, "/mur/", DESKTOP, "#connection[data-state='open']"),
    ("requisitions.png", OPERATOR, "/requisitions/", DESKTOP, "#connection[data-state='open']"),
    ("register.png", OPERATOR, "/registre/", DESKTOP, "#register"),
    ("portal.png", POLICE, "/portail/incidents/", DESKTOP, "#connection[data-state='open']"),
    ("feeds.png", POLICE, "/portail/flux/", DESKTOP, "#connection[data-state='open']"),
    ("tablet.png", TABLET, "/terrain/", TABLET_SIZE, "#connection[data-state='open']"),
    ("crf.png", CROIX_ROUGE, "/portail/alertes/", DESKTOP, "#connection[data-state='open']"),
]

LONG_DESCRIPTION = (
    "Rixe entre une dizaine de personnes devant l'entrée de la gare, deux blessés légers au sol. "
    "Un individu en blouson rouge et casquette noire s'éloigne à pied vers la rue de la Gare en "
    "direction du centre commercial ; un second, blouson kaki, a pris un scooter noir sans plaque "
    "vers Soisy. Témoin sur place (agent de la SNCF) qui a filmé la scène avec son téléphone.")
NOTE = ("Caméra panoramique orientée vers le parvis : les deux groupes sont visibles de 22 h 41 à "
        "22 h 44. Le scooter apparaît en bas à droite à 22 h 43 min 10 s puis quitte le champ vers "
        "l'est. Images à conserver pour une éventuelle réquisition.")
FLASH = ("Rixe gare de Montmorency, deux blessés légers. Individu blouson rouge casquette noire en "
         "fuite à pied rue de la Gare vers le centre commercial. Prenez position à l'angle de "
         "l'avenue Foch et rendez compte de votre arrivée.")
ALERT = ("Homme d'une soixantaine d'années allongé sous l'abri-bus, peu couvert, semble désorienté ; "
         "signalé par un passant. Température extérieure 2 °C.")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class OwnHub:
    """A Daphne serving the hub on the database of var/env.sh, demo data loaded."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix="hub-screenshots-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        basemap = ROOT / "var" / "basemap" / "territory.pmtiles"
        env = dict(os.environ, HUB_DEMO="1", DJANGO_DEBUG="0", STATIC_ROOT=str(self.tmp / "static"),
                   HUB_MAP_PMTILES=os.environ.get("HUB_MAP_PMTILES", str(basemap)),
                   # Pictures must not depend on the Internet: the offline basemap, no geocoder.
                   HUB_MAP_TILE_URL="", HUB_GEOCODER_URL="", PYTHONUNBUFFERED="1")
        env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        manage = [sys.executable, "manage.py"]
        for command in (["migrate", "--noinput", "-v0"], ["load_demo"],
                        ["make_basemap", env["HUB_MAP_PMTILES"], "--if-missing"],
                        ["collectstatic", "--noinput", "-v0"]):
            subprocess.run(manage + command, cwd=ROOT, env=env, check=True)
        daphne = Path(sys.executable).with_name("daphne")
        self.log = (self.tmp / "daphne.log").open("wb")
        self.process = subprocess.Popen(
            [str(daphne), "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"daphne exited: see {self.tmp / 'daphne.log'}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise SystemExit("the hub did not answer /healthz within 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Api:
    """The operator's REST calls (bearer token), for the scene."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.token = self.call("POST", "/api/auth/token/",
                               {"username": OPERATOR, "password": DEMO_PASSWORD}, auth=False)["token"]

    def call(self, method: str, path: str, body: dict | None = None, *, auth: bool = True):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or "null")

    def attempt(self, what: str, method: str, path: str, body: dict | None = None):
        """A step of the scene: said and skipped when the hub refuses it."""
        try:
            return self.call(method, path, body)
        except urllib.error.HTTPError as error:
            print(f"  scene: {what} refused ({error.code}): {error.read()[:300]!r}")
            return None


def set_scene(url: str) -> None:
    api = Api(url)
    if api.call("GET", "/api/incidents/?status=open,engaged&limit=1"):
        print("  scene: incidents already in progress, nothing added")
        return
    wall = api.attempt("camera on the wall", "POST", "/api/streaming/walls/principal/tiles/",
                       {"position": 1, "camera": SCENE_CAMERA})
    camera_id = next((tile["camera_id"] for tile in (wall or {}).get("tiles", [])
                      if tile.get("camera_code") == SCENE_CAMERA), None)
    where = {"type": "Point", "coordinates": [2.3222, 48.9883]}
    if camera_id is not None:
        camera = api.attempt("camera", "GET", f"/api/cameras/{camera_id}/")
        if camera and camera.get("location"):
            where = camera["location"]
    incident = api.call("POST", "/api/incidents/", {
        "nature": "rixe", "priority": 1, "location": where,
        "address": "Parvis de la gare", "description": LONG_DESCRIPTION})
    api.attempt("share", "POST", f"/api/incidents/{incident['id']}/shares/", {"agency": "pn-montmorency"})
    api.attempt("note", "POST", f"/api/incidents/{incident['id']}/journal/", {"text": NOTE})
    api.call("POST", "/api/incidents/", {
        "nature": "vol", "priority": 3, "location": {"type": "Point", "coordinates": [2.3095, 48.9905]},
        "description": "Vol à l'étalage signalé par le gérant, auteur parti à pied."})
    units = api.call("GET", "/api/units/")
    patrol = next((unit for unit in units if unit["callsign"] == "PS MONTMORENCY 1"), None)
    if patrol is not None:
        api.attempt("flash message", "POST", "/api/radio/messages/", {
            "to_unit": patrol["id"], "priority": "flash", "text": FLASH, "ack_required": True})
    api.attempt("Croix-Rouge alert", "POST", "/api/alerts/", {
        "location": {"type": "Point", "coordinates": [2.3180, 48.9870]},
        "address": "Abri-bus avenue de Domont", "description": ALERT, "people": 1,
        "conditions": ["cold", "night"]})
    if camera_id is not None:
        api.attempt("grant", "POST", "/api/streaming/grants/", {
            "camera": camera_id, "agency": "pn-montmorency", "incident": incident["id"],
            "minutes": 60, "reason": "Suivi de la rixe, individu en fuite"})


def sign_in(context, username: str) -> None:
    import pyotp

    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_load_state()
    for _ in range(3):
        if "/accounts/login/code/" not in page.url:
            break
        # A code is accepted once: after a recent run, wait for the next one.
        page.get_by_label("Code").fill(pyotp.TOTP(DEMO_TOTP_SECRET).now())
        page.get_by_role("button", name="Valider").click()
        page.wait_for_load_state()
        if "/accounts/login/code/" in page.url:
            time.sleep(31 - time.time() % 30)
    if "/accounts/login/" in page.url:
        raise SystemExit(f"{username} could not sign in (is the hub in demo mode?)")
    page.close()


def shoot(url: str, only: set[str]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium is not installed (apt install chromium)")
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True,
            # The browser's own widgets (date fields) in French, as in the centre: Chromium on
            # Linux takes its language from LANGUAGE (and needs chromium-l10n), --lang alone is not enough.
            args=["--no-sandbox", "--disable-gpu", "--mute-audio", "--lang=fr-FR"],
            env={**os.environ, "LANGUAGE": "fr", "LANG": "fr_FR.UTF-8"})
        contexts = {}
        for name, account, path, viewport, ready in SHOTS:
            if only and name.removesuffix(".png") not in only:
                continue
            if account not in contexts:
                contexts[account] = browser.new_context(base_url=url, locale="fr-FR",
                                                        timezone_id="Europe/Paris", viewport=viewport)
                sign_in(contexts[account], account)
            context = contexts[account]
            page = context.new_page()
            page.set_viewport_size(viewport)
            page.goto(path)
            page.locator(ready).first.wait_for(timeout=20_000)
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(2500)  # map tiles, live video's first frames
            if name == "console.png":
                # The incident panel open on the most urgent incident, as an operator works.
                rows = page.locator("#incident-list tr.priority-1")
                if rows.count() == 0:
                    rows = page.locator("#incident-list tr")
                if rows.count():
                    rows.first.click()
                    page.wait_for_timeout(1500)
            target = OUT / name
            page.screenshot(path=str(target))
            written.append(target)
            print(f"  {target.relative_to(ROOT)} ({viewport['width']}×{viewport['height']})")
            page.close()
        browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a hub already running in demo mode (make run); "
                                      "by default the script starts its own")
    parser.add_argument("--no-scene", action="store_true", help="add nothing to the hub")
    parser.add_argument("only", nargs="*", help="only these pictures (console, portal, tablet…)")
    options = parser.parse_args()
    hub = None
    url = options.url
    if url is None:
        hub = OwnHub()
        hub.start()
        url = hub.url
    try:
        if not options.no_scene:
            set_scene(url)
        shoot(url.rstrip("/"), set(options.only))
    finally:
        if hub is not None:
            hub.stop()


if __name__ == "__main__":
    main()
