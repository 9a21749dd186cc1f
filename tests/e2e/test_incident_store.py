"""static/js/lib/incidents.js in a real browser, against the hub: the incidents a screen held
over REST, with the events its member receives applied by the store's reducer, are what a fresh
read of the API gives — for the centre (the console's store) and for a partner agency (the
portal's and the tablets' store, which drops an incident when its sharing ends).

Every change is made over the REST API, as an operator's console makes it; the events cross
Redis to the hub's Daphne, as in production. The HTTP client the store reads with (lib/http.js)
also speaks for a program, with a bearer token instead of a session.
"""

from __future__ import annotations

import json
import time

import pytest

from partners.choices import AgencyKind
from partners.services import api_token_issue
from tests import factories

pytestmark = pytest.mark.usefixtures("transactional_db")

LIST = "/api/incidents/?limit=500"
WAIT_S = 15

# The store as the pages build it: a snapshot over REST, then the stream (lib/events.js) whose
# frames go to the reducer. Every snapshot read is counted: the test must prove that the events,
# not a reload, brought the store to the API's state.
START = """async ({ agency, url }) => {
  const { IncidentStore } = await import("/static/js/lib/incidents.js");
  const { connectAfter } = await import("/static/js/lib/events.js");
  const { api } = await import("/static/js/lib/http.js");
  window.store = new IncidentStore({ agency });
  window.snapshots = 0;
  window.loading = 0;
  window.changes = [];
  const load = () => {
    window.snapshots += 1;
    window.loading += 1;
    return window.store.loadSnapshot(() => api(url)).finally(() => { window.loading -= 1; });
  };
  window.streamState = "";
  await connectAfter(load(), {
    onEvent: (frame) => {
      const change = window.store.apply(frame);
      if (change) window.changes.push([change.kind, change.type, change.id]);
    },
    onResync: load,
    onStatus: (label, state) => { window.streamState = state; },
  });
}"""

# The store and a fresh read of the API, each sorted by id, as JSON with sorted keys (an event's
# fields may come in another order than the REST answer's): equal or not.
COMPARE = """async (url) => {
  const { api } = await import("/static/js/lib/http.js");
  const canonical = (value) => (Array.isArray(value) ? value.map(canonical)
    : value && typeof value === "object"
      ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, canonical(value[key])])) : value);
  const sorted = (items) => JSON.stringify(canonical([...items].sort((a, b) => a.id - b.id)));
  return { held: sorted(window.store.values()), fresh: sorted(await api(url)), snapshots: window.snapshots };
}"""


def open_store(signed_in, member, agency: str | None):
    page = signed_in(member.user).new_page()
    page.goto("/accounts/login/")  # any page of the hub's origin
    page.evaluate(START, {"agency": agency, "url": LIST})
    # The first connection of a tab holds no position: it reads its snapshot once more (resync).
    page.wait_for_function(
        "() => window.streamState === 'open' && window.snapshots === 2 && window.loading === 0")
    return page


def settled(page) -> dict:
    """The store once it holds what the API says (the events may still be on their way), or
    what it holds after WAIT_S seconds, for the assertion to show."""
    deadline = time.monotonic() + WAIT_S
    while True:
        state = page.evaluate(COMPARE, LIST)
        if state["held"] == state["fresh"] or time.monotonic() > deadline:
            return state
        page.wait_for_timeout(200)


def incidents(state: dict, key: str) -> list[dict]:
    return json.loads(state[key])


def test_rest_snapshot_plus_the_events_equals_a_fresh_read_for_the_centre_and_a_partner(
        hub, signed_in, api):
    factories.make_commune()
    pn = factories.make_agency(kind=AgencyKind.PN, code="pn-montmorency")
    factories.make_agency(kind=AgencyKind.GN, code="gn-domont")
    operator = factories.make_member(role="operator", username="alice")
    agent = factories.make_member(role="partner_agent", agency=pn, username="agent-pn")
    centre = api.as_member(operator)

    def create(description: str, priority: int = 3) -> dict:
        answer = centre.post("/api/incidents/", {
            "nature": "vol", "priority": priority, "description": description,
            "location": {"type": "Point", "coordinates": [2.3222, 48.9883]}})
        assert answer.status_code == 201, answer.content
        return answer.json()

    def ok(answer) -> dict:
        assert answer.status_code in {200, 201}, answer.content
        return answer.json()

    # Known to both screens before they open: a shared incident, in their snapshots.
    known = create("Vitrine brisée, rue de la Gare")
    ok(centre.post(f"/api/incidents/{known['id']}/shares/", {"agency": pn.code}))

    console = open_store(signed_in, operator, None)
    portal = open_store(signed_in, agent, pn.code)
    assert [i["id"] for i in incidents(settled(portal), "held")] == [known["id"]]

    # What happens next reaches the screens only as events.
    fresh = create("Rixe devant le bar", priority=1)
    other = create("Tags sur un abribus")
    ok(centre.post(f"/api/incidents/{fresh['id']}/shares/", {"agency": pn.code}))
    ok(centre.post(f"/api/incidents/{other['id']}/shares/", {"agency": "gn-domont"}))
    ok(centre.patch(f"/api/incidents/{fresh['id']}/", {"version": fresh["version"] + 1, "priority": 2}))
    ok(centre.post(f"/api/incidents/{fresh['id']}/transitions/",
                   {"status": "engaged", "version": fresh["version"] + 2}))
    ok(centre.post(f"/api/incidents/{known['id']}/journal/", {"text": "Patrouille sur place."}))
    # The sharing with the agent's agency ends: the incident leaves the portal's store.
    ok(centre.delete(f"/api/incidents/{known['id']}/shares/{pn.code}/"))
    ok(centre.post(f"/api/incidents/{other['id']}/transitions/",
                   {"status": "closed", "version": other["version"] + 1}))

    for page, expected in ((console, {known["id"], fresh["id"], other["id"]}), (portal, {fresh["id"]})):
        state = settled(page)
        assert state["held"] == state["fresh"], (state["held"], state["fresh"])
        assert {i["id"] for i in incidents(state, "held")} == expected
        assert state["snapshots"] == 2  # no reload since the stream opened: the events did it

    shown = {i["id"]: i for i in incidents(settled(console), "held")}
    assert shown[fresh["id"]]["status"] == "engaged" and shown[fresh["id"]]["priority"] == 2
    assert shown[known["id"]]["shared_with"] == [] and shown[other["id"]]["status"] == "closed"
    assert ["remove", "incident.unshared", known["id"]] in portal.evaluate("window.changes")


# lib/http.js's api(): the answer's JSON, or an ApiError with the hub's status and French detail.
CALL = """async ([url, token]) => {
  const { api, ApiError } = await import("/static/js/lib/http.js");
  try {
    return { ok: await api(url, { token }) };
  } catch (err) {
    return { status: err instanceof ApiError ? err.status : -1, message: err.message };
  }
}"""


def test_a_program_s_bearer_token_instead_of_a_session(hub, new_context):
    factories.make_commune()
    operator = factories.make_member(role="operator", username="passerelle")
    raw, _ = api_token_issue(user=operator.user)
    page = new_context().new_page()  # no session in this browser
    page.goto("/accounts/login/")

    assert page.evaluate(CALL, [LIST, raw]) == {"ok": []}
    # Neither a session nor a token: the page says what a person can do about it.
    expired = {"status": 401, "message": "Session expirée : rechargez la page pour vous reconnecter."}
    assert page.evaluate(CALL, [LIST, None]) == expired
    assert page.evaluate(CALL, [LIST, "not-a-token"]) == expired
