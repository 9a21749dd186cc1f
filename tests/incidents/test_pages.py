"""The pages hand their scripts the French words of the hub's codes: the console, a field
unit's tablet and the Croix-Rouge desk render them (``field-labels``) from the same choices the
API validates, whatever language the browser asks for, so that no script translates a code."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from incidents.choices import AlertCondition, AlertOutcome, AlertStatus, RadioPriority, UnitStatus
from partners.choices import AgencyKind
from tests import factories

pytestmark = pytest.mark.django_db

ENGLISH_BROWSER = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
FAMILIES = {"radio_priority": RadioPriority, "unit_status": UnitStatus, "alert_status": AlertStatus,
            "alert_condition": AlertCondition, "alert_outcome": AlertOutcome}


def field_labels(member, path: str) -> dict[str, dict[str, str]]:
    browser = Client()
    browser.force_login(member.user)
    page = browser.get(path, **ENGLISH_BROWSER)
    assert page.status_code == 200, path
    found = re.search(r'<script id="field-labels" type="application/json">(.*?)</script>',
                      page.content.decode(), re.S)
    assert found, f"{path} gives its scripts no field labels"
    return json.loads(found.group(1))


@pytest.mark.parametrize("page", ["/console/", "/terrain/", "/portail/alertes/"])
def test_the_console_the_tablet_and_the_croix_rouge_desk_get_every_code_s_french_word(area, page):
    crf = factories.make_agency(kind=AgencyKind.CRF, code="crf-test")
    who = {
        "/console/": factories.make_member(role="operator", username="operateur"),
        "/terrain/": factories.make_member(role="field_unit", agency=crf, username="tablette-maraude"),
        "/portail/alertes/": factories.make_member(role="partner_agent", agency=crf, username="agent-crf"),
    }[page]
    if page == "/terrain/":
        factories.make_unit(agency=crf, callsign="MARAUDE 1", member=who)

    labels = field_labels(who, page)

    assert {family: set(words) for family, words in labels.items()} == {
        family: set(choices.values) for family, choices in FAMILIES.items()}
    assert labels["unit_status"]["on_scene"] == "Sur place"
    assert labels["alert_status"]["taken_charge"] == "Prise en charge"
    assert labels["alert_condition"]["cold"] == "Grand froid"
    assert labels["alert_outcome"]["hospital"] == "Orientation vers l'hôpital"
