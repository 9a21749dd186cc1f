"""Production settings, checked the way an operator would: ``manage.py`` in a fresh process."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SECRET = ("k7Vq2mZ9xR4tW8yB3nL6pD1sF5hJ0gC-aE_uQXo2Ti9Ur4Ys7Kz1Mw6Nb3V" * 2)[:60]


def production_env(**changes: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in {"HUB_DEMO", "DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"}}
    env.update(HUB_PRODUCTION="1", DJANGO_SECRET_KEY=SECRET, DJANGO_ALLOWED_HOSTS="csu.example.org",
               DJANGO_SETTINGS_MODULE="config.settings")
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    issues = [line for line in (result.stdout + result.stderr).splitlines()
              if re.match(r"^[\w.?]+: \([\w.]+\) ", line)]
    assert issues == [], result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_are_safe():
    code = ("from django.conf import settings as s; "
            "print(s.DEBUG, s.DEMO_MODE, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.ALLOWED_HOSTS, "
            "s.LANGUAGE_CODE, s.TIME_ZONE, s.USE_TZ)")
    result = manage("shell", "-v", "0", "-c", code, env=production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False", "True", "True", "True", "True",
                                     "['csu.example.org']", "fr-fr", "Europe/Paris", "True"]


@pytest.mark.parametrize(("changes", "named"), [
    ({"HUB_DEMO": "1"}, "HUB_DEMO"),
    ({"DJANGO_SECRET_KEY": None}, "DJANGO_SECRET_KEY"),
    ({"HUB_METRICS_TOKEN": "too-short-to-guard-the-metrics"}, "HUB_METRICS_TOKEN"),
    ({"HUB_RECORDINGS_STORAGE": "ftp"}, "HUB_RECORDINGS_STORAGE"),
])
def test_production_refuses_to_start_when_misconfigured(changes, named):
    result = manage("check", env=production_env(**changes))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert named in result.stderr


@pytest.mark.django_db(transaction=True)
def test_health_checks_and_metrics_are_answered_over_plain_http_in_production():
    """HAProxy's checks and Prometheus ask each process on its own port, without TLS: a redirect
    to HTTPS would mark every process down. Pages still go to HTTPS."""
    code = ("from django.test import Client; c = Client(); "
            "print(c.get('/healthz', HTTP_HOST='127.0.0.1').status_code, "
            "c.get('/metrics', HTTP_HOST='127.0.0.1').status_code, "
            "c.get('/accounts/login/', HTTP_HOST='127.0.0.1').status_code)")
    from tests.realtime.processes import database_url

    env = production_env(DJANGO_ALLOWED_HOSTS="csu.example.org,127.0.0.1", DATABASE_URL=database_url())
    result = manage("shell", "-v", "0", "-c", code, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["200", "200", "301"]

