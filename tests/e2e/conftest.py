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
    env = {key: value for key, value in os.environ.items() if key not in _NOT_FOR_THE_SERVER}
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


# Variables of the test process that say nothing about the hub: pytest's name of the running test,
# and the browser fixture's permission for synchronous ORM calls (the server runs without it, as
# in production, whichever of the two fixtures a test asked for first).
_NOT_FOR_THE_SERVER = ("PYTEST_CURRENT_TEST", "DJANGO_ALLOW_ASYNC_UNSAFE")


class HubPool:
    """This process's hubs, by environment: a module whose hub would be started with the same
    environment as an earlier module's (most modules: the defaults, or the live video settings)
    gets that hub back instead of waiting for a new Daphne. The database is emptied after every
    test as before, and the server keeps nothing else of its own between tests that a module's
    tests do not already share. The last hub returned waits for a next module (``keep``: each
    idle Daphne holds its connection pool, and PostgreSQL's connections are shared by every
    worker and every session on the machine); older ones, and one a test left stopped, are
    stopped, and the idle one when the process leaves the browser tests (``leave_browser_tests``)."""

    def __init__(self, keep: int = 1) -> None:
        self.keep = keep
        self.idle: dict[tuple[tuple[str, str], ...], Hub] = {}

    def take(self, env: dict[str, str], directory: Path) -> Hub:
        server = self.idle.pop(_key(env), None)
        if server is not None and server.process is not None and server.process.poll() is None:
            return server
        if server is not None:
            server.stop()
        server = Hub(env, directory / "daphne.log")
        server.start()
        return server

    def give_back(self, server: Hub) -> None:
        if server.process is None or server.process.poll() is not None:
            return
        self.idle[_key(server.env)] = server
        while len(self.idle) > self.keep:
            oldest = next(iter(self.idle))
            self.idle.pop(oldest).stop()

    def close(self) -> None:
        for server in self.idle.values():
            server.stop()
        self.idle.clear()


def _key(env: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(env.items()))


HUBS = HubPool()


@pytest.fixture(scope="session", autouse=True)
def _servers_and_browser_closed(django_db_setup, django_db_blocker) -> Iterator[None]:
    """At the end of the session, before the test database goes: this process's Chromium and
    hubs are stopped, then the servers' database sessions awaited (PostgreSQL refuses to drop a
    database while a session is connected; a stopped server's end a moment after it)."""
    yield
    leave_browser_tests()
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.05)


@pytest.fixture(scope="module")
def hub(django_db_setup, tmp_path_factory, hub_env, collected_static) -> Iterator[Hub]:
    """The hub served by Daphne on the test database, its static files collected in a temp dir:
    started for the module, or an earlier module's with the same environment (``HubPool``)."""
    server = HUBS.take(server_env(hub_env, collected_static), tmp_path_factory.mktemp("hub"))
    yield server
    HUBS.give_back(server)


class Browsers:
    """This process's Chromium, kept from one browser module to the next while they follow each
    other with the same command line (every test opens its own context, a fresh profile, as
    before), closed before a test of another directory runs (``leave_browser_tests``).

    Playwright's sync API keeps an asyncio loop running in this thread while it lives, which the
    rest of the suite must not inherit (its asynchronous tests run their own loop); that running
    loop makes Django refuse ORM calls from the test body (and give it its own connection
    objects): they are in fact synchronous calls, as usual, and DJANGO_ALLOW_ASYNC_UNSAFE says so
    while the browser lives.
    """

    def __init__(self) -> None:
        self.args: list[str] | None = None
        self.chromium = None
        self._playwright = None
        self._previous_unsafe: str | None = None

    def get(self, executable: str, args: list[str]):
        if self.chromium is not None and self.args == args:
            return self.chromium
        self.close()
        from playwright.sync_api import sync_playwright

        self._previous_unsafe = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
        self._playwright = sync_playwright()
        try:
            playwright = self._playwright.start()
            self.chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        except BaseException:
            self.close()
            raise
        self.args = args
        return self.chromium

    def close(self) -> None:
        if self._playwright is None:
            return
        from django.db import connections

        try:
            # The database connections the test bodies opened while the loop ran are its own.
            connections.close_all()
            if self.chromium is not None:
                self.chromium.close()
        finally:
            self._playwright.__exit__(None, None, None)
            self._playwright = self.chromium = self.args = None
            if self._previous_unsafe is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = self._previous_unsafe


BROWSERS = Browsers()


def leave_browser_tests() -> None:
    """Close this process's Chromium and its Playwright, and stop its idle hubs: tests/conftest.py
    calls it before a test outside this directory, and the end of the session does."""
    BROWSERS.close()
    HUBS.close()


@pytest.fixture(scope="module")
def browser(request):
    """Debian's Chromium, headless (Playwright never downloads a browser here), with the test
    module's ``CHROMIUM_EXTRA_ARGS`` if it has some: the previous browser module's when its
    command line was the same (``Browsers``)."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Chromium is not installed (apt install chromium): browser tests skipped")
    return BROWSERS.get(executable, [*CHROMIUM_ARGS, *getattr(request.module, "CHROMIUM_EXTRA_ARGS", [])])


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
        # The browser reports a violation in a task of its own: the probe waits for that report
        # (a busy machine may take its time), or 10 s without one, the policy not enforced.
        probe = page.evaluate("""async () => {
            const before = window.__cspViolations.length;
            let seen;
            const reported = new Promise((resolve) => {
                const timer = setTimeout(resolve, 10000);
                seen = (e) => {
                    if (e.violatedDirective.startsWith("style-src")) { clearTimeout(timer); resolve(); }
                };
                document.addEventListener("securitypolicyviolation", seen);
            });
            document.body.insertAdjacentHTML("beforeend", '<i id="csp-probe" style="color: red"></i>');
            await reported;
            document.removeEventListener("securitypolicyviolation", seen);
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
