// @ts-check
/**
 * The centre's technical alarms on the console's header: cameras no recorder holds, the
 * recordings' object store down, recorder or video nodes lost. The state at load is written by
 * the server as the frames of the events that announced it (json_script "tech-alarms-data"), then the
 * live events add and clear alarms with the same code: camera.unrecorded / camera.recorded,
 * storage.unavailable / storage.available, node.lost / node.joined.
 * When the page may have missed events (its stream resynchronised or reconnected), reload()
 * replaces the state with the alarms in force now (GET /api/alarms/, the same frames).
 * The sentences come from the server, in French (json_script "alarm-texts").
 */

import { h, readJson } from "./lib/dom.js";
import { api } from "./lib/http.js";

const SHOWN_CAMERAS = 3; // the strip names a few; the tooltip lists them all

/** @typedef {{type: string, data: any}} AlarmFrame */

/**
 * @param {string} template
 * @param {Record<string, string | number>} values
 */
function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (whole, key) => (key in values ? String(values[key]) : whole));
}

/** "2026-12-07T03:12:00+01:00" → "03:12": the hub writes local times, the browser's zone plays no part. */
function hhmm(/** @type {string} */ iso) {
  return iso.slice(11, 16);
}

/** @param {HTMLElement} root */
export function techAlarms(root) {
  /** @type {Record<string, string>} */
  const texts = readJson("alarm-texts");
  /** @type {Map<string, string>} camera code → since */
  const unrecorded = new Map();
  /** @type {Map<string, string>} node name → role */
  const lostNodes = new Map();
  /** @type {{since: string, pending: number} | null} */
  let storage = null;

  /** @type {AlarmFrame[] | null} the live events heard while a reload is on its way */
  let heard = null;
  let reloads = 0;
  /** @type {string | null} what the strip shows, as text */
  let lastShown = null;

  function clear() {
    unrecorded.clear();
    lostNodes.clear();
    storage = null;
  }

  /** @param {AlarmFrame} frame @returns {boolean} whether the frame concerns the strip */
  function apply(frame) {
    const data = frame.data || {};
    switch (frame.type) {
      case "camera.unrecorded":
        if (data.role === "record") unrecorded.set(data.camera.code, data.since);
        return true;
      case "camera.recorded":
        unrecorded.delete(data.camera.code);
        return true;
      case "storage.unavailable":
        storage = { since: data.since, pending: data.pending };
        return true;
      case "storage.available":
        storage = null;
        return true;
      case "node.lost":
        lostNodes.set(data.node.name, data.node.role);
        return true;
      case "node.joined":
      case "node.left":
        lostNodes.delete(data.node.name);
        return true;
      default:
        return false;
    }
  }

  function render() {
    /** @type {HTMLElement[]} */
    const items = [];
    if (unrecorded.size) {
      const codes = [...unrecorded.keys()].sort();
      const shown = codes.slice(0, SHOWN_CAMERAS).join(", ") + (codes.length > SHOWN_CAMERAS ? ", …" : "");
      const text = codes.length === 1
        ? fill(texts.unrecorded_one, { cameras: shown })
        : fill(texts.unrecorded_many, { count: codes.length, cameras: shown });
      items.push(h("li", { class: "tech-alarm", dataset: { alarm: "unrecorded" }, title: codes.join(", "), text }));
    }
    if (storage) {
      const text = storage.pending > 0
        ? fill(texts.storage_pending, { time: hhmm(storage.since), pending: storage.pending })
        : fill(texts.storage, { time: hhmm(storage.since) });
      items.push(h("li", { class: "tech-alarm", dataset: { alarm: "storage" }, text }));
    }
    for (const [name, role] of [...lostNodes].sort()) {
      const template = role === "video" ? texts.node_lost_video : texts.node_lost_record;
      items.push(h("li", { class: "tech-alarm", dataset: { alarm: "node", node: name }, text: fill(template, { name }) }));
    }
    // The strip is read aloud (aria-live): an alarm unchanged by a reload is not announced again.
    const shown = items.map((item) => `${item.title}\n${item.textContent}`).join("\n\n");
    if (shown === lastShown) return;
    lastShown = shown;
    root.replaceChildren(...items);
    root.hidden = items.length === 0;
  }

  /** @type {AlarmFrame[]} */
  const initial = readJson("tech-alarms-data");
  for (const frame of initial) apply(frame);
  render();

  /**
   * The alarms in force now, in place of what the strip shows (an alarm raised or cleared while
   * the stream was down is right again). The events heard meanwhile are applied again on top:
   * each sets or clears one alarm, so one the answer already counted changes nothing, and one
   * it did not is kept. A failed call keeps the strip as it was.
   */
  async function reload() {
    const mine = ++reloads;
    heard = [];
    try {
      /** @type {AlarmFrame[]} */
      const frames = await api(root.dataset.url || "/api/alarms/");
      if (mine !== reloads) return; // a later reload answers for the strip
      const meanwhile = heard;
      clear();
      for (const frame of frames) apply(frame);
      const counted = storage;
      for (const frame of meanwhile) {
        // The answer's count of waiting segments is the newer: an event heard during the call
        // tells the count when the outage began.
        if (frame.type === "storage.unavailable" && counted && counted.since === frame.data.since) continue;
        apply(frame);
      }
      render();
    } catch (err) {
      console.warn("tech-alarms:", err);
    } finally {
      if (mine === reloads) heard = null;
    }
  }

  return {
    /** @param {AlarmFrame} frame */
    onEvent(frame) {
      if (heard) heard.push(frame);
      if (apply(frame)) render();
    },
    reload,
  };
}
