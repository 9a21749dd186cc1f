// @ts-check
/*
 * Captures (snapshots) seen in the main courante: a journal line that announced a capture
 * shows a thumbnail of the picture as it is stored (masked, name and time burned in); a
 * click opens it whole in a dialog that Échap, the "Fermer" button or a click beside the
 * picture closes.
 *
 *   const captures = captureGallery({ url: "/api/streaming/snapshots/" });
 *   new JournalView(list, labels, { decorate: captures.decorate });
 *   captures.open(incidentId, () => journal.render());   // loads the incident's captures
 *   captures.onEvent(frame);                             // a new capture line: load again
 */
import { PARIS, h } from "./lib/dom.js";
import { api } from "./lib/http.js";

const when = new Intl.DateTimeFormat("fr-FR", { timeZone: PARIS, dateStyle: "short", timeStyle: "medium" });

/**
 * A capture as the API gives it (GET /api/streaming/snapshots/?incident=).
 * @typedef {{id: number, url: string, camera_code: string, taken_at: string, created_by: string,
 *   sha256: string, journal_entry: number | null}} Snapshot
 */

/** @type {(HTMLDialogElement & {parts: {image: HTMLImageElement, caption: HTMLElement}}) | null} */
let dialog = null;

function lightbox() {
  if (dialog) return dialog;
  const image = h("img", { class: "capture-full", alt: "" });
  const caption = h("figcaption", { class: "capture-caption" });
  const close = h("button", { type: "button", class: "secondary compact capture-close", text: "Fermer" });
  dialog = Object.assign(h("dialog", { class: "capture-dialog", "aria-label": "Capture d'image" },
    h("figure", {}, image, caption), close), { parts: { image, caption } });
  close.addEventListener("click", () => dialog.close());
  // A click on the backdrop (outside the picture and its caption) closes it too.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  // Échap closes the dialog (the browser does it); it must not also close the console's panel.
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Escape") event.stopPropagation();
  });
  document.body.append(dialog);
  return dialog;
}

/** @param {Snapshot} snapshot */
function show(snapshot) {
  const box = lightbox();
  box.parts.image.src = snapshot.url;
  box.parts.image.alt = `Capture de la caméra ${snapshot.camera_code}, image du ${when.format(new Date(snapshot.taken_at))}`;
  box.parts.caption.textContent = `${snapshot.camera_code} · image du ${when.format(new Date(snapshot.taken_at))}`
    + ` · capture par ${snapshot.created_by} · SHA-256 ${snapshot.sha256}`;
  box.showModal();
}

/** @param {{url: string}} options */
export function captureGallery({ url }) {
  /** @type {number | null} */
  let incidentId = null;
  /** @type {Map<number, Snapshot>} journal entry id → its capture */
  let byEntry = new Map();
  /** @type {() => void} */
  let changed = () => {};
  let seq = 0;

  async function load() {
    if (incidentId === null) return;
    const id = incidentId;
    const mine = ++seq;
    try {
      /** @type {Snapshot[]} */
      const list = await api(`${url}?incident=${id}`);
      if (id !== incidentId || mine !== seq) return;
      byEntry = new Map(list.filter((s) => s.journal_entry).map((s) => [s.journal_entry, s]));
      changed();
    } catch {
      /* the line keeps its text; the next capture or reload brings the pictures */
    }
  }

  /**
   * @param {number} id
   * @param {() => void} onChange the captures changed: draw the journal again
   */
  function open(id, onChange) {
    incidentId = id;
    byEntry = new Map();
    changed = onChange;
    load();
  }

  function close() {
    incidentId = null;
    byEntry = new Map();
  }

  /** @param {import("./lib/incidents.js").JournalEntry} entry */
  function decorate(entry) {
    const snapshot = byEntry.get(entry.id);
    if (!snapshot) return null;
    const label = `Agrandir la capture de ${snapshot.camera_code} (image du ${when.format(new Date(snapshot.taken_at))})`;
    return h("button", { type: "button", class: "capture-thumb", "aria-label": label, title: label,
      on: { click: () => show(snapshot) } },
    h("img", { src: snapshot.url, alt: `Capture de ${snapshot.camera_code}`, loading: "lazy", width: "192", height: "108" }));
  }

  /** @param {import("./lib/events.js").EventFrame} frame */
  function onEvent(frame) {
    if (frame.type === "journal.appended" && frame.data.entry.kind === "camera" && frame.data.incident_id === incidentId) load();
  }

  return { open, close, decorate, onEvent, reload: load };
}
