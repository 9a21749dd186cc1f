"""A partner agent signs in with a one-time code, sees only its agency's incidents, and
after logout the old session cookie gets nothing."""

from __future__ import annotations

import pyotp
import pytest

from incidents.services.incidents import incident_create, incident_share
from partners.choices import AgencyKind
from tests import factories

pytestmark = pytest.mark.usefixtures("transactional_db")

PASSWORD = "correct horse battery"  # noqa: S105 (a test account)


def test_partner_signs_in_with_totp_sees_only_its_agency_and_logout_kills_the_cookie(hub, new_context):
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    factories.make_agency(kind=AgencyKind.GN, code="gn-domont")
    operator = factories.make_member(role="operator", username="alice", password=PASSWORD)
    secret = pyotp.random_base32()
    factories.make_member(role="partner_agent", agency=pn, username="agent-pn", password=PASSWORD,
                          totp_secret=secret)
    ours = incident_create(member=operator, nature="rixe", location=factories.CENTRE,
                           description="Rixe devant la gare")
    theirs = incident_create(member=operator, nature="vol", location=factories.CENTRE,
                             description="Vol à l'étalage")
    incident_share(incident=ours, agency_code="pn-montmorency", member=operator)
    incident_share(incident=theirs, agency_code="gn-domont", member=operator)

    context = new_context()
    page = context.new_page()
    page.goto("/portail/incidents/")
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Identifiant").fill("agent-pn")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/accounts/login/code/")
    # Skipping the second step gets nothing: the portal sends back to the login.
    page.goto("/portail/incidents/")
    page.wait_for_url("**/accounts/login/**")
    page.goto("/accounts/login/code/")
    page.get_by_label("Code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url("**/portail/incidents/")
    page.locator("#connection[data-state='open']").wait_for()
    page.locator(f"#incident-list tr[data-reference='{ours.reference}']").wait_for()
    assert page.locator("#incident-list tr").count() == 1
    assert page.locator(f"#incident-list tr[data-reference='{theirs.reference}']").count() == 0

    cookie = next(c for c in context.cookies() if c["name"] == "sessionid")
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url("**/accounts/login/**")

    thief = new_context()
    thief.add_cookies([{"name": "sessionid", "value": cookie["value"], "url": hub.url}])
    stolen = thief.new_page()
    stolen.goto("/portail/incidents/")
    stolen.wait_for_url("**/accounts/login/**")
    response = stolen.request.get(f"{hub.url}/api/incidents/")
    assert response.status in (401, 403)
