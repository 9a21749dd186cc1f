"""static/js/lib/events.js in a real browser, against a scripted socket and a fake clock.

The live server proves the happy path (test_console_live.py); here the server's
side is scripted so that drops, duplicates, resyncs and silences happen on cue.
"""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.usefixtures("transactional_db")

# Replaces window.WebSocket: each socket the client opens is kept in window.sockets,
# and the test plays the server with serverOpen / serverSend / serverClose.
FAKE_WEBSOCKET = """
window.sockets = [];
class FakeSocket {
  static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3;
  constructor(url) { this.url = String(url); this.readyState = 0; this.sent = []; window.sockets.push(this); }
  send(text) { this.sent.push(JSON.parse(text)); }
  close(code) {
    if (this.readyState === 3) return;
    this.readyState = 3; this.closedByClient = true;
    if (this.onclose) this.onclose({ code: code ?? 1005 });
  }
  serverOpen() { this.readyState = 1; this.onopen({}); }
  serverSend(frame) { this.onmessage({ data: JSON.stringify(frame) }); }
  serverClose(code = 1006) { this.readyState = 3; this.onclose({ code }); }
}
window.WebSocket = FakeSocket;
"""

START = """async () => {
  const { connectEvents } = await import("/static/js/lib/events.js");
  window.log = { events: [], resyncs: 0, statuses: [] };
  window.stream = connectEvents({
    onEvent: (frame) => window.log.events.push(frame.id),
    onResync: () => { window.log.resyncs += 1; },
    onStatus: (label) => window.log.statuses.push(label),
  });
}"""


@pytest.fixture
def page(new_context):
    page = new_context().new_page()
    page.add_init_script(FAKE_WEBSOCKET)
    # The fake clock stands still between run_for() calls: real time passing on a
    # loaded machine must not fire timers behind the test's back.
    page.clock.install(time=dt.datetime(2026, 1, 1, 3, 0, tzinfo=dt.UTC))
    page.clock.pause_at(dt.datetime(2026, 1, 1, 3, 0, 1, tzinfo=dt.UTC))
    page.goto("/accounts/login/")  # any page of the hub's origin
    page.evaluate(START)
    return page


def socket(page, index: int, action: str, *args) -> None:
    page.evaluate("([i, action, args]) => window.sockets[i][action](...args)", [index, action, list(args)])


def events(page, index: int, ids) -> None:
    page.evaluate("([i, ids]) => ids.forEach((id) => window.sockets[i].serverSend("
                  "{id, type: 'incident.created', at: '2026-01-01T00:00:00+00:00', data: {}}))",
                  [index, list(ids)])


def state(page) -> dict:
    return page.evaluate("""() => ({...window.log, sockets: window.sockets.map((s) => s.url),
        sent: window.sockets.map((s) => s.sent), stored: sessionStorage.getItem("csu.events.lastEventId"),
        lastEventId: window.stream.lastEventId})""")


def test_each_event_once_acks_and_resume_from_the_last_id(page, hub):
    socket(page, 0, "serverOpen")
    s = state(page)
    assert s["sockets"] == [f"ws://127.0.0.1:{hub.port}/ws/events/"]
    assert s["statuses"] == ["connexion…", "connecté"]
    assert s["resyncs"] == 1  # no position yet: the page must (re)load its snapshot

    events(page, 0, [1, 2, 3, 2, 3])
    socket(page, 0, "serverSend", {"type": "heartbeat", "at": "2026-01-01T00:00:00+00:00"})
    s = state(page)
    assert s["events"] == [1, 2, 3]
    assert (s["stored"], s["lastEventId"]) == ("3", 3)
    assert s["sent"] == [[]]  # heartbeats get no answer

    events(page, 0, range(4, 104))  # the 100th unacknowledged event is id 100
    assert state(page)["sent"] == [[{"type": "ack", "last_event_id": 100}]]
    page.clock.run_for(5_000)
    assert state(page)["sent"][0][-1] == {"type": "ack", "last_event_id": 103}
    page.clock.run_for(5_000)
    assert len(state(page)["sent"][0]) == 2  # nothing new: no ack

    socket(page, 0, "serverClose", 1006)
    assert state(page)["statuses"][-1] == "reconnexion…"
    page.clock.run_for(200)
    assert len(state(page)["sockets"]) == 1  # the first retry waits 0.25 to 0.5 s
    page.clock.run_for(300)
    s = state(page)
    assert s["sockets"][1].endswith("/ws/events/?last_event_id=103")

    socket(page, 1, "serverOpen")
    events(page, 1, [102, 103, 104])  # the replay overlaps what was seen
    s = state(page)
    assert s["events"] == [*range(1, 104), 104]
    assert s["statuses"][-1] == "connecté"
    assert s["resyncs"] == 1  # it had a position: the replay suffices

    socket(page, 1, "serverSend", {"type": "resync", "last_event_id": 50})
    events(page, 1, [51])
    s = state(page)
    assert s["resyncs"] == 2
    assert s["events"][-1] == 51  # after a resync, the server's position is the reference


def test_silence_is_a_dead_connection_and_backoff_grows_to_30_s(page):
    socket(page, 0, "serverOpen")
    page.clock.run_for(45_000)
    socket(page, 0, "serverSend", {"type": "heartbeat"})
    page.clock.run_for(59_000)
    assert len(state(page)["sockets"]) == 1  # 59 s since the last frame: still alive
    page.clock.run_for(1_000)  # 60 s: given up on; the retries count from now
    s = state(page)
    assert s["statuses"][-1] == "reconnexion…"
    assert page.evaluate("window.sockets[0].closedByClient") is True

    # Every retry fails: waits are drawn in [ceiling/2, ceiling], ceiling 0.5 s doubling to 30 s.
    for attempt in range(12):
        ceiling = min(30_000, 500 * 2**attempt)
        before = len(state(page)["sockets"])
        page.clock.run_for(ceiling // 2 - 10)
        assert len(state(page)["sockets"]) == before, f"retry {attempt} came too early"
        page.clock.run_for(ceiling // 2 + 20)
        assert len(state(page)["sockets"]) == before + 1, f"retry {attempt} did not come"
        socket(page, before, "serverClose", 1006)

    page.evaluate("window.stream.close()")
    page.clock.run_for(60_000)
    s = state(page)
    assert s["statuses"][-1] == "déconnecté"
    assert len(s["sockets"]) == 13  # the first, then 12 retries; none after close()


def test_a_saturated_hub_is_tried_again_after_5_to_10_s_from_the_last_event(page):
    """Closed with 1013 (no database connection free on the hub): not back at once, with the
    others it closed, but after 5 to 10 s, resuming from the last event seen."""
    socket(page, 0, "serverOpen")
    events(page, 0, [1, 2])
    socket(page, 0, "serverSend", {"type": "error", "error": "saturated", "detail": "Service momentanément "
                                   "saturé : réessayez dans quelques secondes."})
    socket(page, 0, "serverClose", 1013)
    assert state(page)["statuses"][-1] == "reconnexion…"
    page.clock.run_for(4_990)
    assert len(state(page)["sockets"]) == 1, "came back before 5 s"
    page.clock.run_for(5_020)
    s = state(page)
    assert len(s["sockets"]) == 2, "not back within 10 s"
    assert s["sockets"][1].endswith("/ws/events/?last_event_id=2")
    socket(page, 1, "serverOpen")
    events(page, 1, [3])
    assert state(page)["events"] == [1, 2, 3]


def test_a_socket_closed_for_its_credential_is_not_reopened(page):
    """Closed with 4401 (the session ended, the token was revoked): reconnecting would be refused
    again; the client stops, says the session ended, and stays stopped, even when the network
    comes back."""
    socket(page, 0, "serverOpen")
    events(page, 0, [1])
    socket(page, 0, "serverClose", 4401)
    assert state(page)["statuses"][-1] == "session terminée"
    page.clock.run_for(600_000)
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.clock.run_for(60_000)
    s = state(page)
    assert len(s["sockets"]) == 1
    assert s["statuses"] == ["connexion…", "connecté", "session terminée"]
    # A drop of another kind is still retried (the control).
    page.evaluate(START)
    socket(page, 1, "serverOpen")
    socket(page, 1, "serverClose", 1006)
    page.clock.run_for(1_000)
    assert len(state(page)["sockets"]) == 3
