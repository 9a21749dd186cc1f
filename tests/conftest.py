"""Fixtures shared by the whole suite. Tests run on real PostgreSQL/PostGIS and Redis.

The suite runs in parallel (pytest-xdist, ``scripts/test.sh``): each worker has its own
test database (pytest-django names it ``test_<name>_gw<n>``), its own Redis key and
channel prefixes, and its own directory for what the hub writes to disk, so that workers
never see each other's data; servers the tests start listen on ports the system picks.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sys
import tempfile
import time
import zoneinfo
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from tests import factories

# Where the hub writes files, by setting name: per worker, so that two workers (and the
# servers they start, which inherit the environment) never share a recording or a key.
_WORKER_PATHS = {
    "HUB_RECORDINGS_DIR": "recordings",
    "HUB_EXPORTS_DIR": "exports",
    "HUB_SIGNING_KEY_PATH": "keys/hub-ed25519.pem",
    "HUB_AUDIT_ANCHOR_FILE": "audit/anchors.jsonl",
    "HUB_AUDIT_ANCHOR_KEY_PATH": "keys/audit-anchor-ed25519.pem",
    "MEDIA_ROOT": "media",
}


def pytest_addoption(parser):
    parser.addoption(
        "--clock", metavar="MOMENT", default="",
        help="run every test module and test from this moment (ISO 8601; without an offset, Paris "
             "time), the clock ticking from there: scripts/test-clock.sh")


def pytest_report_header(config):
    raw = config.getoption("clock")
    return [f"clock: every module and test starts at {_moment(raw).isoformat()}"] if raw else []


def _moment(raw: str) -> dt.datetime:
    """``--clock``'s moment, aware: a time without offset is read in Europe/Paris (the first of
    two, on the night of the autumn change: give the offset to say the second)."""
    moment = dt.datetime.fromisoformat(raw)
    return moment if moment.tzinfo else moment.replace(tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))


def _travel(config):
    raw = config.getoption("clock")
    if not raw:
        return contextlib.nullcontext()
    import time_machine

    return time_machine.travel(_moment(raw), tick=True)


@pytest.fixture(autouse=True, scope="module")
def _clock_of_the_module(request):
    """With ``--clock``, a module's fixtures are made at the moment too (see ``_clock``)."""
    with _travel(request.config):
        yield


@pytest.fixture(autouse=True)
def _clock(request):
    """With ``--clock``, the test runs from the moment: time-machine moves the wall clock of this
    process (``time.time``, ``datetime.now``, so ``timezone.now``), not the monotonic clock, nor
    PostgreSQL's ``now()``, nor the servers a test starts. Each test starts at the moment itself,
    so that what it sees does not depend on how long the tests before it took."""
    with _travel(request.config):
        yield


def pytest_configure(config):
    """Give this process (an xdist worker, or the only process) its own Redis prefixes and
    file directory. Settings are already loaded here but the cache and the channel layer are
    not yet built, so changing the settings still takes effect; the environment carries the
    same values to the Daphne and Celery processes that tests start."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker and getattr(config.option, "dist", "no") != "no":
        return  # the xdist controller runs no test
    from django.conf import settings

    if worker:
        cache_prefix = f"{settings.CACHES['default']['KEY_PREFIX']}-{worker}"
        settings.CACHES["default"]["KEY_PREFIX"] = cache_prefix
        channels_prefix = f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}-{worker}"
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = channels_prefix
        os.environ.update(CACHE_KEY_PREFIX=cache_prefix, CHANNELS_PREFIX=channels_prefix)
    files = Path(tempfile.mkdtemp(prefix=f"csu-tests-{worker or 'main'}-"))
    config._csu_files = files
    for name, relative in _WORKER_PATHS.items():
        setattr(settings, name, files / relative)
        os.environ[name] = str(files / relative)


# The modules that take longest, longest first (measured: the `--durations=120` of a whole run,
# setup + call + teardown per module, 2026-12-07, docs/performance.md "Test suite"). With
# `--dist loadfile` a worker takes the next module when it is done: long modules collected last
# would leave one worker alone at the end of the run. scripts/test.sh passes
# `--no-loadscope-reorder`: xdist would otherwise reorder the modules by their number of tests.
_LONGEST_FIRST = (
    "tests/e2e/test_navigation.py",
    "tests/e2e/test_ptz_console.py",
    "tests/e2e/test_contrast.py",
    "tests/e2e/test_alerting.py",
    "tests/e2e/test_video.py",
    "tests/e2e/test_video_nodes.py",
    "tests/e2e/test_geocoding.py",
    "tests/e2e/test_grants_console.py",
    "tests/e2e/test_console_live.py",
    "tests/e2e/test_units.py",
    "tests/e2e/test_wall.py",
    "tests/e2e/test_partner_view.py",
    "tests/realtime/test_scale_out.py",
    "tests/streaming/test_nodes.py",
    "tests/test_settings.py",
    "tests/realtime/test_verify_action.py",
    "tests/realtime/test_relay_process.py",
    "tests/streaming/test_streamed_answers.py",
    "tests/incidents/test_units.py",
    "tests/partners/test_access_matrix.py",
    "tests/test_errors.py",
    "tests/realtime/test_redis_restart.py",
)


_BROWSER_TESTS = "tests/e2e/"


def pytest_collection_modifyitems(config, items):
    """The browser modules first, then the others; in each part the longest modules first. A
    worker then keeps its Chromium from one browser module to the next (tests/e2e/conftest.py)
    and closes it once, when its first other module comes."""
    rank = {path: i for i, path in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: (not item.nodeid.startswith(_BROWSER_TESTS),
                                 rank.get(item.nodeid.split("::")[0], len(rank))))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before a test outside the browser tests, this process's Chromium closes and its idle hubs
    stop (tests/e2e keeps them from one browser module to the next; Playwright keeps an asyncio
    loop running while it lives)."""
    browsers = sys.modules.get("tests.e2e.conftest")
    if browsers is not None and not item.nodeid.startswith(_BROWSER_TESTS):
        browsers.leave_browser_tests()


def pytest_sessionfinish(session):
    browsers = sys.modules.get("tests.e2e.conftest")
    if browsers is not None:
        browsers.leave_browser_tests()


def pytest_unconfigure(config):
    files = getattr(config, "_csu_files", None)
    if files is not None:
        shutil.rmtree(files, ignore_errors=True)


@pytest.fixture(autouse=True)
def _forget_login_counters():
    """Failed-login counters and used one-time codes live in Redis, not in the test
    database: drop this run's after each test so that tests stay independent."""
    yield
    from django.conf import settings
    from django.core.cache import cache

    client = cache._cache.get_client(write=True)
    prefix = settings.CACHES["default"]["KEY_PREFIX"]
    for pattern in ("login-fail:*", "totp-used:*"):
        keys = list(client.scan_iter(f"{prefix}:*:{pattern}"))
        if keys:
            client.delete(*keys)


@pytest.fixture(autouse=True)
def _nomenclature(request):
    """The incident natures are seeded by a migration, and a transactional test empties
    every table when it ends: put them back for any test that uses the database."""
    marker = request.node.get_closest_marker("django_db")
    if marker is not None:
        request.getfixturevalue("transactional_db" if marker.kwargs.get("transaction") else "db")
    elif "transactional_db" in request.fixturenames:
        request.getfixturevalue("transactional_db")
    elif "db" in request.fixturenames:
        request.getfixturevalue("db")
    else:
        return
    ensure_natures()


def ensure_natures() -> None:
    """The incident natures, as migration incidents/0002 seeds them (one query when present)."""
    from incidents.choices import NATURES
    from incidents.models import Nature

    if Nature.objects.filter(code__in=[code for code, _ in NATURES]).count() == len(NATURES):
        return
    for code, label in NATURES:
        Nature.objects.get_or_create(code=code, defaults={"label": label})


@pytest.fixture(autouse=True)
def _own_audit_anchors(settings, tmp_path):
    """Each test has its own (empty) anchor file and anchoring key: the development hub's
    anchors in var/audit/ sign another database's journal."""
    settings.HUB_AUDIT_ANCHOR_FILE = tmp_path / "audit-anchors" / "anchors.jsonl"
    settings.HUB_AUDIT_ANCHOR_KEY_PATH = tmp_path / "audit-anchors" / "key.pem"
    settings.HUB_AUDIT_ANCHOR_APPEND_ONLY_FLAG = False
    settings.HUB_AUDIT_SYSLOG = ""


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Hashing cost is not what these tests are about.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def area(db):
    """A small service area: one square commune around Montmorency's centre (2 km a side)."""
    return factories.make_commune()


@pytest.fixture
def demo_communes(db):
    """The 18 approximate demo communes of Plaine Vallée."""
    from geo.services import demo_communes_ensure

    demo_communes_ensure()
    from geo.models import Commune

    return list(Commune.objects.order_by("insee_code"))


@pytest.fixture
def operator(db):
    return factories.make_member(role="operator")


@pytest.fixture
def supervisor(db):
    return factories.make_member(role="supervisor")


@pytest.fixture
def partner_agent(db):
    """An agent of a national police station: a partner, not the centre's staff."""
    return factories.make_member(role="partner_agent")


@pytest.fixture
def api():
    """An API client; ``api.as_member(member)`` authenticates it with a bearer token."""
    return factories.TokenClient()


@pytest.fixture
def anon_api():
    return APIClient()


# Tables that hold what migrations and their post_migrate handlers put in an empty database:
# content types, permissions, the supervisors' group, the incident natures. A transactional
# test rarely changes them, so emptying the database after it leaves them in place.
_REFERENCE_TABLES = ("django_content_type", "auth_permission", "auth_group", "auth_group_permissions",
                     "incidents_nature")


class _Flusher:
    """Empties the test database after a transactional test, as Django's flush does, but
    cheaply: only the tables the test wrote to, with DELETE rather than TRUNCATE (which
    rewrites every table's files), the reference tables kept.

    Django's flush empties all 50-odd tables and then re-creates content types, permissions
    and groups (post_migrate) at every transactional test. Here the reference tables are
    fingerprinted after a full flush; while they still match, a test is undone by deleting
    the rows of the tables that have any; if a test changed them, the full flush runs.
    Triggers and foreign keys are off while deleting (session_replication_role = replica):
    the access journal's tables refuse deletes, and the order of deletes then does not matter.
    """

    def __init__(self) -> None:
        self.tables: list[str] | None = None
        self.reference: str | None = None

    def _fingerprint(self, cursor) -> str:
        parts = ", ".join(
            f"(SELECT md5(coalesce(string_agg(r::text, '|' ORDER BY r::text), '')) FROM {table} r)"
            for table in _REFERENCE_TABLES)
        cursor.execute(f"SELECT concat_ws(',', {parts})")
        return cursor.fetchone()[0]

    def full(self, connection) -> None:
        """Django's own flush, then the natures back, and the new reference state noted."""
        _django_flush(connection.alias)
        ensure_natures()
        with connection.cursor() as cursor:
            self.reference = self._fingerprint(cursor)

    def cheap(self, connection) -> bool:
        """Undo the test by deleting rows; False when the reference tables changed."""
        from django.db import OperationalError, transaction
        from psycopg.errors import DeadlockDetected

        if self.reference is None:
            return False
        if self.tables is None:
            tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
            self.tables = sorted(set(tables) - set(_REFERENCE_TABLES))
        quote = connection.ops.quote_name
        # A server the test started (a live Daphne relaying its last events) may still be
        # writing as the test ends: a deadlock then rolls the clean-up back whole, and it is
        # run again a moment later.
        for attempt in range(5):
            try:
                with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                    if self._fingerprint(cursor) != self.reference:
                        return False
                    written = ", ".join(
                        f"CASE WHEN EXISTS (SELECT 1 FROM {quote(t)}) THEN %s END" for t in self.tables)
                    cursor.execute(f"SELECT array_remove(ARRAY[{written}]::text[], NULL)", self.tables)
                    tables = cursor.fetchone()[0]
                    if tables:
                        cursor.execute("SET LOCAL session_replication_role = replica")
                        cursor.execute("; ".join(f"DELETE FROM {quote(t)}" for t in tables))
                return True
            except OperationalError as exc:
                if attempt == 4 or not isinstance(exc.__cause__, DeadlockDetected):
                    raise
                time.sleep(0.2 * (attempt + 1))
        return True


@pytest.fixture(autouse=True, scope="session")
def _flush_past_the_journal_guard():
    """The access journal's tables refuse TRUNCATE (a trigger, partners migration 0006), and
    Django empties the database after each transactional test with one TRUNCATE: that one
    runs with triggers off, as a database superuser would do on purpose. Most of the time
    the database is emptied more cheaply still (``_Flusher``)."""
    from django.db import connections
    from django.db.backends.postgresql.operations import DatabaseOperations
    from django.test import TransactionTestCase

    original = DatabaseOperations.execute_sql_flush
    original_teardown = TransactionTestCase._fixture_teardown
    flushers: dict[str, _Flusher] = {}

    def execute_sql_flush(self, sql_list):
        return original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    def _fixture_teardown(self):
        # Serialized rollback and available_apps have their own rules: Django's flush for them.
        if self.serialized_rollback or self.available_apps is not None:
            return original_teardown(self)
        for alias in self._databases_names(include_mirrors=False):
            connection = connections[alias]
            flusher = flushers.setdefault(alias, _Flusher())
            if not flusher.cheap(connection):
                flusher.full(connection)
        return None

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    TransactionTestCase._fixture_teardown = _fixture_teardown
    yield
    DatabaseOperations.execute_sql_flush = original
    TransactionTestCase._fixture_teardown = original_teardown


def _django_flush(alias: str) -> None:
    from django.core.management import call_command

    call_command("flush", verbosity=0, interactive=False, database=alias, reset_sequences=False,
                 allow_cascade=False, inhibit_post_migrate=False)
