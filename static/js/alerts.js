/*
 * The Croix-Rouge desk (/portail/alertes/): alerts live; acknowledge, send a team, close.
 * A new alert rings (alerting.js) until someone acknowledges it.
 */
import { Alarm } from "./alerting.js";
import { connectEvents } from "./events.js";
import { api, connectionStatus, h, idempotencyKey } from "./incident-ui.js";
import { alertCard, OUTCOMES } from "./field-ui.js";

const list = document.getElementById("alert-list");
const empty = document.getElementById("alerts-empty");
const notice = document.getElementById("alerts-notice");
const rows = new Map();
const alarm = new Alarm();
let units = [];

async function act(url, body = {}) {
  try {
    const alert = await api(url, { method: "POST", body, headers: { "Idempotency-Key": idempotencyKey() } });
    show(alert);
    notice.hidden = true;
  } catch (err) {
    notice.textContent = err.message;
    notice.hidden = false;
  }
}

function actions(alert) {
  const base = `/api/alerts/${alert.id}/`;
  const out = [];
  if (alert.status === "raised") {
    out.push(h("button", { type: "button", class: "primary", text: "Prendre en compte",
      on: { click: () => act(`${base}ack/`) } }));
  }
  if (alert.status === "raised" || alert.status === "acknowledged") {
    const select = h("select", { "aria-label": `Équipe pour ${alert.reference}` },
      ...units.map((u) => h("option", { value: u.id, text: u.callsign })));
    out.push(select, h("button", { type: "button", text: "Engager l'équipe",
      on: { click: () => act(`${base}take-charge/`, { unit: Number(select.value) }) } }));
  }
  if (alert.status !== "closed") {
    const outcome = h("select", { "aria-label": `Issue de ${alert.reference}` },
      ...Object.entries(OUTCOMES).map(([value, text]) => h("option", { value, text })));
    out.push(outcome, h("button", { type: "button", text: "Clôturer",
      on: { click: () => act(`${base}close/`, { outcome: outcome.value }) } }));
  }
  return out;
}

function show(alert) {
  const row = alertCard(alert, actions(alert));
  const old = rows.get(alert.id);
  if (old) old.replaceWith(row);
  else list.prepend(row);
  rows.set(alert.id, row);
  empty.hidden = rows.size > 0;
  alarm.set(`alert:${alert.id}`, alert.status === "raised", { level: alert.escalated_at ? "flash" : "urgent", element: row });
}

async function load() {
  try {
    units = await api("/api/units/");
    const alerts = await api("/api/alerts/");
    alerts.slice().reverse().forEach(show);
    empty.textContent = "Aucune alerte pour le moment.";
    empty.hidden = rows.size > 0;
  } catch (err) {
    notice.textContent = err.message;
    notice.hidden = false;
  }
}

function onEvent(frame) {
  if (frame.type === "alert.raised" || frame.type === "alert.updated") show(frame.data.alert);
}

load().then(() => {
  connectEvents({ onEvent, onResync: load, onStatus: connectionStatus(document.getElementById("connection")) });
});
