/*
 * The console's field side: units on the map with their status, radio traffic (flash form,
 * acknowledgements, escalations) and the "Signaler à la Croix-Rouge" action.
 */
import { api, h, idempotencyKey } from "./incident-ui.js";
import { alertCard, CONDITIONS, RadioLog, UNIT_STATUS } from "./field-ui.js";

export function fieldConsole({ map, pointNow }) {
  const unitList = document.getElementById("unit-list");
  const radioForm = document.getElementById("radio-form");
  const radioTo = document.getElementById("radio-to");
  const radioNotice = document.getElementById("radio-notice");
  const alertForm = document.getElementById("alert-form");
  const alertNotice = document.getElementById("alert-notice");
  const alertList = document.getElementById("console-alerts");
  const log = new RadioLog(document.getElementById("radio-log"), {
    ackFor: "CSU",
    onAck: async (m) => {
      try {
        await api(`/api/radio/messages/${m.id}/ack/`, { method: "POST", headers: { "Idempotency-Key": `ack-${m.id}` } });
      } catch (err) {
        radioNotice.textContent = err.message;
      }
    },
  });
  const units = new Map(); // id → {unit, marker, row}
  const alerts = new Map();

  function unitLabel(unit) {
    return `${unit.callsign} — ${UNIT_STATUS[unit.status] || unit.status}`;
  }

  function showUnit(unit) {
    let entry = units.get(unit.id);
    if (!entry) {
      entry = { unit, marker: null, row: h("li", { class: "unit-row" }) };
      units.set(unit.id, entry);
      unitList.append(entry.row);
      radioTo.append(h("option", { value: `unit:${unit.id}`, text: unit.callsign }));
    }
    entry.unit = { ...entry.unit, ...unit };
    const u = entry.unit;
    entry.row.replaceChildren(h("span", { class: "unit-callsign", text: u.callsign }), " ",
      h("span", { class: `unit-status status-${u.status}`, text: UNIT_STATUS[u.status] || u.status }));
    entry.row.dataset.unit = u.id;
    entry.row.dataset.status = u.status;
    entry.row.dataset.callsign = u.callsign;
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
  function dropUnit(id) {
    const entry = units.get(id);
    if (!entry) return;
    entry.row.remove();
    if (entry.marker) entry.marker.remove();
    const option = radioTo.querySelector(`option[value="unit:${id}"]`);
    if (option) option.remove();
    units.delete(id);
  }

  function showAlert(alert) {
    const row = alertCard(alert);
    const old = alerts.get(alert.id);
    if (old) old.replaceWith(row);
    else alertList.prepend(row);
    alerts.set(alert.id, row);
  }

  async function load() {
    try {
      const [unitData, messages, alertData] = await Promise.all([
        api("/api/units/"), api("/api/radio/messages/"), api("/api/alerts/?status=raised,acknowledged,taken_charge"),
      ]);
      unitData.forEach(showUnit);
      messages.forEach((m) => log.upsert(m));
      alertData.slice().reverse().forEach(showAlert);
    } catch (err) {
      radioNotice.textContent = err.message;
    }
  }

  async function loadNets() {
    const nets = await api("/api/radio/nets/");
    for (const net of nets.filter((n) => n.kind !== "direct")) {
      radioTo.append(h("option", { value: `net:${net.id}`, text: net.name }));
    }
  }

  radioForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const [kind, id] = radioTo.value.split(":");
    const body = {
      priority: radioForm.elements.priority.value,
      text: radioForm.elements.text.value,
      ack_required: radioForm.elements.ack_required.checked,
      [kind === "unit" ? "to_unit" : "net"]: Number(id),
    };
    try {
      const message = await api("/api/radio/messages/", { method: "POST", body, headers: { "Idempotency-Key": idempotencyKey() } });
      log.upsert(message);
      radioForm.elements.text.value = "";
      radioNotice.textContent = "Message envoyé.";
    } catch (err) {
      radioNotice.textContent = err.message;
    }
  });

  alertForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const point = pointNow();
    const conditions = Object.keys(CONDITIONS).filter((c) => alertForm.elements[`c-${c}`] && alertForm.elements[`c-${c}`].checked);
    const body = {
      location: { type: "Point", coordinates: [point.lon, point.lat] },
      address: alertForm.elements.address.value,
      description: alertForm.elements.description.value,
      people: Number(alertForm.elements.people.value || 1),
      conditions,
    };
    try {
      const alert = await api("/api/alerts/", { method: "POST", body, headers: { "Idempotency-Key": idempotencyKey() } });
      showAlert(alert);
      alertForm.reset();
      alertNotice.textContent = `Alerte ${alert.reference} transmise à la Croix-Rouge.`;
    } catch (err) {
      alertNotice.textContent = err.message;
    }
  });

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
