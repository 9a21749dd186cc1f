/*
 * Shared pieces of the radio, unit and alert screens (console, tablet /terrain/, CRF desk).
 */
import { h, timeElement } from "./incident-ui.js";

export const PRIORITY = { routine: "Routine", urgent: "Urgent", flash: "Flash" };
export const UNIT_STATUS = {
  available: "Disponible",
  en_route: "En route",
  on_scene: "Sur place",
  unavailable: "Indisponible",
};
export const ALERT_STATUS = {
  raised: "Signalée",
  acknowledged: "Prise en compte",
  taken_charge: "Prise en charge",
  closed: "Close",
};
export const CONDITIONS = {
  cold: "Grand froid",
  heat: "Canicule",
  rain: "Pluie",
  night: "Nuit",
  health: "Santé préoccupante",
  children: "Enfants",
};
export const OUTCOMES = {
  cared_on_site: "Aide sur place",
  sheltered: "Mise à l'abri",
  hospital: "Orientation hôpital",
  refused: "Aide refusée",
  not_found: "Personne non retrouvée",
  other: "Autre",
};

/**
 * A log of radio messages, newest first, each once; acknowledgements and escalations update rows.
 *
 * ``ackFor``: the callsign this screen acknowledges for (its messages get an "Acquitter" button);
 * ``onChange(message, row)`` after every change (the alarm follows it); ``extraActions(message)``
 * more buttons for a row.
 */
export class RadioLog {
  constructor(element, { ackFor = null, onAck = null, onChange = null, extraActions = null } = {}) {
    this.element = element;
    this.rows = new Map();
    this.messages = new Map();
    this.resends = new Map(); // a re-send is only known from its event: kept across updates
    this.ackFor = ackFor;
    this.onAck = onAck;
    this.onChange = onChange;
    this.extraActions = extraActions;
  }

  upsert(message, { resend = 0 } = {}) {
    const known = this.messages.get(message.id);
    if (known) {
      // An acknowledgement seen meanwhile is kept: pending only shrinks.
      message = { ...message, pending: message.pending.filter((c) => known.pending.includes(c)) };
      if (known.escalated_at && !message.escalated_at) message.escalated_at = known.escalated_at;
    }
    if (resend) this.resends.set(message.id, Math.max(resend, this.resends.get(message.id) || 0));
    this.messages.set(message.id, message);
    const row = this.render(message, this.resends.get(message.id) || 0);
    const old = this.rows.get(message.id);
    if (old) old.replaceWith(row);
    else this.element.prepend(row);
    this.rows.set(message.id, row);
    if (this.onChange) this.onChange(message, row);
  }

  acknowledged(data) {
    const message = this.messages.get(data.message_id);
    if (!message) return;
    this.upsert({ ...message, pending: data.pending });
  }

  escalated(message) {
    this.upsert(message);
  }

  /** Render one message again (what ``extraActions`` shows changed). */
  refresh(id) {
    const message = this.messages.get(id);
    if (message) this.upsert(message);
  }

  mine(m) {
    return Boolean(this.ackFor && m.pending.includes(this.ackFor));
  }

  render(m, resend) {
    const mine = this.mine(m);
    const acked = m.recipients.filter((c) => !m.pending.includes(c));
    const to = m.to_callsign || m.net_name;
    const actions = [
      mine && this.onAck
        ? h("button", { type: "button", class: "primary compact ack-button", text: "Acquitter",
          on: { click: () => this.onAck(m) } })
        : null,
      ...(this.extraActions ? this.extraActions(m) : []),
    ].filter(Boolean);
    return h(
      "li",
      {
        class: `radio-message priority-${m.priority}${m.escalated_at ? " escalated" : ""}${mine ? " to-ack" : ""}`,
        dataset: { message: m.id, pending: m.pending.join(","), priority: m.priority },
      },
      h("div", { class: "radio-head" },
        h("span", { class: "radio-priority", text: PRIORITY[m.priority] || m.priority }),
        timeElement(m.sent_at, { seconds: true }),
        h("span", { class: "radio-route", title: `${m.from_callsign} → ${to}` },
          h("strong", { class: "radio-from", text: m.from_callsign }),
          h("span", { class: "radio-arrow", "aria-label": "à", text: " → " }),
          h("span", { class: "radio-to", text: to })),
        resend ? h("span", { class: "radio-resend", text: `renvoi ${resend}` }) : null),
      h("p", { class: "radio-text", text: m.text }),
      acked.length || (m.pending.length && m.ack_required) || m.escalated_at
        ? h("p", { class: "radio-acks" },
          acked.length ? h("span", { class: "acked", text: `Acquitté : ${acked.join(", ")}` }) : null,
          m.pending.length && m.ack_required
            ? h("span", { class: "pending", text: `En attente : ${m.pending.join(", ")}` }) : null,
          m.escalated_at ? h("span", { class: "escalation", text: "Escaladé au superviseur" }) : null)
        : null,
      actions.length ? h("div", { class: "radio-actions" }, ...actions) : null,
    );
  }
}

/** An alert card: place, description, people, conditions, status — never anything about cameras. */
export function alertCard(alert, actions = []) {
  const place = `${alert.address ? `${alert.address}, ` : ""}${alert.commune_name}`;
  return h(
    "li",
    { class: `alert-card status-${alert.status}${alert.escalated_at ? " escalated" : ""}`,
      dataset: { alert: alert.id, status: alert.status, reference: alert.reference } },
    h("div", { class: "alert-head" },
      h("strong", { class: "alert-ref", text: alert.reference }),
      timeElement(alert.raised_at),
      h("span", { class: `alert-status status-${alert.status}`, text: ALERT_STATUS[alert.status] || alert.status }),
      alert.escalated_at && alert.status !== "closed"
        ? h("span", { class: "escalation", text: "Escaladée" }) : null),
    h("p", { class: "alert-place", text: place }),
    h("p", { class: "alert-description", text: alert.description }),
    h("p", { class: "alert-meta", text: [
      `${alert.people} personne${alert.people > 1 ? "s" : ""}`,
      ...alert.conditions.map((c) => CONDITIONS[c] || c),
      alert.unit ? `Unité : ${alert.unit}` : null,
      alert.outcome ? `Issue : ${OUTCOMES[alert.outcome] || alert.outcome}` : null,
    ].filter(Boolean).join(" · ") }),
    actions.length ? h("div", { class: "alert-actions" }, ...actions) : null,
  );
}

/** A unit in a list: its callsign (cut with an ellipsis, whole in the title) and its status. */
export function unitRow(unit, row = h("li", { class: "unit-row" })) {
  const status = UNIT_STATUS[unit.status] || unit.status;
  row.replaceChildren(
    h("span", { class: "unit-callsign", title: unit.callsign, text: unit.callsign }),
    h("span", { class: `unit-status status-${unit.status}`, text: status }));
  Object.assign(row.dataset, { unit: unit.id, status: unit.status, callsign: unit.callsign });
  return row;
}
