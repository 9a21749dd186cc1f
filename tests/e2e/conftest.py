"""Browser tests: a real Daphne serving the hub on the test database, driven by Debian's Chromium.

The server is a separate process, so whatever a test writes must be committed
(``transactional_db``) before the server can see it, and it shares Redis (URL and
channel prefix) with the test process: an event published here reaches the
browsers connected there.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(autouse=True)
def _fast_passwords():
    """Overrides the suite's MD5 hasher: the server checks passwords with its own settings,
    which do not know MD5, so accounts must be hashed with the default hasher."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict  # after django_db_setup: the test database
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{quote(db['NAME'], safe='')}"


class Hub:
    """A Daphne subprocess serving ``config.asgi`` on a free port; can be stopped and restarted."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        daphne = Path(sys.executable).with_name("daphne")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(daphne), "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"daphne exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        pytest.fail(f"daphne did not answer /healthz within 30 s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="module")
def hub_env() -> dict[str, str]:
    """Settings of the module's hub beyond the defaults below: a module overrides this fixture."""
    return {}


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """The hub's static files, collected once for every module's hub (a module's ``hub_env``
    changes settings of the map and the geocoder, never the files)."""
    root = tmp_path_factory.mktemp("static")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "STATIC_ROOT": str(root),
           "DJANGO_DEBUG": "0"}
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
                   cwd=ROOT, env=env, check=True)
    return root


def server_env(hub_env: dict[str, str], collected_static: Path) -> dict[str, str]:
    """The environment of a server process of the browser tests: the test database, this
    process's Redis keys, the collected static files, no map or geocoder on the Internet, then
    the module's ``hub_env``."""
    env = dict(os.environ)
    env.pop("DJANGO_ALLOWED_HOSTS", None)  # the defaults allow 127.0.0.1 and localhost
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CHANNELS_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        "CACHE_KEY_PREFIX": settings.CACHES["default"]["KEY_PREFIX"],
        "STATIC_ROOT": str(collected_static),
        "DJANGO_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
        # Tests talk to loopback only: no tile server nor geocoder on the Internet (the
        # modules that test them serve their own, see test_basemap.py, test_geocoding.py).
        "HUB_MAP_TILE_URL": "",
        "HUB_MAP_PMTILES": "",
        "HUB_GEOCODER_URL": "",
    })
    env.update(hub_env)
    return env


@pytest.fixture(scope="module")
def hub(django_db_setup, tmp_path_factory, hub_env, collected_static) -> Iterator[Hub]:
    """The hub served by Daphne on the test database, its static files collected in a temp dir."""
    tmp = tmp_path_factory.mktemp("hub")
    server = Hub(server_env(hub_env, collected_static), tmp / "daphne.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser(request):
    """Debian's Chromium, headless (Playwright never downloads a browser here), with the test
    module's ``CHROMIUM_EXTRA_ARGS`` if it has some.

    Module-scoped: Playwright's sync API keeps an asyncio loop running in this
    thread while it lives, which the rest of the suite must not inherit.
    """
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Chromium is not installed (apt install chromium): browser tests skipped")
    from playwright.sync_api import sync_playwright

    # That running loop makes Django refuse ORM calls from the test body (and give it
    # its own connection objects); they are in fact synchronous calls, as usual.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=executable, headless=True,
                args=[*CHROMIUM_ARGS, *getattr(request.module, "CHROMIUM_EXTRA_ARGS", [])])
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def live(page, path: str, timeout: float = 10_000):
    """Open ``path`` and wait for its event stream to be open."""
    page.goto(path)
    page.locator("#connection[data-state='open']").wait_for(timeout=timeout)
    return page


@pytest.fixture
def new_context(browser, hub):
    """``new_context()`` → a fresh browser profile (its own cookies and sessionStorage), in French."""
    contexts = []

    def _new():
        context = browser.new_context(base_url=hub.url, locale="fr-FR", timezone_id="Europe/Paris",
                                      viewport={"width": 1280, "height": 800})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context

    yield _new
    for context in contexts:
        context.close()


def ensure_nomenclature() -> None:
    """The incident natures, as migration incidents/0002 seeds them."""
    from incidents.choices import NATURES
    from incidents.models import Nature

    for code, label in NATURES:
        Nature.objects.get_or_create(code=code, defaults={"label": label})


@pytest.fixture(autouse=True)
def nomenclature(transactional_db) -> None:
    # An earlier transactional test of the suite may have emptied the table.
    ensure_nomenclature()


@pytest.fixture(scope="module", autouse=True)
def _reseed_after_module(django_db_setup, django_db_blocker):
    """A transactional test ends by emptying every table, migrated data included;
    put the nomenclature back for the transactional tests that run after these."""
    yield
    with django_db_blocker.unblock():
        ensure_nomenclature()


class CspWatch:
    """``csp_watch(context)``: record, on every page of this browser context, what the
    Content-Security-Policy the hub sends (config/security.py) made the browser refuse;
    ``csp_watch.violations(page)`` lists it."""

    def __call__(self, context) -> None:
        context.add_init_script(
            "window.__cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', (e) =>"
            " window.__cspViolations.push("
            "`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));")

    @staticmethod
    def violations(page) -> list[str]:
        """What the browser refused on this page, after checking that it does refuse
        (an inline style attribute, as a probe, must be reported and is then forgotten)."""
        probe = page.evaluate("""async () => {
            const before = window.__cspViolations.length;
            document.body.insertAdjacentHTML("beforeend", '<i id="csp-probe" style="color: red"></i>');
            await new Promise((resolve) => setTimeout(resolve, 100));
            document.getElementById("csp-probe").remove();
            return window.__cspViolations.splice(before);
        }""")
        assert any(line.startswith("style-src") for line in probe), f"no policy enforced: {probe}"
        return page.evaluate("window.__cspViolations")


@pytest.fixture
def csp_watch() -> CspWatch:
    return CspWatch()


@pytest.fixture
def signed_in(new_context, hub):
    """``signed_in(user)`` → a browser context holding a session of ``user``.

    The session is opened in this process (``Client.force_login`` on the test
    database, which the server shares) and its cookie handed to the browser: the
    login page and its second factor, which partner agents need, are not what these
    tests are about (tests/partners covers them).
    """
    from django.test import Client

    def _signed_in(user):
        client = Client()
        client.force_login(user)
        name = settings.SESSION_COOKIE_NAME
        context = new_context()
        context.add_cookies([{"name": name, "value": client.cookies[name].value, "url": hub.url}])
        return context

    return _signed_in
