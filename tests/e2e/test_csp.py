"""The pages work under the Content-Security-Policy: no violation, the scripts run."""

import pytest

from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "correct horse battery"

WATCH = """() => { window.__violations = [];
  document.addEventListener('securitypolicyviolation',
    e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI)); }"""


def visit(page, path):
    page.add_init_script(f"({WATCH})()")
    response = page.goto(path)
    page.wait_for_load_state("networkidle")
    return response


def test_every_page_runs_without_a_policy_violation(hub, new_context):
    factories.make_commune()
    factories.make_member(role="supervisor", username="sup", password=PASSWORD,
                          totp_secret="JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    factories.make_member(role="operator", username="op", password=PASSWORD)
    page = new_context().new_page()
    response = visit(page, "/accounts/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.evaluate("window.__violations") == []
    page.get_by_label("Identifiant").fill("op")
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/console/")
    page.wait_for_function("() => document.getElementById('connection').dataset.state === 'open'")
    assert page.evaluate("window.__violations") == []
    for path in ("/api/docs/", "/compte/sessions/", "/compte/securite/"):
        visit(page, path)
        assert page.evaluate("window.__violations") == [], path
    # The API docs are drawn by Swagger UI from our static files.
    visit(page, "/api/docs/")
    page.locator(".swagger-ui .info").wait_for()
    assert page.evaluate("window.__violations") == []
