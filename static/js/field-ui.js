// @ts-check
/*
 * Shared pieces of the radio, unit and alert screens (console, tablet /terrain/, CRF desk).
 * The French words of the hub's codes (a unit's status, an alert's conditions…) come from the
 * page, rendered by the server from the same choices the API validates (json_script
 * "field-labels"): the browser translates no code itself.
 */
import { h, readJson, timeElement } from "./lib/dom.js";

/**
 * @typedef {object} FieldLabels
 * @property {Record<string, string>} radio_priority
 * @property {Record<string, string>} unit_status
 * @property {Record<string, string>} alert_status
 * @property {Record<string, string>} alert_condition
 * @property {Record<string, string>} alert_outcome
 */

/** @type {FieldLabels} */
export const LABELS = readJson("field-labels") || {
  radio_priority: {}, unit_status: {}, alert_status: {}, alert_condition: {}, alert_outcome: {},
};

/**
 * The word of a code, or the code itself when the page has none.
 * @param {keyof FieldLabels} family
 * @param {string} code
 */
export function label(family, code) {
  return LABELS[family][code] || code;
}

/**
 * A radio message (GET /api/radio/messages/, radio.* events).
 * @typedef {object} RadioMessage
 * @property {number} id
 * @property {string} priority
 * @property {string} sent_at
 * @property {string} from_callsign
 * @property {string | null} [to_callsign]
 * @property {string} net_name
 * @property {string} text
 * @property {string[]} recipients
 * @property {string[]} pending
 * @property {boolean} ack_required
 * @property {string | null} [escalated_at]
 */

/**
 * A Croix-Rouge alert (GET /api/alerts/, alert.* events): never anything about cameras.
 * @typedef {object} Alert
 * @property {number} id
 * @property {string} reference
 * @property {string} status
 * @property {string} raised_at
 * @property {string | null} [escalated_at]
 * @property {string} address
 * @property {string} commune_name
 * @property {string} description
 * @property {number} people
 * @property {string[]} conditions
 * @property {string | null} [unit]
 * @property {string | null} [outcome]
 */

/**
 * A field unit (GET /api/units/, unit.* events).
 * @typedef {{[field: string]: any, id: number, callsign: string, status: string}} Unit
 */

/**
 * A log of radio messages, newest first, each once; acknowledgements and escalations update rows.
 *
 * ``ackFor``: the callsign this screen acknowledges for (its messages get an "Acquitter" button);
 * ``onChange(message, row)`` after every change (the alarm follows it); ``extraActions(message)``
 * more buttons for a row.
 */
export class RadioLog {
  /**
   * @param {HTMLElement} element
   * @param {object} [options]
   * @param {string | null} [options.ackFor]
   * @param {((message: RadioMessage) => void) | null} [options.onAck]
   * @param {((message: RadioMessage, row: HTMLElement) => void) | null} [options.onChange]
   * @param {((message: RadioMessage) => HTMLElement[]) | null} [options.extraActions]
   */
  constructor(element, { ackFor = null, onAck = null, onChange = null, extraActions = null } = {}) {
    this.element = element;
    /** @type {Map<number, HTMLElement>} */
    this.rows = new Map();
    /** @type {Map<number, RadioMessage>} */
    this.messages = new Map();
    /** @type {Map<number, number>} a re-send is only known from its event: kept across updates */
    this.resends = new Map();
    this.ackFor = ackFor;
    this.onAck = onAck;
    this.onChange = onChange;
    this.extraActions = extraActions;
  }

  /**
   * @param {RadioMessage} message
   * @param {{resend?: number}} [options]
   */
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

  /** @param {{message_id: number, pending: string[]}} data */
  acknowledged(data) {
    const message = this.messages.get(data.message_id);
    if (!message) return;
    this.upsert({ ...message, pending: data.pending });
  }

  /** @param {RadioMessage} message */
  escalated(message) {
    this.upsert(message);
  }

  /**
   * Render one message again (what ``extraActions`` shows changed).
   * @param {number} id
   */
  refresh(id) {
    const message = this.messages.get(id);
    if (message) this.upsert(message);
  }

  /** @param {RadioMessage} m */
  mine(m) {
    return Boolean(this.ackFor && m.pending.includes(this.ackFor));
  }

  /**
   * @param {RadioMessage} m
   * @param {number} resend
   */
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
        dataset: { message: String(m.id), pending: m.pending.join(","), priority: m.priority },
      },
      h("div", { class: "radio-head" },
        h("span", { class: "radio-priority", text: label("radio_priority", m.priority) }),
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

/**
 * An alert card: place, description, people, conditions, status — never anything about cameras.
 * @param {Alert} alert
 * @param {HTMLElement[]} [actions]
 */
export function alertCard(alert, actions = []) {
  const place = `${alert.address ? `${alert.address}, ` : ""}${alert.commune_name}`;
  return h(
    "li",
    { class: `alert-card status-${alert.status}${alert.escalated_at ? " escalated" : ""}`,
      dataset: { alert: String(alert.id), status: alert.status, reference: alert.reference } },
    h("div", { class: "alert-head" },
      h("strong", { class: "alert-ref", text: alert.reference }),
      timeElement(alert.raised_at),
      h("span", { class: `alert-status status-${alert.status}`, text: label("alert_status", alert.status) }),
      alert.escalated_at && alert.status !== "closed"
        ? h("span", { class: "escalation", text: "Escaladée" }) : null),
    h("p", { class: "alert-place", text: place }),
    h("p", { class: "alert-description", text: alert.description }),
    h("p", { class: "alert-meta", text: [
      `${alert.people} personne${alert.people > 1 ? "s" : ""}`,
      ...alert.conditions.map((c) => label("alert_condition", c)),
      alert.unit ? `Unité : ${alert.unit}` : null,
      alert.outcome ? `Issue : ${label("alert_outcome", alert.outcome)}` : null,
    ].filter(Boolean).join(" · ") }),
    actions.length ? h("div", { class: "alert-actions" }, ...actions) : null,
  );
}

/**
 * A unit in a list: its callsign (cut with an ellipsis, whole in the title) and its status.
 * @param {Unit} unit
 * @param {HTMLElement} [row]
 */
export function unitRow(unit, row = h("li", { class: "unit-row" })) {
  const status = label("unit_status", unit.status);
  row.replaceChildren(
    h("span", { class: "unit-callsign", title: unit.callsign, text: unit.callsign }),
    h("span", { class: `unit-status status-${unit.status}`, text: status }));
  Object.assign(row.dataset, { unit: String(unit.id), status: unit.status, callsign: unit.callsign });
  return row;
}
