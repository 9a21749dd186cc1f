"""The register page (/registre/) and what the requisitions page gives supervisors: who may open
them, and what the server renders for the scripts (docs/recordings.md)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from tests import factories

PAGE = "/registre/"


def client_of(member) -> Client:
    client = Client()
    client.force_login(member.user)
    return client


@pytest.mark.parametrize("role", ["operator", "supervisor", "admin", "auditor"])
def test_centre_staff_and_auditors_open_the_register(area, role):
    camera = factories.make_camera(code="CAM-REG-1")
    answer = client_of(factories.make_member(role=role)).get(PAGE)
    assert answer.status_code == 200
    html = answer.content.decode()
    assert "Registre des enregistrements" in html
    # What register.js reads: the API's addresses, and the cameras to pick from.
    assert 'data-api="/api/streaming/register/"' in html
    assert 'data-stats-api="/api/streaming/register/stats/"' in html
    assert f'<option value="{camera.code}">' in html
    assert "Exporter en CSV" in html and "Statistiques" in html


def test_the_register_page_is_strict_csp(area):
    answer = client_of(factories.make_member(role="auditor")).get(PAGE)
    assert "script-src 'self';" in answer["Content-Security-Policy"]
    html = answer.content.decode()
    # No inline script: only modules from 'self', and the page's words as a JSON data block
    # (json_script: never run, so outside what the policy governs).
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", html) == []
    assert '<script id="page-labels" type="application/json">' in html
    assert " style=" not in html and "<style" not in html


def test_auditors_are_not_offered_the_pages_they_cannot_open(area):
    auditor = client_of(factories.make_member(role="auditor")).get(PAGE).content.decode()
    operator = client_of(factories.make_member(role="operator")).get(PAGE).content.decode()
    assert 'href="/requisitions/"' in operator and 'href="/requisitions/"' not in auditor
    assert 'href="/console/"' in operator and 'href="/console/"' not in auditor


def test_partner_agents_are_refused_the_register(area):
    answer = client_of(factories.make_member(role="partner_agent")).get(PAGE)
    assert answer.status_code == 403
    # The refusal page itself obeys the strict CSP (no inline style the browser would block).
    html = answer.content.decode()
    assert "Accès refusé" in html and " style=" not in html and "<style" not in html


def test_anonymous_is_sent_to_the_login_page(db):
    answer = Client().get(PAGE)
    assert answer.status_code == 302
    assert answer["Location"] == f"{reverse('login')}?next=/registre/"


@pytest.mark.parametrize(("role", "shown"),
                         [("operator", "false"), ("supervisor", "true"), ("admin", "true")])
def test_the_requisitions_page_tells_its_script_who_may_release_a_hold(area, role, shown):
    html = client_of(factories.make_member(role=role)).get("/requisitions/").content.decode()
    assert f'data-supervisor="{shown}"' in html
    assert 'data-hold-release-template="/api/streaming/holds/0/release/"' in html
    assert 'href="/registre/"' in html
