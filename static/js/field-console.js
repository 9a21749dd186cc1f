// @ts-check
/*
 * The console's traffic panel: units on the map with their status, radio traffic (flash form,
 * acknowledgements, escalations) and the "Signaler à la Croix-Rouge" action.
 *
 * What rings (alerting.js): a flash or urgent message waiting for the centre's acknowledgement
 * (until it is acknowledged), a radio message or a Croix-Rouge alert escalated to the
 * supervisors (until it is acknowledged, or marked "vue" on this console).
 */
import { Alarm } from "./alerting.js";
import { LABELS, RadioLog, alertCard, label, unitRow } from "./field-ui.js";
import { byId, h } from "./lib/dom.js";
import { api, idempotencyKey } from "./lib/http.js";

/** @typedef {import("./field-ui.js").Alert} Alert */
/** @typedef {import("./field-ui.js").RadioMessage} RadioMessage */
/** @typedef {import("./field-ui.js").Unit} Unit */

const CENTRE = "CSU";

/** @param {HTMLFormElement} form @param {string} name */
const control = (form, name) => /** @type {HTMLInputElement | null} */ (form.elements.namedItem(name));

/**
 * @param {object} options
 * @param {import("leaflet").Map} options.map
 * @param {() => {lat: number, lon: number}} options.pointNow where a Croix-Rouge alert is placed
 */
export function fieldConsole({ map, pointNow }) {
  const unitList = byId("unit-list");
  /** @type {HTMLFormElement} */
  const radioForm = byId("radio-form");
  /** @type {HTMLSelectElement} */
  const radioTo = byId("radio-to");
  const radioNotice = byId("radio-notice");
  /** @type {HTMLFormElement} */
  const alertForm = byId("alert-form");
  const alertNotice = byId("alert-notice");
  const alertList = byId("console-alerts");
  /** @type {HTMLDetailsElement} */
  const alertCompose = byId("alert-compose");
  const alertsEmpty = byId("console-alerts-empty");
  const unitCount = byId("unit-count");
  const alarm = new Alarm();
  /** @param {RadioMessage} m */
  const escalationKey = (m) => `escalated:${m.id}`;

  /**
   * @param {string} key
   * @param {string} what
   */
  function seenButton(key, what) {
    return h("button", { type: "button", class: "secondary compact seen-button", text: "Escalade vue",
      title: `Arrêter l'alarme de ${what} sur cette console`, on: { click: () => { alarm.markSeen(key); refresh(key); } } });
  }

  const log = new RadioLog(byId("radio-log"), {
    ackFor: CENTRE,
    onAck: async (m) => {
      try {
        await api(`/api/radio/messages/${m.id}/ack/`, { method: "POST", headers: { "Idempotency-Key": `ack-${m.id}` } });
        log.acknowledged({ message_id: m.id, pending: m.pending.filter((c) => c !== CENTRE) });
      } catch (err) {
        radioNotice.textContent = err.message;
      }
    },
    extraActions: (m) => (m.escalated_at && m.pending.length && !alarm.seen(escalationKey(m))
      ? [seenButton(escalationKey(m), "ce message")] : []),
    onChange: (m, row) => {
      alarm.set(`radio:${m.id}`, m.priority !== "routine" && m.pending.includes(CENTRE), { level: m.priority, element: row });
      alarm.set(escalationKey(m), m.escalated_at && m.pending.length && !alarm.seen(escalationKey(m)),
        { level: "flash", element: row });
    },
  });
  /** @type {Map<number, {unit: Unit, marker: import("leaflet").Marker | null, row: HTMLElement}>} */
  const units = new Map();
  /** @type {Map<number, HTMLElement>} alert id → its card */
  const alerts = new Map();

  /** @param {Unit} unit */
  function unitLabel(unit) {
    return `${unit.callsign} — ${label("unit_status", unit.status)}`;
  }

  /** @param {Unit} unit */
  function showUnit(unit) {
    let entry = units.get(unit.id);
    if (!entry) {
      entry = { unit, marker: null, row: h("li", { class: "unit-row" }) };
      units.set(unit.id, entry);
      unitList.append(entry.row);
      radioTo.append(h("option", { value: `unit:${unit.id}`, text: unit.callsign }));
      unitCount.textContent = `(${units.size})`;
    }
    entry.unit = { ...entry.unit, ...unit };
    const u = entry.unit;
    unitRow(u, entry.row);
    const option = radioTo.querySelector(`option[value="unit:${u.id}"]`);
    if (option) option.textContent = u.callsign; // renamed by a supervisor
    if (u.position && window.L) {
      const [lon, lat] = u.position.coordinates;
      const icon = window.L.divIcon({ className: `unit-marker status-${u.status}`, html: "", iconSize: [14, 14] });
      if (!entry.marker) {
        entry.marker = window.L.marker([lat, lon], { icon, title: unitLabel(u), keyboard: false }).addTo(map);
      } else {
        entry.marker.setLatLng([lat, lon]);
        entry.marker.setIcon(icon);
      }
      entry.marker.options.title = unitLabel(u);
    }
  }

  /** A retired unit leaves the list, the map and the radio's recipients (its traffic stays). */
  /** @param {number} id */
  function dropUnit(id) {
    const entry = units.get(id);
    if (!entry) return;
    entry.row.remove();
    if (entry.marker) entry.marker.remove();
    const option = radioTo.querySelector(`option[value="unit:${id}"]`);
    if (option) option.remove();
    units.delete(id);
    unitCount.textContent = `(${units.size})`;
  }

  /** @type {Map<number, Alert>} */
  const alertData = new Map();
  /** @param {Alert} alert */
  const alertKey = (alert) => `alert-escalated:${alert.id}`;

  /** @param {Alert} alert */
  function showAlert(alert) {
    alertData.set(alert.id, alert);
    const key = alertKey(alert);
    // Escalated: the Croix-Rouge has not acknowledged it in time.
    const escalated = alert.status === "raised" && Boolean(alert.escalated_at) && !alarm.seen(key);
    const row = alertCard(alert, escalated ? [seenButton(key, "cette alerte")] : []);
    const old = alerts.get(alert.id);
    if (alert.status === "closed") {
      // The console lists the alerts in progress.
      if (old) old.remove();
      alerts.delete(alert.id);
    } else {
      if (old) old.replaceWith(row);
      else alertList.prepend(row);
      alerts.set(alert.id, row);
    }
    alertsEmpty.hidden = alerts.size > 0;
    alarm.set(key, escalated, { level: "flash", element: row });
    sortAlerts();
  }

  // Those that need the centre first (escalated, then not yet seen by the Croix-Rouge), newest first.
  /** @type {Record<string, number>} */
  const ALERT_RANK = { raised: 1, acknowledged: 2, taken_charge: 3 };
  /** @param {Alert} alert */
  function alertRank(alert) {
    return alert.status === "raised" && alert.escalated_at ? 0 : ALERT_RANK[alert.status] || 4;
  }
  function sortAlerts() {
    const ordered = [...alerts.keys()].map((id) => alertData.get(id))
      .sort((a, b) => alertRank(a) - alertRank(b) || b.raised_at.localeCompare(a.raised_at));
    const rows = ordered.map((alert) => alerts.get(alert.id));
    if (rows.some((row, i) => alertList.children[i] !== row)) alertList.replaceChildren(...rows);
  }

  /** @param {string} key */
  function refresh(key) {
    const [kind, id] = key.split(":");
    if (kind === "escalated") log.refresh(Number(id));
    else if (alertData.has(Number(id))) showAlert(alertData.get(Number(id)));
  }

  async function load() {
    try {
      /** @type {[Unit[], RadioMessage[], Alert[]]} */
      const [unitData, messages, openAlerts] = await Promise.all([
        api("/api/units/"), api("/api/radio/messages/"), api("/api/alerts/?status=raised,acknowledged,taken_charge"),
      ]);
      unitData.forEach(showUnit);
      messages.forEach((m) => log.upsert(m));
      alertList.replaceChildren();
      alerts.clear();
      openAlerts.slice().reverse().forEach(showAlert);
    } catch (err) {
      radioNotice.textContent = err.message;
    }
  }

  async function loadNets() {
    /** @type {Array<{id: number, name: string, kind: string}>} */
    const nets = await api("/api/radio/nets/");
    for (const net of nets.filter((n) => n.kind !== "direct")) {
      radioTo.append(h("option", { value: `net:${net.id}`, text: net.name }));
    }
  }

  alertCompose.addEventListener("toggle", () => {
    if (alertCompose.open) {
      alertNotice.textContent = "";
      alertForm.scrollIntoView({ block: "nearest" });
    }
  });

  radioForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [kind, id] = radioTo.value.split(":");
    const body = {
      priority: control(radioForm, "priority").value,
      text: control(radioForm, "text").value,
      ack_required: control(radioForm, "ack_required").checked,
      [kind === "unit" ? "to_unit" : "net"]: Number(id),
    };
    try {
      const message = await api("/api/radio/messages/", { method: "POST", body, headers: { "Idempotency-Key": idempotencyKey() } });
      log.upsert(message);
      control(radioForm, "text").value = "";
      radioNotice.textContent = "Message envoyé.";
    } catch (err) {
      radioNotice.textContent = err.message;
    }
  });

  alertForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const point = pointNow();
    const conditions = Object.keys(LABELS.alert_condition).filter((c) => {
      const box = control(alertForm, `c-${c}`);
      return box && box.checked;
    });
    const body = {
      location: { type: "Point", coordinates: [point.lon, point.lat] },
      address: control(alertForm, "address").value,
      description: control(alertForm, "description").value,
      people: Number(control(alertForm, "people").value || 1),
      conditions,
    };
    try {
      const alert = await api("/api/alerts/", { method: "POST", body, headers: { "Idempotency-Key": idempotencyKey() } });
      showAlert(alert);
      alertForm.reset();
      alertCompose.open = false; // the radio log gets its room back
      alertNotice.textContent = `Alerte ${alert.reference} transmise à la Croix-Rouge.`;
    } catch (err) {
      alertNotice.textContent = err.message;
    }
  });

  /** @param {import("./lib/events.js").EventFrame} frame */
  function onEvent(frame) {
    const data = frame.data || {};
    switch (frame.type) {
      case "radio.message": log.upsert(data.message, { resend: data.resend }); break;
      case "radio.acknowledged": log.acknowledged(data); break;
      case "radio.escalated": log.escalated(data.message); break;
      case "unit.status":
      case "unit.engaged": showUnit(data.unit); break;
      case "unit.updated":
        if (data.unit.retired_at) dropUnit(data.unit.id);
        else showUnit(data.unit);
        break;
      case "unit.position": {
        const entry = units.get(data.unit_id);
        if (entry) showUnit({ ...entry.unit, position: data.position, position_at: data.at });
        break;
      }
      case "alert.raised":
      case "alert.updated": showAlert(data.alert); break;
      default: break;
    }
  }

  load();
  loadNets().catch(() => {});
  return { onEvent, onResync: load };
}
