"""Fixtures shared by the whole suite. Tests run on real PostgreSQL/PostGIS and Redis."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests import factories


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
    from incidents.choices import NATURES
    from incidents.models import Nature

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


@pytest.fixture(autouse=True, scope="session")
def _flush_past_the_journal_guard():
    """The access journal's tables refuse TRUNCATE (a trigger, partners migration 0006), and
    Django empties the database after each transactional test with one TRUNCATE: that one
    runs with triggers off, as a database superuser would do on purpose."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        return original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    yield
    DatabaseOperations.execute_sql_flush = original
