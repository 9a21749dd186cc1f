// @ts-check
/*
 * The Croix-Rouge desk (/portail/alertes/): alerts live; acknowledge, send a team, close.
 * The teams offered are the desk's own units that are available, kept live from the unit
 * events (a team sent goes en route and leaves the choice; a retired one leaves it for good).
 * A new alert rings (alerting.js) until someone acknowledges it.
 */
import { Alarm } from "./alerting.js";
import { LABELS, alertCard } from "./field-ui.js";
import { byId, connectionStatus, h } from "./lib/dom.js";
import { connectAfter } from "./lib/events.js";
import { api, idempotencyKey } from "./lib/http.js";

/** @typedef {import("./field-ui.js").Alert} Alert */
/** @typedef {import("./field-ui.js").Unit} Unit */

const desk = byId("crf-desk");
const agency = desk.dataset.agency;
const list = byId("alert-list");
const empty = byId("alerts-empty");
const notice = byId("alerts-notice");
/** @type {Map<number, {alert: Alert, row: HTMLElement}>} */
const rows = new Map();
/** @type {Map<number, Unit>} the units of the desk's agency, in service */
const units = new Map();
/** @type {Map<number, string>} alert id → the unit id picked in its list */
const chosen = new Map();

function available() {
  return [...units.values()]
    .filter((u) => u.status === "available")
    .sort((a, b) => a.callsign.localeCompare(b.callsign, "fr"));
}
const alarm = new Alarm();

/**
 * @param {string} url
 * @param {object} [body]
 */
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

/**
 * @param {Alert} alert
 * @param {string} base
 */
function teamChoice(alert, base) {
  const teams = available();
  const id = `team-${alert.id}`;
  if (!teams.length) {
    return h("div", { class: "action-group" },
      h("span", { class: "no-team", id, text: "Aucune équipe disponible pour le moment." }));
  }
  const wanted = chosen.get(alert.id);
  const select = h("select", { id, class: "team-choice", on: { change: () => chosen.set(alert.id, select.value) } },
    ...teams.map((u) => h("option", { value: String(u.id), text: u.callsign, selected: String(u.id) === wanted })));
  return h("div", { class: "action-group" },
    h("label", { for: id, text: "Équipe" }),
    select,
    h("button", { type: "button", class: "secondary compact", text: "Engager l'équipe",
      on: { click: () => act(`${base}take-charge/`, { unit: Number(select.value) }) } }));
}

/** @param {Alert} alert */
function actions(alert) {
  const base = `/api/alerts/${alert.id}/`;
  const out = [];
  if (alert.status === "raised") {
    out.push(h("button", { type: "button", class: "primary compact", text: "Prendre en compte",
      on: { click: () => act(`${base}ack/`) } }));
  }
  if (alert.status === "raised" || alert.status === "acknowledged") {
    out.push(teamChoice(alert, base));
  }
  if (alert.status !== "closed") {
    const id = `outcome-${alert.id}`;
    const outcome = h("select", { id },
      ...Object.entries(LABELS.alert_outcome).map(([value, text]) => h("option", { value, text })));
    out.push(h("div", { class: "action-group" },
      h("label", { for: id, text: "Issue" }),
      outcome,
      h("button", { type: "button", class: "action compact", text: "Clôturer",
        on: { click: () => act(`${base}close/`, { outcome: outcome.value }) } })));
  }
  return out;
}

/** @param {Alert} alert */
function show(alert) {
  const row = alertCard(alert, actions(alert));
  const old = rows.get(alert.id);
  if (old) old.row.replaceWith(row);
  else list.prepend(row);
  rows.set(alert.id, { alert, row });
  empty.hidden = rows.size > 0;
  alarm.set(`alert:${alert.id}`, alert.status === "raised", { level: alert.escalated_at ? "flash" : "urgent", element: row });
}

/** The teams changed: redraw the alerts that still wait for one. */
function refreshChoices() {
  for (const { alert } of rows.values()) {
    if (alert.status === "raised" || alert.status === "acknowledged") show(alert);
  }
}

/** @param {Unit} unit */
function unitChanged(unit) {
  if (unit.agency === agency && !unit.retired_at) units.set(unit.id, unit);
  else units.delete(unit.id);
  refreshChoices();
}

async function load() {
  try {
    /** @type {[Unit[], Alert[]]} */
    const [unitData, alerts] = await Promise.all([api("/api/units/"), api("/api/alerts/")]);
    units.clear();
    unitData.filter((u) => u.agency === agency).forEach((u) => units.set(u.id, u));
    alerts.slice().reverse().forEach(show);
    refreshChoices();
    empty.textContent = "Aucune alerte pour le moment.";
    empty.hidden = rows.size > 0;
  } catch (err) {
    notice.textContent = err.message;
    notice.hidden = false;
  }
}

/** @param {import("./lib/events.js").EventFrame} frame */
function onEvent(frame) {
  const data = frame.data || {};
  switch (frame.type) {
    case "alert.raised":
    case "alert.updated": show(data.alert); break;
    case "unit.status":
    case "unit.engaged":
    case "unit.updated": unitChanged(data.unit); break;
    default: break;
  }
}

connectAfter(load(), { onEvent, onResync: load, onStatus: connectionStatus(byId("connection")) });
